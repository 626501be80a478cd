"""``edgebench compress SUITE``: build a suite's variants without benchmarking them.

Prints one row per (model, format, variant) with what was measured on the built file:
size and its ratio to fp32, params, MACs, accuracy and its change, fidelity to fp32
(top-1 agreement / cosine), and NOOP in red when a step changed nothing.  Exit code 1
when any variant failed to build (the row says why), 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Optional

HELP = """\
Build every variant of SUITE (cached by source hash + recipe + toolchain versions) and
show size, params, MACs, accuracy and fidelity to fp32 per variant.  Variants whose
quantize/prune step changed nothing are marked NOOP.  Nothing runs on devices.
"""


def default_cache_dir() -> Path:
    return Path(os.environ.get("EDGEBENCH_CACHE", "~/.cache/edgebench")).expanduser()


def add_parser(sub: Any) -> None:
    p = sub.add_parser("compress", help="build a suite's compressed variants (no benchmark)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", metavar="SUITE", help="suite YAML file")
    p.add_argument("--model", action="append", metavar="NAME",
                   help="only this model (repeatable)")
    p.add_argument("--cache", metavar="DIR", help="variant cache folder the variants are built "
                   "into (default: $EDGEBENCH_CACHE or ~/.cache/edgebench)")
    p.add_argument("--no-cache", action="store_true", help="rebuild even if cached")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from edgebench.config import load_suite
    from edgebench.textsafe import printable
    from edgebench.variants import build_variants, check_model_names

    suite = load_suite(args.suite)
    check_model_names(suite, args.model)
    console = Console(stderr=True, soft_wrap=True)
    cache = Path(args.cache).expanduser() if args.cache else default_cache_dir()
    artifacts = build_variants(suite, cache_dir=cache, no_cache=args.no_cache,
                               only_models=args.model,
                               progress=lambda msg: console.print(f"[dim]{escape(printable(msg))}[/dim]"))
    out = Console() if sys.stdout.isatty() else Console(width=200, soft_wrap=True)
    out.print(render_table(artifacts, title=f"{suite.name}: variants in {cache}"))
    failed = [a for a in artifacts if a.error]
    noops = [a for a in artifacts if not a.error and a.manifest.get("noop")]
    for a in noops:
        console.print("[bold red]NOOP[/] " + escape(printable(f"{a.model}/{a.variant} [{a.format}]: "
                                                              f"{a.manifest.get('noop_reason')}")))
    for a in artifacts:
        warnings = [] if a.error else (a.manifest or {}).get("warnings") or []
        for text in warnings:
            if text.startswith("QUALITY LOSS"):
                console.print("[bold red]LOSS[/] " + escape(printable(f"{a.model}/{a.variant} [{a.format}]: {text}")))
    for a in failed:
        console.print("[bold red]FAILED[/] " + escape(printable(f"{a.model}/{a.variant} [{a.format}]: {a.error}")))
    return 1 if failed else 0


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render_table(artifacts: list[Any], *, title: str = "") -> Any:
    """A rich Table of measured figures; fp32 of the same model and format is the reference."""
    from rich.markup import escape
    from rich.table import Table

    from edgebench.textsafe import plain, printable
    from edgebench.units import fmt_bytes

    base = {(a.model, a.format): a.manifest for a in artifacts
            if a.variant == "fp32" and not a.error}
    table = Table(title=title)
    for col in ("model", "variant", "format", "size", "×fp32", "params", "MACs", "accuracy",
                "Δ pts", "top-1 agr", "cosine", "noop"):
        table.add_column(col, justify="left" if col in ("model", "variant", "format", "noop") else "right")
    for a in artifacts:
        if a.error:
            table.add_row(plain(a.model), plain(a.variant), plain(a.format), "[red]failed[/]", "", "", "",
                          "", "", "", "", f"[red]{escape(printable(a.error[:80]))}[/]")
            continue
        m, b = a.manifest, base.get((a.model, a.format))
        ratio = m["size_bytes"] / b["size_bytes"] if b else None
        delta = m.get("accuracy_delta")
        table.add_row(
            plain(a.model), plain(a.variant), plain(a.format), fmt_bytes(m["size_bytes"]), _fmt(ratio, ".3f"),
            f"{m['params']:,}", "-" if m.get("macs") is None else f"{m['macs']:,}",
            _fmt(m.get("accuracy"), ".2f"),
            "-" if delta is None else (f"[red]{delta:+.2f}[/]" if delta < -1 else f"{delta:+.2f}"),
            _fmt(m.get("top1_agreement"), ".3f"), _fmt(m.get("cosine"), ".4f"),
            "[bold red]NOOP[/]" if m.get("noop") else "")
    return table
