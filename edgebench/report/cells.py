"""Display cells shared by the report's Markdown and HTML views: values shown with units
(edgebench.units, the same as the terminal's) and sensible digits, the numbers underneath
never changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgebench.report.tables import BASELINE_VARIANT
from edgebench.units import fmt_pm, fmt_seconds, is_number


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


def fmt_p50(row: Any) -> str:
    """A job row's p50 with its precision: ``14.1 µs ±0.3 %``."""
    return fmt_seconds(row["latency_p50_s"]) + fmt_pm(
        row["latency_p50_s"], row.get("latency_p50_ci_low_s"), row.get("latency_p50_ci_high_s"))


def fmt_accuracy(acc: Any, change_pts: Any, controller_acc: Any = None) -> str:
    """The figure used (the device's own when measured there), its change, and -- when the
    device measured its own -- the controller's figure beside it, so a CPU-dependent int8
    difference is visible."""
    if not is_number(acc):
        return "–" if not is_number(change_pts) else f"Δ {float(change_pts):+.2f} pts"
    text = f"{float(acc):.2f}%"
    if is_number(change_pts):
        text += f" ({float(change_pts):+.2f})"
    if is_number(controller_acc) and float(controller_acc) != float(acc):
        text += f" [controller {float(controller_acc):.2f}%]"
    return text


def variant_order(variants: list[str]) -> list[str]:
    """fp32 first (it is the baseline), the rest in first-seen order."""
    uniq = list(dict.fromkeys(variants))
    return ([BASELINE_VARIANT] if BASELINE_VARIANT in uniq else []) + [
        v for v in uniq if v != BASELINE_VARIANT]
