"""Shared bits of the history commands (report, compare, nightly, publish, ingest)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="URL", help="results database: an SQLAlchemy URL or a "
                   "file path (default: sqlite at OUT/edgebench.db)")
    p.add_argument("--out", "--results", metavar="DIR", dest="results", default="results",
                   help="results root holding run directories, as for run (default: results; "
                        "--results is the same)")


def open_from_args(args: argparse.Namespace) -> Any:
    from edgebench.store import Store

    return Store(args.store, results_dir=Path(args.results))


def console() -> Any:
    """A rich console that does not squeeze tables to 80 columns when piped (CI logs)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)
