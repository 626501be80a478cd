"""``edgebench compare RUN_A RUN_B``: what changed between two runs, and is it real."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edgebench.cliargs import accuracy_points, latency_factor
from edgebench.quality import LATENCY_FACTOR, MAX_ACCURACY_DROP_PTS
from edgebench.report.cli import add_store_args, console

HELP = """\
Ratio B/A of a latency metric per (model, variant, format, device).  A change counts only
when it exceeds --factor AND is significant (Mann-Whitney U on the raw samples, p < 0.002;
non-overlapping confidence intervals when samples are missing).  Accuracy moves beyond
--accuracy-threshold points count too; a job ok in A and failed in B is a regression.
Pairs measured in different environments are listed with what differs, not compared,
unless --force.  Exit 0 no regression, 1 regressions.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("compare", help="compare two runs", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_a", metavar="RUN_A", help="baseline run id")
    p.add_argument("run_b", metavar="RUN_B", help="run id to judge")
    p.add_argument("--metric", choices=("p50", "mean", "p90"), default="p50")
    p.add_argument("--factor", type=latency_factor, default=LATENCY_FACTOR,
                   help="minimum ratio to count (default 1.1 = 10%%)")
    p.add_argument("--accuracy-threshold", type=accuracy_points, default=MAX_ACCURACY_DROP_PTS, metavar="POINTS",
                   help="accuracy change in points that counts (default 1)")
    p.add_argument("--force", action="store_true",
                   help="compare pairs whose environment fingerprints differ")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    add_store_args(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from edgebench.report.compare import compare_runs, render
    from edgebench.store import require_existing

    store = require_existing(args.store, Path(args.results))  # a lookup creates no database
    try:
        cmp = compare_runs(store, args.run_a, args.run_b, metric=args.metric,
                           factor=args.factor, force=args.force,
                           accuracy_threshold_pts=args.accuracy_threshold)
    finally:
        store.close()
    if args.json:
        print(json.dumps(cmp.to_dict(), indent=1, default=str))
    else:
        render(cmp, console())
    return 1 if cmp.regressions else 0
