"""``edgebench nightly SUITE``: run, store, compare with the last good run, publish."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

from edgebench.cliargs import add_cluster_option, latency_factor
from edgebench.quality import LATENCY_FACTOR
from edgebench.report.cli import console
from edgebench.textsafe import printable

HELP = """\
Run the suite, ingest it into the store, compare it with --baseline (default: the last
complete run of the same suite), write <run_dir>/regressions.json, publish the site
(--site) and exit 0 (no regression), 1 (regressions, listed) or 2 (error).  Meant for cron,
a systemd timer or CI: see docs/history.md.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("nightly", help="run + compare with the baseline + publish",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", metavar="SUITE", help="suite YAML file")
    p.add_argument("--baseline", metavar="RUN_ID", help="compare with this run")
    p.add_argument("--devices", metavar="FILE", help="device registry")
    p.add_argument("--out", "--results", metavar="DIR", dest="out", default="results",
                   help="results root (default: results; --results is the same)")
    p.add_argument("--store", metavar="URL", help="results database (default OUT/edgebench.db)")
    p.add_argument("--site", metavar="DIR", help="publish the static site here")
    add_cluster_option(p)
    p.add_argument("--metric", choices=("p50", "mean", "p90"), default="p50")
    p.add_argument("--factor", type=latency_factor, default=LATENCY_FACTOR)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the toolchains' own output instead of RUN_DIR/toolchain.log")
    p.set_defaults(func=handle, runner=None)


def handle(args: argparse.Namespace) -> int:
    from edgebench.errors import EdgebenchError
    from edgebench.nightly import EXIT_ERROR, run_nightly
    from edgebench.report.compare import render

    try:
        outcome = run_nightly(
            Path(args.suite), baseline=args.baseline,
            devices_path=Path(args.devices) if args.devices else None, out_dir=Path(args.out),
            store=args.store, site_dir=Path(args.site) if args.site else None,
            runner=args.runner, metric=args.metric, factor=args.factor,
            capture_toolchain=not args.verbose, cluster=args.cluster)
    except EdgebenchError as exc:
        print(f"edgebench nightly: error: {printable(exc.one_line())}", file=sys.stderr)
        return EXIT_ERROR
    except Exception:  # noqa: BLE001 - nightly must exit 2, with the trace for the log
        traceback.print_exc()
        return EXIT_ERROR
    out = console()
    if outcome.comparison is not None:
        render(outcome.comparison, out)
    for note in outcome.notes:
        print(f"note: {printable(note)}")
    regs = outcome.comparison.regressions if outcome.comparison else []
    for pair in regs:
        print(f"REGRESSION {printable(pair.message())}")
    print(f"run {outcome.run_id} vs baseline {outcome.baseline_run_id or 'none'}: "
          f"{len(regs)} regression(s); {outcome.regressions_path}")
    if outcome.site_paths:
        print(f"site: {outcome.site_paths[-1]}")
    return outcome.exit_code
