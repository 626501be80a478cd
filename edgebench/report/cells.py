"""Display cells and number formats shared by the report's Markdown and HTML views:
values shown with units and sensible digits, the numbers underneath never changed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from edgebench.report.tables import BASELINE_VARIANT


@dataclass
class Cell:
    """A display cell; ``cls`` is a CSS class (ok, bad, warn, noop, best, pareto)."""

    text: str
    cls: str = ""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    table_id: str = ""
    caption: str = ""


@dataclass
class Section:
    title: str
    anchor: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    bullets: list[Cell] = field(default_factory=list)
    plot_key: str = ""  # which SVG plot html puts here ('latency', 'pareto', 'history')
    plot_arg: str = ""


def _isnum(v: Any) -> bool:
    try:
        return v is not None and not math.isnan(float(v))
    except (TypeError, ValueError):
        return False


def fmt_seconds(v: Any) -> str:
    if not _isnum(v):
        return "–"
    s = float(v)
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def fmt_pm(centre: Any, low: Any, high: Any) -> str:
    """`` ±0.3 %``: half the 99 % interval's width relative to the estimate, or ''."""
    if not (_isnum(centre) and _isnum(low) and _isnum(high)) or not float(centre):
        return ""
    return f" ±{(float(high) - float(low)) / 2 / float(centre) * 100:.2g} %"


def fmt_p50(row: Any) -> str:
    """A job row's p50 with its precision: ``14.1 µs ±0.3 %``."""
    return fmt_seconds(row["latency_p50_s"]) + fmt_pm(
        row["latency_p50_s"], row.get("latency_p50_ci_low_s"), row.get("latency_p50_ci_high_s"))


def fmt_bytes(v: Any) -> str:
    if not _isnum(v):
        return "–"
    b = float(v)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b:.0f} B"


def fmt_ratio(v: Any) -> str:
    return f"{float(v):.3g}×" if _isnum(v) else "–"


def fmt_joules(v: Any) -> str:
    if not _isnum(v):
        return "–"
    j = float(v)
    return f"{j:.3g} J" if j >= 1 else f"{j * 1e3:.3g} mJ"


def fmt_accuracy(acc: Any, change_pts: Any, controller_acc: Any = None) -> str:
    """The figure used (the device's own when measured there), its change, and -- when the
    device measured its own -- the controller's figure beside it, so a CPU-dependent int8
    difference is visible."""
    if not _isnum(acc):
        return "–" if not _isnum(change_pts) else f"Δ {float(change_pts):+.2f} pts"
    text = f"{float(acc):.2f}%"
    if _isnum(change_pts):
        text += f" ({float(change_pts):+.2f})"
    if _isnum(controller_acc) and float(controller_acc) != float(acc):
        text += f" [controller {float(controller_acc):.2f}%]"
    return text


def variant_order(variants: list[str]) -> list[str]:
    """fp32 first (it is the baseline), the rest in first-seen order."""
    uniq = list(dict.fromkeys(variants))
    return ([BASELINE_VARIANT] if BASELINE_VARIANT in uniq else []) + [
        v for v in uniq if v != BASELINE_VARIANT]
