"""Latency statistics computed on the device, standard library only.

Percentiles use the *linear* method (Hyndman & Fan type 7), numpy's default, so a
figure here equals ``numpy.percentile(x, q)``; the method's name travels in every result.

The early-stopping estimate follows MLPerf Inference's loadgen: with ``n`` timed runs,
the number of "over-latency" runs a true ``p``-th percentile could produce is
Binomial(n, 1 - p).  Let ``t`` be the largest count such that seeing at most ``t + 1``
over-latency runs has probability at most ``1 - confidence``; discarding the ``t`` slowest
runs, the slowest that remains bounds the true percentile with that confidence.  This
reproduces the figures loadgen prints ("Would discard 172 highest latency queries" for
2048 queries at p90 / 0.99; 181 for 2145; 685 for 7469), which the tests pin.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

PERCENTILE_METHOD = "linear (Hyndman-Fan type 7, numpy default)"
PERCENTILES = (5, 50, 90, 95, 99)
EARLY_STOPPING_MIN_RUNS = 64


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    pos = (len(sorted_values) - 1) * (q / 100.0)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def _binom_log_pmf(k: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        + k * math.log(p) + (n - k) * math.log1p(-p)
    )


def early_stopping_overlatency_bound(n: int, percentile_q: float = 90.0,
                                     confidence: float = 0.99) -> Optional[int]:
    """Largest t with P(Binomial(n, 1-p) <= t + 1) <= 1 - confidence, or None."""
    p_over = 1.0 - percentile_q / 100.0
    alpha = 1.0 - confidence
    cdf = 0.0
    best: Optional[int] = None
    for t in range(n + 1):
        cdf += math.exp(_binom_log_pmf(t, n, p_over))
        if cdf > alpha:
            break
        best = t - 1
    return best if best is not None and best >= 0 else None


def early_stopping_estimate(sorted_values: Sequence[float], percentile_q: float = 90.0,
                            confidence: float = 0.99) -> Optional[Dict[str, float]]:
    """MLPerf early-stopping percentile estimate, or None below the minimum run count."""
    n = len(sorted_values)
    if n < EARLY_STOPPING_MIN_RUNS:
        return None
    t = early_stopping_overlatency_bound(n, percentile_q, confidence)
    if t is None:
        return None
    return {
        "estimate_s": float(sorted_values[n - 1 - t]),
        "discarded_runs": t,
        "percentile": percentile_q,
        "confidence": confidence,
    }


def summarize(latencies_s: List[float]) -> Dict[str, object]:
    """count, mean, std (population), min, max, p5..p99 and the early-stopping p90."""
    values = sorted(latencies_s)
    n = len(values)
    if n == 0:
        raise ValueError("no latencies to summarize")
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / n
    stats: Dict[str, object] = {
        "count": n,
        "mean_s": mean,
        "std_s": math.sqrt(var),
        "min_s": values[0],
        "max_s": values[-1],
        "percentile_method": PERCENTILE_METHOD,
    }
    for q in PERCENTILES:
        stats[f"p{q}_s"] = percentile(values, q)
    es = early_stopping_estimate(values, 90.0, 0.99)
    stats["early_stopping_p90"] = es
    stats["early_stopping_p90_s"] = es["estimate_s"] if es else None
    return stats
