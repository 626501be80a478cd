"""When a compressed variant counts as worse than fp32: one set of rules for the three
places that say so -- the variant manifest (``compress``), the end of a run (``view``) and
the published report -- so a variant cannot be loud in one and quiet in another.

Stdlib only: imported by the terminal view, which must stay light.
"""

from __future__ import annotations

from typing import Optional

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


def slowdown(p50_s: Optional[float], fp32_p50_s: Optional[float],
             factor: float = LATENCY_FACTOR) -> Optional[float]:
    """``p50 / fp32 p50`` when it is beyond ``factor``, else None."""
    if not p50_s or not fp32_p50_s or p50_s <= fp32_p50_s * factor:
        return None
    return p50_s / fp32_p50_s
