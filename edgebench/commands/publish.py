"""``edgebench publish --site DIR``: a static site of every stored run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgebench.cliargs import latency_factor
from edgebench.quality import LATENCY_FACTOR
from edgebench.report.cli import add_store_args

HELP = """\
Write index.html (latest run of each suite and its regressions), runs/<run>.html (full
report per run) and history/<model>.html (p50 over runs per variant and device).  Plain
HTML + inline SVG, no scripts, no network: open it from file:// or any static host.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("publish", help="write a static results site", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--site", metavar="DIR", required=True, help="site folder to write")
    p.add_argument("--factor", type=latency_factor, default=LATENCY_FACTOR,
                   help=f"regression factor (default {LATENCY_FACTOR:g})")
    add_store_args(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from edgebench.report.site import publish
    from edgebench.results.journal import ensure_output_dir
    from edgebench.store import require_existing

    store = require_existing(args.store, Path(args.results))  # a lookup creates no database
    try:
        ensure_output_dir(Path(args.site), "--site")
        paths = publish(store, Path(args.site), factor=args.factor)
    finally:
        store.close()
    print(f"wrote {len(paths)} file(s); open {Path(args.site) / 'index.html'}")
    return 0
