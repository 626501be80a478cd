"""Options shared by several commands: argparse types for numeric options (finite and in
range, or argparse's usage error, exit 2) and ``--cluster``, declared once for run, nightly
and tune.

``type=float`` accepts ``nan``, ``inf`` and any sign: ``compare --factor nan`` then called a
3.46x slowdown "unchanged" (every comparison with NaN is false) and exited 0, and
``--accuracy-threshold -1`` flagged a run compared with itself.  Every numeric option takes
its type from here, so the range is stated once, next to the option, and shown in the error.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Callable, Optional


def finite_float(minimum: Optional[float] = None, maximum: Optional[float] = None, *,
                 above: bool = False) -> Callable[[str], float]:
    """A float in ``[minimum, maximum]`` (``(minimum, maximum]`` with ``above``), never NaN/inf."""
    low = "" if minimum is None else (f"> {minimum:g}" if above else f">= {minimum:g}")
    high = "" if maximum is None else f"<= {maximum:g}"
    wanted = " and ".join(p for p in (low, high) if p)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a finite number")
        if minimum is not None and (value <= minimum if above else value < minimum):
            raise argparse.ArgumentTypeError(f"{text[:40]!r}: must be {wanted}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{text[:40]!r}: must be {wanted}")
        return value

    parse.__name__ = "number"  # argparse names the type in some messages
    return parse


def int_range(minimum: int, maximum: int) -> Callable[[str], int]:
    """An integer in ``[minimum, maximum]`` (no ``1.5``, no ``1e3``)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{text[:40]!r}: must be from {minimum} to {maximum}")
        return value

    parse.__name__ = "integer"
    return parse


#: ``--factor``: a latency ratio B/A; 1 counts any significant change, below 1 is meaningless.
latency_factor = finite_float(1.0, 1000.0)
#: Accuracy budgets / thresholds in percentage points: 0 to 100.
accuracy_points = finite_float(0.0, 100.0)


def add_cluster_option(parser: Any, what: str = "jobs") -> None:
    """``--cluster ADDRESS``: the same option, help and address forms on every command that
    runs jobs (``edgebench.cluster.connect.resolve_address`` reads it)."""
    parser.add_argument("--cluster", metavar="ADDRESS", help=f"run the {what} on this Ray cluster, "
                        "each device from a node of its lab (ray://HEAD:10001, HOST:6379, or auto "
                        "for $RAY_ADDRESS; docs/scaling.md)")
