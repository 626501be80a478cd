"""When a compressed variant counts as worse than fp32: one set of rules for the three
places that say so -- the variant manifest (``compress``), the end of a run (``run_table``) and
the published report -- so a variant cannot be loud in one and quiet in another.

Stdlib only: imported by the end-of-run table (run_table.py), which must stay light.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

#: A latency's 99 % confidence interval (low, high) in seconds; None where not measured.
Interval = Optional[Tuple[float, float]]

#: Accuracy budget in points: the report's recommendation uses the same figure.
MAX_ACCURACY_DROP_PTS = 1.0
#: Without labels, fidelity below this warns (MiniLM's static int8 fell to 0.43 and still
#: "succeeded"; its per-tensor dynamic int8, 0.9646, is flagged too).
MIN_COSINE = 0.99
#: A latency change inside this factor is noise (also the default regression factor of
#: ``edgebench compare`` / ``nightly``); beyond it, a compressed variant is "slower".
LATENCY_FACTOR = 1.1


def accuracy_lost(delta_pts: Optional[float], budget_pts: float = MAX_ACCURACY_DROP_PTS) -> bool:
    return delta_pts is not None and delta_pts < -budget_pts


#: Without labels and with one value per sample (a score, a regression value) cosine is
#: always +-1, so the error relative to fp32's largest value judges: beyond 5 % warns.
MAX_RELATIVE_ERROR = 0.05


def fidelity_lost(accuracy: Optional[float], cosine: Optional[float],
                  relative_error: Optional[float] = None) -> bool:
    """Only where there is no accuracy: with labels, accuracy is the truth.  ``cosine``
    judges outputs with several values per sample, ``relative_error`` the one-value ones
    (where the cosine is None)."""
    if accuracy is not None:
        return False
    if cosine is not None:
        return cosine < MIN_COSINE
    return relative_error is not None and relative_error > MAX_RELATIVE_ERROR


def within_fidelity_budget(cosine: Optional[float], relative_error: Optional[float] = None,
                           min_cosine: float = MIN_COSINE) -> bool:
    """May an unlabelled variant be recommended?  Only with a measured fidelity inside the
    budget: an unknown fidelity is not "good enough" (the recommendation needs a figure)."""
    if cosine is not None:
        return cosine >= min_cosine
    return relative_error is not None and relative_error <= MAX_RELATIVE_ERROR


def interval(low: Any, high: Any) -> Interval:
    """``(low, high)`` from two summary cells ('' / None / NaN = not measured)."""
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        return None
    return None if lo != lo or hi != hi else (lo, hi)


def intervals_overlap(a: Interval, b: Interval) -> Optional[bool]:
    """True when two 99 % intervals share a value: the two medians are then a *tie* --
    the measurement cannot tell them apart, whatever their ratio.  None when either
    interval is unknown (results from before intervals were recorded)."""
    if a is None or b is None:
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def slowdown(p50_s: Optional[float], fp32_p50_s: Optional[float],
             factor: float = LATENCY_FACTOR, ci: Interval = None,
             fp32_ci: Interval = None) -> Optional[float]:
    """``p50 / fp32 p50`` when it is beyond ``factor`` and the two p50 intervals do not
    overlap (overlapping intervals are a tie, not a slowdown), else None."""
    if not p50_s or not fp32_p50_s or p50_s <= fp32_p50_s * factor:
        return None
    if intervals_overlap(ci, fp32_ci):
        return None
    return p50_s / fp32_p50_s
