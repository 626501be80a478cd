"""``edgebench run SUITE``: compress, benchmark on every selected device, write the results."""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..cliargs import add_cluster_option

if TYPE_CHECKING:
    from ..results.sink import LiveSink

HELP = """\
Build every variant of the suite's models, run each on every selected device (one job at a
time per device, devices in parallel) and write results/<run_id>/: results.jsonl (journal,
one line per finished job), summary.csv, report.md and run.json.  Exit 0 when every job is
ok, 1 when some job failed or was skipped, 2 for configuration errors.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="benchmark a suite on its devices", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", help="suite YAML file, e.g. suites/quickstart.yaml")
    p.add_argument("--devices", metavar="FILE", help="device registry (default: ./devices.yaml "
                   "if present; the built-in 'local' device always exists)")
    p.add_argument("--device", metavar="NAME", action="append", dest="device_names",
                   help="run only on this device or tag (repeatable); overrides the suite")
    p.add_argument("--model", action="append", metavar="NAME", dest="models",
                   help="only this model of the suite (repeatable)")
    p.add_argument("--out", "--results", metavar="DIR", dest="out", default="results",
                   help="results root (default: results; --results is the same)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue a run: redo only jobs not 'ok'")
    p.add_argument("--no-cache", action="store_true", help="rebuild every variant")
    add_cluster_option(p)
    p.add_argument("--store", metavar="URL", help="results database (default: sqlite at "
                   "OUT/edgebench.db; any SQLAlchemy URL)")
    p.add_argument("--no-store", action="store_true", help="do not ingest into the database")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the toolchains' own output (TensorFlow, ONNX Runtime, LiteRT) on "
                        "the terminal instead of RUN_DIR/toolchain.log")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the suite; Ctrl-C at any moment ends it within about a second with exit 130,
    the bookkeeping written and the exact command that resumes it printed (SIGTERM the
    same, with exit 143).

    SIGINT is taken over first thing, whatever the process inherited: a run started with
    SIGINT ignored (a background job of a script) must stop on ``kill -INT`` all the same.
    While the run works, the toolchains' own output goes to RUN_DIR/toolchain.log; every
    line of edgebench's own is printed to the terminal (progress through the capture's
    terminal stream, the rest after the capture has ended).
    """
    from ..interrupt import RunInterrupted, StopOnSigint, run_stage

    stop = threading.Event()
    with StopOnSigint(stop, also_sigterm=True) as signals:
        from ..progress import ConsoleProgress
        from ..run import mark_interrupted, run_suite
        from ..run_table import print_run_summary
        from ..textsafe import printable
        from ..toolchain_log import ToolchainCapture

        progress = ConsoleProgress(quiet=args.quiet)
        sink = open_store_sink(args, _warn(progress))  # exit 2 here, before any job, if unusable
        ingested = True
        interrupted: "tuple[str, Path] | None" = None
        with ToolchainCapture(Path(args.out), enabled=not args.verbose) as capture:
            progress.stream, progress.on_run_dir = capture.terminal, capture.place
            try:
                outcome = run_suite(args.suite, devices_path=args.devices,
                                    device_names=args.device_names, out_dir=Path(args.out),
                                    resume=args.resume, no_cache=args.no_cache, models=args.models,
                                    on_record=sink, progress=progress, stop=stop,
                                    cluster=args.cluster)
                if sink is not None and not stop.is_set():
                    # the journal is the source of truth: a Ctrl-C need not wait for the store
                    ingested = run_stage("store", lambda: sink.finish(outcome.run_dir), stop).done
            except RunInterrupted as exc:
                interrupted = (exc.run_id, exc.run_dir)
            finally:
                if sink is not None and ingested:  # an ingest left running keeps its store
                    sink.close()
            if interrupted is None and stop.is_set():  # the store ingest was cut short
                mark_interrupted(outcome.run_dir)
                interrupted = (outcome.run_id, outcome.run_dir)
        if interrupted is not None:
            _say_interrupted(args, *interrupted)
            return signals.exit_code
        print_run_summary(outcome, stream=sys.stdout)
        for device in outcome.devices:  # a lost device's reason (a changed host key's two
            if device.error:            # fingerprints) also goes to stderr, for cron mail
                print(f"edgebench: device '{printable(device.name)}' failed: "
                      f"{printable(device.error)}", file=sys.stderr)
        if stop.is_set():  # everything was written: only the table was cut short
            print("edgebench: interrupted after the run had finished", file=sys.stderr)
            return signals.exit_code
        return outcome.exit_code


def resume_command(args: argparse.Namespace, run_id: str) -> str:
    """The ``edgebench run`` command line that continues ``run_id``: the suite as given, and
    the options that say where the run and its devices are (--out, --devices, --device,
    the store); ``--model`` is not needed, a resumed run keeps its own selection.  A store
    URL's password is shown as ``***``: the line lands in terminals and CI logs."""
    cmd = ["edgebench", "run", args.suite, "--resume", run_id]
    if Path(args.out) != Path("results"):
        cmd += ["--out", args.out]
    if args.devices:
        cmd += ["--devices", args.devices]
    for name in args.device_names or []:
        cmd += ["--device", name]
    if getattr(args, "cluster", None):
        cmd += ["--cluster", args.cluster]
    if args.no_store:
        cmd.append("--no-store")
    elif args.store:
        cmd += ["--store", _without_password(args.store)]
    return shlex.join(cmd)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _say_interrupted(args: argparse.Namespace, run_id: str, run_dir: Path) -> None:
    print(f"edgebench: interrupted: run {run_id} stopped; jobs in flight were killed, finished "
          f"jobs are saved in {run_dir}\n"
          f"edgebench: continue with: {resume_command(args, run_id)}", file=sys.stderr, flush=True)


def _warn(progress: Any) -> Any:
    """Warnings go to stderr even with --quiet: a store that stopped taking results matters."""
    def warn(text: str) -> None:
        if progress.quiet:
            print(text, file=progress.stream, flush=True)
        else:
            progress.message(text)
    return warn


def open_store_sink(args: argparse.Namespace, warn: Any) -> "LiveSink | None":
    """Check the configuration, ``--resume``, ``--out`` and the store before any job runs.

    A store that cannot be opened (driver not installed, malformed URL, unwritable
    folder, server down) used to surface at the first finished job, inside a device's
    thread, and kill it: one job journaled, the rest never run.  Found here it is one
    exit-2 line naming the URL (password masked).  Once open, the store is only a
    follower: see :class:`~edgebench.results.sink.LiveSink`.

    The suite and devices are loaded first (``run_suite`` loads them again: cheap), so
    that a bad suite is still reported as itself and leaves no database behind.
    """
    from edgebench.results.journal import RunDir, ensure_output_dir, validate_run_id

    from ..config import load_devices, load_suite, select_devices
    from ..results.sink import LiveSink
    from ..variants import check_model_names

    if args.resume is not None:
        validate_run_id(args.resume)  # a run id is a folder name under --out, never a path
    suite = load_suite(args.suite)
    check_model_names(suite, args.models)
    devices = select_devices(suite, load_devices(args.devices), args.device_names)
    if getattr(args, "cluster", None) and args.resume is None:  # a resumed run's devices: run_suite
        from ..cluster.connect import check_cluster

        check_cluster(args.cluster, devices)
    if args.resume is not None:
        RunDir.open(Path(args.out), args.resume)
    sink = None if args.no_store else LiveSink(args.store, Path(args.out), warn).open()
    try:
        ensure_output_dir(Path(args.out), "--out")
    except BaseException:
        if sink is not None:
            sink.close()
        raise
    return sink
