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

Every p50 and p90 also carries a distribution-free confidence interval (default 99 %):
latencies are skewed and multi-modal, so an interval that assumes normality would lie
exactly where it matters.  The count of runs below the true ``q``-quantile is
Binomial(n, q) whatever the distribution, so the order statistics ``x_(l)``, ``x_(u)``
with ``P(B <= l-1) <= alpha/2`` and ``P(B >= u) <= alpha/2`` bound it with probability
``P(l <= B <= u-1) >= 1 - alpha`` (Le Boudec, *Performance Evaluation of Computer and
Communication Systems*, Theorem 2.1; Conover, *Practical Nonparametric Statistics*, 3.2).
Without enough runs for a two-sided interval (a 99 % p90 needs 51) the bounds are None.
"""

from __future__ import annotations

import math
import statistics
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

PERCENTILE_METHOD = "linear (Hyndman-Fan type 7, numpy default)"
PERCENTILES = (5, 50, 90, 95, 99)
EARLY_STOPPING_MIN_RUNS = 64
#: Confidence of every p50/p90 interval, and the name of the method, both in each result.
CI_CONFIDENCE = 0.99
CI_METHOD = "distribution-free order-statistic interval (binomial ranks)"
CI_PERCENTILES = (50, 90)
#: Binomial mass beyond this many standard deviations of the mean is below 1e-30 and is
#: not summed, so the ranks of a million-run loop cost a few thousand terms, not a million.
_WINDOW_SD = 12.0


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


@lru_cache(maxsize=256)
def quantile_ci_ranks(n: int, q: float, confidence: float = CI_CONFIDENCE
                      ) -> Optional[Tuple[int, int, float]]:
    """1-based ranks ``(l, u)`` of the order statistics bounding the ``q``-quantile
    (q in 0..1) with at least ``confidence``, and the exact coverage ``P(l <= B <= u-1)``;
    None when ``n`` runs are too few for a two-sided interval.

    Cached because the stopping rule asks for the same ``n`` schedule on every job.
    """
    if n <= 0 or not 0.0 < q < 1.0 or not 0.0 < confidence < 1.0:
        return None
    half_alpha = (1.0 - confidence) / 2.0
    mean = n * q
    sd = math.sqrt(n * q * (1.0 - q))
    lo_k = max(0, int(math.floor(mean - _WINDOW_SD * sd)) - 2)
    hi_k = min(n, int(math.ceil(mean + _WINDOW_SD * sd)) + 2)
    pmf = [math.exp(_binom_log_pmf(k, n, q)) for k in range(lo_k, hi_k + 1)]
    # lower[i] = P(lo_k <= B <= lo_k + i), upper[i] = P(B > lo_k + i) (mass outside the
    # window is negligible); both summed from their own small end, so no 1 - x cancellation.
    lower, acc = [], 0.0
    for value in pmf:
        acc += value
        lower.append(acc)
    upper, acc = [0.0] * len(pmf), 0.0
    for i in range(len(pmf) - 1, -1, -1):
        upper[i] = acc
        acc += pmf[i]
    # l - 1 = the largest k with P(B <= k) <= alpha/2 (k = -1: no lower bound exists)
    below = -1
    for i, cum in enumerate(lower):
        if cum <= half_alpha:
            below = lo_k + i
        else:
            break
    # u - 1 = the smallest k with P(B > k) <= alpha/2 (k = n: no upper bound exists)
    above = next(lo_k + i for i, tail in enumerate(upper) if tail <= half_alpha)
    lower_rank, upper_rank = below + 1, above + 1
    if lower_rank < 1 or upper_rank > n:
        return None
    below_mass = lower[below - lo_k] if below >= lo_k else 0.0
    return lower_rank, upper_rank, 1.0 - below_mass - upper[above - lo_k]


def quantile_ci(sorted_values: Sequence[float], q_pct: float,
                confidence: float = CI_CONFIDENCE) -> Optional[Dict[str, object]]:
    """``{"low_s", "high_s", "ranks", "coverage"}`` for the ``q_pct`` percentile of
    already sorted values, or None when the runs are too few."""
    ranks = quantile_ci_ranks(len(sorted_values), q_pct / 100.0, confidence)
    if ranks is None:
        return None
    low, high, coverage = ranks
    return {"low_s": sorted_values[low - 1], "high_s": sorted_values[high - 1],
            "ranks": [low, high], "coverage": coverage}


def relative_half_width(low: Optional[float], high: Optional[float],
                        centre: Optional[float]) -> Optional[float]:
    """Half the interval's width as a fraction of the estimate (0.003 = +-0.3 %)."""
    if low is None or high is None or not centre:
        return None
    return (high - low) / 2.0 / centre


def p50_rel_half_width_ns(latencies_ns: Sequence[int],
                          confidence: float = CI_CONFIDENCE) -> Optional[float]:
    """The p50 interval's relative half-width straight from the timed loop's raw list.

    Called every k runs by the stopping rule: ``numpy.partition`` finds the three order
    statistics it needs in O(n) without sorting, and the ranks come from the cache.
    """
    n = len(latencies_ns)
    ranks = quantile_ci_ranks(n, 0.5, confidence)
    if ranks is None:
        return None
    import numpy as np

    low, high, _ = ranks
    mid_lo, mid_hi = (n - 1) // 2, n // 2  # the linear method's two neighbours at q = 0.5
    kth = sorted({low - 1, high - 1, mid_lo, mid_hi})
    part = np.partition(np.asarray(latencies_ns, dtype=np.int64), kth)
    median = (int(part[mid_lo]) + int(part[mid_hi])) / 2.0
    return relative_half_width(float(part[low - 1]), float(part[high - 1]), median)


def process_spread(parts_s: Sequence[Sequence[float]]) -> Dict[str, object]:
    """Spread inside processes and between them, for a job run in several processes.

    *Within*: the median over processes of each one's MAD / median (robust to the odd
    preempted run, which on a busy machine makes a CV of 20 out of a 1 % spread), of its
    CV (population std / mean) and of its p50 interval's relative half-width (how exactly
    one process pins its own median).  *Between*: the spread of the per-process medians --
    their CV (sample std / mean, None for one process) and their range / median.  pyperf
    spawns fresh processes because the second exceeds what the first predicts (address
    layout, allocator and cache state are fixed per process).
    """
    per: List[Dict[str, object]] = []
    for values in parts_s:
        ordered = sorted(values)
        n = len(ordered)
        mean = math.fsum(ordered) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in ordered) / n)
        median = percentile(ordered, 50)
        mad = statistics.median(abs(v - median) for v in ordered)
        ci = quantile_ci(ordered, 50)
        per.append({"count": n, "p50_s": median, "mean_s": mean, "std_s": std,
                    "cv": std / mean if mean else None,
                    "rel_mad": mad / median if median else None,
                    "p50_ci_low_s": ci["low_s"] if ci else None,
                    "p50_ci_high_s": ci["high_s"] if ci else None,
                    "p50_ci_rel_half_width": relative_half_width(
                        ci["low_s"], ci["high_s"], median) if ci else None})  # type: ignore[arg-type]
    medians = [float(p["p50_s"]) for p in per]  # type: ignore[arg-type]
    centre = statistics.median(medians) if medians else None
    mean_of_medians = statistics.fmean(medians) if medians else None
    cvs = [float(p["cv"]) for p in per if p["cv"] is not None]  # type: ignore[arg-type]
    mads = [float(p["rel_mad"]) for p in per if p["rel_mad"] is not None]  # type: ignore[arg-type]
    halves = [float(p["p50_ci_rel_half_width"]) for p in per  # type: ignore[arg-type]
              if p["p50_ci_rel_half_width"] is not None]
    return {
        "processes": len(per),
        "per_process": per,
        "within_process_cv": statistics.median(cvs) if cvs else None,
        "within_process_rel_mad": statistics.median(mads) if mads else None,
        "within_process_p50_ci_rel_half_width": statistics.median(halves) if halves else None,
        "between_process_cv": (statistics.stdev(medians) / mean_of_medians
                               if len(medians) >= 2 and mean_of_medians else None),
        "between_process_rel_range": ((max(medians) - min(medians)) / centre
                                      if len(medians) >= 2 and centre else None),
    }


def summarize(latencies_s: List[float]) -> Dict[str, object]:
    """count, mean, std (population), min, max, p5..p99, the early-stopping p90 and the
    p50/p90 confidence intervals."""
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
    stats["ci_confidence"] = CI_CONFIDENCE
    stats["ci_method"] = CI_METHOD
    for q in CI_PERCENTILES:
        ci = quantile_ci(values, q)
        stats[f"p{q}_ci_low_s"] = ci["low_s"] if ci else None
        stats[f"p{q}_ci_high_s"] = ci["high_s"] if ci else None
        stats[f"p{q}_ci_ranks"] = ci["ranks"] if ci else None
        stats[f"p{q}_ci_coverage"] = ci["coverage"] if ci else None
        stats[f"p{q}_ci_rel_half_width"] = relative_half_width(
            stats[f"p{q}_ci_low_s"], stats[f"p{q}_ci_high_s"], stats[f"p{q}_s"])  # type: ignore[arg-type]
    return stats
