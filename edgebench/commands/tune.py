"""``edgebench tune SUITE``: find the best recipe per device, on the devices, under a budget."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from edgebench.cliargs import add_cluster_option, finite_float

HELP = """\
Build the suite's search space (its `search:` section, or the default for the model's
source kind) on the controller, drop every candidate over the quality budget, then run
successive halving on each device: short measurements for all, longer ones only for those
whose interval can still beat the best, the suite's full stopping rule for the finalists.
Prints per device the winner against fp32 (ties named as ties) and the device time used,
writes RUN_DIR/tune.md, tune.json, pareto-*.svg and SUITE-tuned.yaml (the winners, ready
for `edgebench run`).  Exit 0 when every device has a winner, 1 otherwise, 2 for
configuration errors.  Strategy and outputs: docs/tune.md.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("tune", help="search recipes on the devices; hand back the best per device",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", help="suite YAML file, e.g. suites/quickstart.yaml")
    p.add_argument("--model", action="append", metavar="NAME", dest="models",
                   help="only this model of the suite (repeatable)")
    p.add_argument("--device", action="append", metavar="NAME", dest="device_names",
                   help="tune on this device or tag (repeatable); overrides the suite")
    p.add_argument("--devices", metavar="FILE", help="device registry (default: ./devices.yaml)")
    p.add_argument("--budget", metavar="accuracy:PTS|fidelity:COS",
                   help="quality budget (default: accuracy:1 with labels, else fidelity:0.99)")
    p.add_argument("--objective", default="latency",
                   choices=("latency", "energy", "size", "peak_memory"),
                   help="what the winner minimises (default: latency)")
    p.add_argument("--max-device-s", type=finite_float(0.0, 1e7, above=True), metavar="N",
                   dest="max_device_s",
                   help="start no new rung once N device-seconds are spent")
    p.add_argument("--tuned-suite", metavar="FILE",
                   help="where the tuned suite goes (default: SUITE-tuned.yaml next to SUITE)")
    p.add_argument("--out", "--results", metavar="DIR", dest="out", default="results",
                   help="results root (default: results; --results is the same)")
    p.add_argument("--no-cache", action="store_true", help="rebuild every candidate")
    add_cluster_option(p, "measurements")
    p.add_argument("--store", metavar="URL", help="results database (default: sqlite at "
                   "OUT/edgebench.db)")
    p.add_argument("--no-store", action="store_true", help="do not ingest into the database")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the toolchains' own output instead of RUN_DIR/toolchain.log")
    p.set_defaults(func=handle, resume=None)  # open_store_sink reads it; a tune never resumes


def handle(args: argparse.Namespace) -> int:
    """Tune; Ctrl-C ends it with exit 130, finished measurements journaled."""
    from ..interrupt import RunInterrupted, StopOnSigint
    from ..progress import ConsoleProgress
    from ..toolchain_log import ToolchainCapture
    from ..tuning.tuner import tune
    from .run import open_store_sink

    stop = threading.Event()
    with StopOnSigint(stop):
        progress = ConsoleProgress(quiet=args.quiet, live=False)
        sink = open_store_sink(args, progress.message)
        try:
            with ToolchainCapture(Path(args.out), enabled=not args.verbose) as capture:
                progress.stream = capture.terminal
                outcome = tune(args.suite, devices_path=args.devices,
                               device_names=args.device_names, models=args.models,
                               budget=args.budget, objective=args.objective,
                               max_device_s=args.max_device_s, out_dir=Path(args.out),
                               no_cache=args.no_cache, tuned_suite=args.tuned_suite,
                               on_record=sink, say=progress.message, stop=stop,
                               on_run_dir=capture.place, cluster=args.cluster)
            if sink is not None:
                sink.finish(outcome.run_dir)
        except RunInterrupted as exc:
            print(f"edgebench: interrupted: tuning run {exc.run_id} stopped; finished "
                  f"measurements are saved in {exc.run_dir}", file=sys.stderr)
            return 130
        finally:
            if sink is not None:
                sink.close()
    from ..textsafe import printable

    for line in outcome.lines:
        print(printable(line))
    return outcome.exit_code
