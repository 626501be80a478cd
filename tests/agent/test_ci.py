"""The p50/p90 confidence intervals: binomial ranks against scipy and a textbook table."""

from __future__ import annotations

import numpy as np
import pytest

from edgebench.agent.stats import p50_rel_half_width_ns, process_spread, quantile_ci, quantile_ci_ranks, summarize


def _ranks_by_scipy(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    """The definition, spelled with scipy: l-1 = max k with P(B <= k) <= a/2, u-1 = min k
    with P(B > k) <= a/2."""
    from scipy.stats import binom

    half = (1 - confidence) / 2
    k = np.arange(n + 1)
    below = k[binom.cdf(k, n, q) <= half]
    lower = (int(below.max()) if below.size else -1) + 1
    upper = int(k[binom.sf(k, n, q) <= half].min()) + 1
    return None if lower < 1 or upper > n else (lower, upper)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.05, 0.99])
def test_ranks_match_the_binomial_definition(q: float) -> None:
    for n in list(range(1, 160)) + [1000, 4321, 20000]:
        got = quantile_ci_ranks(n, q, 0.99)
        assert (got[:2] if got else None) == _ranks_by_scipy(n, q, 0.99), n


def test_ranks_match_published_tables() -> None:
    # "Confidence intervals for the population median" (table A.7 of a statistics text):
    # n = 15 -> [x(3), x(13)] at 99.3 %; the classic n = 100 at 95 % -> [x(40), x(61)].
    low, high, coverage = quantile_ci_ranks(15, 0.5, 0.99)
    assert (low, high) == (3, 13) and coverage == pytest.approx(1 - 2 * 121 / 2 ** 15)
    assert round(coverage, 3) == 0.993
    assert quantile_ci_ranks(100, 0.5, 0.95)[:2] == (40, 61)
    assert quantile_ci_ranks(100, 0.5, 0.99)[:2] == (37, 64)


def test_too_few_runs_have_no_interval() -> None:
    # a two-sided 99 % interval needs P(all n runs below the quantile) <= 0.005
    assert quantile_ci_ranks(7, 0.5) is None and quantile_ci_ranks(8, 0.5)[:2] == (1, 8)
    assert quantile_ci_ranks(50, 0.9) is None  # 0.9**50 = 0.00515 > 0.005
    assert quantile_ci_ranks(51, 0.9) is not None
    s = summarize([1.0, 2.0, 3.0])
    assert s["p50_ci_low_s"] is None and s["p50_ci_rel_half_width"] is None


def test_coverage_holds_on_skewed_data() -> None:
    """A bimodal latency distribution (the case a normal interval gets wrong): the 99 %
    interval of the median holds the true median in at least ~99 % of 2000 samples."""
    rng = np.random.default_rng(7)
    def draw(size: int) -> np.ndarray:
        fast = rng.lognormal(np.log(1e-3), 0.02, size)
        return np.where(rng.random(size) < 0.3, fast * 1.6, fast)
    truth = float(np.median(draw(2_000_000)))
    hits = 0
    for _ in range(2000):
        ci = quantile_ci(np.sort(draw(200)).tolist(), 50)
        hits += ci["low_s"] <= truth <= ci["high_s"]
    assert hits / 2000 >= 0.985


def test_summarize_carries_both_intervals() -> None:
    values = [float(v) for v in np.random.default_rng(1).lognormal(0, 0.1, 1001)]
    s = summarize(values)
    ordered = sorted(values)
    low, high = s["p50_ci_ranks"]
    assert (s["p50_ci_low_s"], s["p50_ci_high_s"]) == (ordered[low - 1], ordered[high - 1])
    assert s["p50_ci_low_s"] <= s["p50_s"] <= s["p50_ci_high_s"]
    assert s["p90_ci_low_s"] <= s["p90_s"] <= s["p90_ci_high_s"]
    assert s["ci_confidence"] == 0.99 and s["p50_ci_coverage"] >= 0.99
    assert s["p50_ci_rel_half_width"] == pytest.approx(
        (s["p50_ci_high_s"] - s["p50_ci_low_s"]) / 2 / s["p50_s"])


def test_loop_check_agrees_with_the_summary() -> None:
    """The stopping rule's numpy.partition shortcut gives the summary's own figure."""
    rng = np.random.default_rng(3)
    for n in (9, 10, 64, 999, 5000):
        ns = [int(v) for v in rng.integers(1000, 5000, n)]
        s = summarize([v / 1e9 for v in ns])
        assert p50_rel_half_width_ns(ns) == pytest.approx(s["p50_ci_rel_half_width"], rel=1e-9)
    assert p50_rel_half_width_ns([5, 6, 7]) is None


def test_process_spread_on_constructed_processes() -> None:
    # three processes, identical shape, medians 1.00 / 1.02 / 0.98 ms
    shape = [0.99, 1.0, 1.0, 1.01, 1.0]
    parts = [[v * m * 1e-3 for v in shape] for m in (1.0, 1.02, 0.98)]
    out = process_spread(parts)
    assert out["processes"] == 3
    assert [p["p50_s"] for p in out["per_process"]] == pytest.approx([1e-3, 1.02e-3, 0.98e-3])
    assert out["between_process_cv"] == pytest.approx(0.02)  # sample std 0.02 / mean 1.0
    assert out["between_process_rel_range"] == pytest.approx(0.04)
    assert out["within_process_rel_mad"] == pytest.approx(0.0)  # MAD of shape = 0
    assert out["within_process_cv"] == pytest.approx(np.std(shape) / np.mean(shape))
    assert process_spread([[1.0, 2.0, 3.0]])["between_process_cv"] is None
