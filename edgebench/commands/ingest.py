"""``edgebench ingest DIR...``: load run directories into the results store (idempotent)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgebench.report.cli import add_store_args, open_from_args

HELP = """\
Load results/<run_id>/ directories (results.jsonl + run.json) into the store.  Safe to
repeat: a job already stored is replaced, never duplicated.  A DIR holding run directories
(e.g. results/) ingests each of them.  A truncated last journal line (controller killed
mid-write) is reported and skipped.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("ingest", help="load run directories into the results store",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directory, or a folder of them")
    add_store_args(p)
    p.set_defaults(func=handle)


def _run_dirs(path: Path) -> list[Path]:
    if (path / "results.jsonl").exists() or (path / "run.json").exists():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_dir() and (p / "run.json").exists())


def handle(args: argparse.Namespace) -> int:
    """Check every DIR first, then open (or create) the store and load them.

    Checking first means ``ingest nosuchdir`` creates no database, and a bad DIR is
    found before half of the others were loaded.
    """
    from edgebench.errors import UsageError

    plan: list[Path] = []
    for arg in args.dirs:
        path = Path(arg)
        if not path.is_dir():
            raise UsageError(f"{path} is not a directory")
        dirs = _run_dirs(path)
        if not dirs:
            raise UsageError(f"{path} holds no run directory (no run.json / results.jsonl)")
        plan += dirs
    store = open_from_args(args)
    total_new = 0
    try:
        for run_dir in plan:
            counts = store.ingest_dir(run_dir)
            total_new += counts.new
            print(f"{counts.run_id}: {counts.records} job(s), {counts.new} new, "
                  f"{counts.replaced} already stored")
            for lineno, why in counts.bad_lines:
                print(f"warning: {run_dir / 'results.jsonl'} line {lineno}: {why}",
                      file=sys.stderr)
    finally:
        store.close()
    print(f"store {store.shown_url}: {total_new} new job(s)")
    return 0
