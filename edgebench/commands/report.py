"""``edgebench report RUN_ID``: write a run's report in any format, from the store or its
run directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgebench.cliargs import accuracy_points
from edgebench.quality import MAX_ACCURACY_DROP_PTS
from edgebench.report.cli import add_store_args

HELP = """\
Per model: variants x devices (p50, speedup vs fp32 on the same device and format, size
ratio, accuracy change, peak RSS, energy per inference) with Pareto fronts; a
recommendation per device within an accuracy budget; the compatibility matrix; the
environment; every comparability warning; NOOP variants flagged.  Formats: md, html, csv,
parquet (needs pyarrow), json, pytest-benchmark (readable by 'pytest-benchmark compare').
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="write a run's report", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--format", default="md,html", help="comma list of md, html, csv, parquet, "
                   "json, pytest-benchmark (default: md,html)")
    p.add_argument("--report-dir", metavar="DIR", help="folder the report files are written to "
                   "(default: the run's directory, OUT/RUN_ID)")
    p.add_argument("--objective", choices=("latency", "size"), default="latency",
                   help="what the recommendation minimises (default: latency)")
    p.add_argument("--max-accuracy-drop", type=accuracy_points, default=MAX_ACCURACY_DROP_PTS, metavar="POINTS",
                   help="accuracy budget vs fp32 in percentage points (default: 1)")
    add_store_args(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Report from the store when it holds the run, else from the run directory.

    A lookup: it never creates a store (a missing one just means "read the directory"),
    and checks the output folder before reading anything, so a bad ``--report-dir`` is one
    exit-2 line instead of an OSError after the work.
    """
    from edgebench.report import report_from_dir, report_from_store
    from edgebench.report.formats import parse_formats, write_formats
    from edgebench.results.journal import ensure_output_dir, validate_run_id
    from edgebench.store import open_existing

    formats = parse_formats(args.format)
    results_dir = Path(args.results)
    run_id = validate_run_id(args.run_id)
    run_dir = results_dir / run_id
    if args.report_dir:
        ensure_output_dir(Path(args.report_dir), "--report-dir")
    store = open_existing(args.store, results_dir=results_dir)
    try:
        known = {r.run_id for r in store.runs()} if store is not None else set()
        if store is not None and run_id in known:
            report = report_from_store(store, run_id, objective=args.objective,
                                       max_accuracy_drop_pts=args.max_accuracy_drop)
        elif (run_dir / "run.json").exists() or (run_dir / "results.jsonl").exists():
            report = report_from_dir(run_dir, objective=args.objective,
                                     max_accuracy_drop_pts=args.max_accuracy_drop)
        else:
            _unknown_run(run_id, results_dir, store)
        out = Path(args.report_dir) if args.report_dir else run_dir
        for path in write_formats(report, out, formats):
            print(path)
    finally:
        if store is not None:
            store.close()
    return 0


def _unknown_run(run_id: str, results_dir: Path, store: Any) -> None:
    """UsageError naming where we looked and the latest runs there."""
    from edgebench.errors import UsageError
    from edgebench.results.journal import iter_runs

    if store is not None:
        store.run(run_id)  # raises UsageError listing the latest stored runs
    latest = [p.name for p in iter_runs(results_dir)][-5:] if results_dir.is_dir() else []
    raise UsageError(f"unknown run id {run_id!r}: not in {results_dir} and no results store",
                     hint=f"latest runs: {', '.join(latest) or 'none'}")
