"""One unit system for every figure a person reads, on the terminal and in the report.

The stored figures are SI base units with the unit in the name (``latency_p50_s``,
``peak_rss_bytes``, ``energy_per_inference_j``); only their display is chosen here, the
same way everywhere (progress lines, the end-of-run table, ``compress``, ``devices``,
``profile``, and the Markdown/HTML report and site):

* time: ``s``, ``ms``, ``µs`` (micro sign) -- the largest unit in which the value is >= 1;
* size: decimal (SI) bytes ``B``, ``kB``, ``MB``, ``GB``, ``TB`` (1 kB = 1000 B, as disks,
  networks and the store's figures count), never KiB/MiB;
* energy: ``J``, ``mJ``; power ``W``;
* ratios: ``1.23×``; relative precision: `` ±0.3 %``.

Report cells show 3 significant digits (a measured figure has no more); the terminal's
columns use fixed decimals (``precise=True``) so digits line up from row to row.  A value
that was not measured shows as :data:`MISSING` (the terminal passes ``missing="-"``).
"""

from __future__ import annotations

import math
from typing import Any, Optional

MISSING = "–"

_TIME_UNITS = ((1.0, 1.0, "s"), (1e-3, 1e3, "ms"))
#: Fixed decimals per unit on the terminal: 0.1 µs below 1 ms, 1 µs up to 1 s, then 1 ms.
_PRECISE_DECIMALS = {"s": 3, "ms": 3, "µs": 1}
_BYTE_UNITS = (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3))


def is_number(v: Any) -> bool:
    """A value that can be shown as a number (not None, '', text or NaN)."""
    try:
        return v is not None and not math.isnan(float(v))
    except (TypeError, ValueError):
        return False


def as_number(v: Any) -> Optional[float]:
    """The value as a float, or None where it is not one (None, '', text, NaN): a summary
    cell read back from summary.csv, the store or a record may be any of these."""
    return float(v) if is_number(v) else None


def seconds_unit(seconds: float) -> tuple[float, str]:
    """``(factor, unit)`` to show ``seconds`` in: ``(1e3, 'ms')`` for 0.0123."""
    for threshold, factor, unit in _TIME_UNITS:
        if abs(seconds) >= threshold:
            return factor, unit
    return 1e6, "µs"


def fmt_seconds(v: Any, *, precise: bool = False, missing: str = MISSING) -> str:
    """``14.1 µs``, ``2.35 ms``, ``1.2 s``; ``precise``: fixed decimals (``8.400 ms``)."""
    if not is_number(v):
        return missing
    s = float(v)
    factor, unit = seconds_unit(s)
    if precise:
        return f"{s * factor:.{_PRECISE_DECIMALS[unit]}f} {unit}"
    return f"{s * factor:.3g} {unit}"


def fmt_signed_seconds(v: float, *, precise: bool = True) -> str:
    """A difference: ``+12.3 µs`` / ``-1.500 ms``."""
    return ("+" if v >= 0 else "-") + fmt_seconds(abs(v), precise=precise)


def fmt_bytes(v: Any, *, missing: str = MISSING) -> str:
    """``512 B``, ``12.3 kB``, ``4.57 MB``: decimal units, 3 significant digits."""
    if not is_number(v):
        return missing
    b = float(v)
    for unit, scale in _BYTE_UNITS:
        if abs(b) >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b:.0f} B"


def bytes_in(v: Any, unit: str, *, missing: str = MISSING) -> str:
    """``v`` bytes as a number of ``unit`` (``kB``, ``MB``...) with one decimal, for a
    table column whose header names the unit."""
    if not is_number(v):
        return missing
    scale = dict(_BYTE_UNITS + (("B", 1.0),))[unit]
    return f"{float(v) / scale:.1f}"


def fmt_joules(v: Any, *, missing: str = MISSING) -> str:
    if not is_number(v):
        return missing
    j = float(v)
    return f"{j:.3g} J" if j >= 1 else f"{j * 1e3:.3g} mJ"


def fmt_ratio(v: Any, *, missing: str = MISSING) -> str:
    return f"{float(v):.3g}×" if is_number(v) else missing


def fmt_pm(centre: Any, low: Any, high: Any) -> str:
    """`` ±0.3 %``: half the 99 % interval's width relative to the estimate, or ''."""
    if not (is_number(centre) and is_number(low) and is_number(high)) or not float(centre):
        return ""
    return f" ±{(float(high) - float(low)) / 2 / float(centre) * 100:.2g} %"


def terminal_seconds(v: Any) -> str:
    """Seconds as the terminal shows them: fixed decimals, ``-`` when not measured."""
    return fmt_seconds(v, precise=True, missing="-")
