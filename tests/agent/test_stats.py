"""Statistics against numpy and against figures MLPerf loadgen printed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebench.agent.stats import early_stopping_estimate, early_stopping_overlatency_bound, percentile, summarize


@given(st.lists(st.floats(min_value=1e-7, max_value=10.0), min_size=1, max_size=300),
       st.sampled_from([0, 5, 50, 90, 95, 99, 100]))
@settings(max_examples=200, deadline=None)
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    assert percentile(sorted(values), q) == pytest.approx(np.percentile(values, q), rel=1e-12, abs=1e-15)


def test_summary_on_known_data() -> None:
    data = [float(x) for x in range(1, 101)]  # 1..100
    s = summarize(data)
    assert s["count"] == 100 and s["mean_s"] == 50.5 and s["min_s"] == 1 and s["max_s"] == 100
    assert s["std_s"] == pytest.approx(np.std(data))
    assert s["p50_s"] == 50.5 and s["p90_s"] == pytest.approx(90.1) and s["p99_s"] == pytest.approx(99.01)
    assert s["p5_s"] == pytest.approx(5.95)
    assert "linear" in s["percentile_method"]


@pytest.mark.parametrize("n, discarded", [(2048, 172), (2116, 178), (2145, 181), (7469, 685)])
def test_early_stopping_matches_loadgen(n: int, discarded: int) -> None:
    """loadgen's mlperf_log_summary: 'Would discard N highest latency queries' (p90, 0.99)."""
    assert early_stopping_overlatency_bound(n, 90.0, 0.99) == discarded


def test_early_stopping_hand_computed_case() -> None:
    # n = 64, X ~ Binomial(64, 0.1): P(X<=0) = 0.9^64 = 0.00118, P(X<=1) = 0.00118 + 64*0.1*0.9^63
    # = 0.00956 <= 0.01, P(X<=2) = 0.0293 > 0.01.  So t + 1 = 1 -> discard t = 0 runs and the
    # estimate is the slowest run.
    assert 0.9 ** 64 + 64 * 0.1 * 0.9 ** 63 <= 0.01 < 0.9 ** 64 + 64 * 0.1 * 0.9 ** 63 + 2016 * 0.01 * 0.9 ** 62
    values = [i / 1000 for i in range(1, 65)]
    est = early_stopping_estimate(values)
    assert est is not None and est["discarded_runs"] == 0 and est["estimate_s"] == 0.064
    # 2048 sorted runs: discard 172 -> the 1876th value
    big = [float(i) for i in range(2048)]
    assert early_stopping_estimate(big)["estimate_s"] == 2048 - 1 - 172


def test_no_early_stopping_below_64_runs() -> None:
    assert early_stopping_estimate([0.001] * 63) is None
    assert summarize([0.001] * 63)["early_stopping_p90_s"] is None
    with pytest.raises(ValueError):
        summarize([])
