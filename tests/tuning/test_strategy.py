"""Successive halving on synthetic latency samples (seeded: deterministic), no device.

Each candidate has a true p50; a stage draws samples around it (more for longer stages)
and the interval is the agent's own order-statistic 99 % interval of the median."""

from __future__ import annotations

import numpy as np
import pytest

from edgebench.agent.stats import quantile_ci
from edgebench.tuning.strategy import FINAL, GroupResult, Measurement, judge, successive_halving

SAMPLES = {"rung1": 40, "rung2": 200, FINAL: 2000}


def sampler(true_p50: dict[str, float], *, spread: float = 0.05, fail: frozenset[str] = frozenset(),
            seed: int = 0):
    rng = np.random.default_rng(seed)
    calls: list[tuple[str, dict]] = []

    def measure(stage, todo):
        calls.append((stage, {g: list(k) for g, k in todo.items()}))
        out = {}
        for group, keys in todo.items():
            got = {}
            for key in keys:
                if key in fail:
                    got[key] = Measurement(None, error="agent crashed")
                    continue
                xs = np.sort(true_p50[key] * (1 + spread * rng.standard_normal(SAMPLES[stage])))
                ci = quantile_ci(list(xs), 50.0)
                got[key] = Measurement(float(np.median(xs)), ci["low_s"], ci["high_s"],
                                       device_s=SAMPLES[stage] * true_p50[key])
            out[group] = got
        return out

    return measure, calls


def base(key: str) -> str:
    return "fp32/" + key.partition("/")[2]


TRUE = {"fp32/onnx": 10.0, "int8/onnx": 6.0, "dyn/onnx": 30.0, "prune/onnx": 5.0,
        "prune+int8/onnx": 3.0, "fp16/onnx": 10.5, "cluster/onnx": 9.9}
G = ("m", "dev")


def test_clear_winner_found_and_losers_dropped_at_the_first_rung() -> None:
    measure, calls = sampler(TRUE)
    res = successive_halving({G: list(TRUE)}, ["rung1", "rung2"], measure, finalists=2,
                             baseline_of=base)[G]
    assert res.winner == "prune+int8/onnx" and res.ties == []
    assert [c[0] for c in calls] == ["rung1", FINAL]  # one rung was enough: 1 survivor <= 2
    assert sorted(calls[0][1][G]) == sorted(TRUE)
    assert calls[1][1][G] == ["prune+int8/onnx", "fp32/onnx"]  # finalist + the baseline
    assert res.dropped["dyn/onnx"].startswith("rung1: cannot beat prune+int8/onnx")
    assert res.final("fp32/onnx").value == pytest.approx(10.0, rel=0.01)
    assert res.baseline == "fp32/onnx"


def test_near_equal_candidates_survive_to_the_final_and_are_reported_as_ties() -> None:
    true = {"fp32/onnx": 10.0, "a/onnx": 5.0, "b/onnx": 5.0, "c/onnx": 20.0, "d/onnx": 30.0}
    measure, calls = sampler(true, spread=0.05, seed=3)
    res = successive_halving({G: list(true)}, ["rung1", "rung2"], measure, finalists=2,
                             baseline_of=base)[G]
    assert {res.winner, *res.ties} == {"a/onnx", "b/onnx"}  # equal p50: never a "win"
    assert set(res.finalists) == {"a/onnx", "b/onnx"}
    assert "c/onnx" in res.dropped and "d/onnx" in res.dropped


def test_failing_candidate_is_recorded_and_skipped() -> None:
    measure, calls = sampler(TRUE, fail=frozenset({"prune+int8/onnx"}))
    res = successive_halving({G: list(TRUE)}, ["rung1"], measure, finalists=1, baseline_of=base)[G]
    assert res.dropped["prune+int8/onnx"] == "rung1: failed: agent crashed"
    assert res.winner == "prune/onnx"
    assert all("prune+int8/onnx" not in todo[G] for stage, todo in calls[1:])


def test_finalists_cap_cuts_ties_and_says_so() -> None:
    true = {"fp32/onnx": 5.0, "a/onnx": 5.0, "b/onnx": 5.0, "c/onnx": 5.0}
    measure, _calls = sampler(true, spread=0.2, seed=1)
    res = successive_halving({G: list(true)}, ["rung1"], measure, finalists=2, baseline_of=base)[G]
    assert len(res.finalists) == 2 and len(res.cut) == 2
    assert all(res.dropped[k].startswith("cut: still tied") for k in res.cut)


def test_budget_stop_skips_rungs_and_keeps_one_finalist() -> None:
    measure, calls = sampler(TRUE)
    res = successive_halving({G: list(TRUE)}, ["rung1", "rung2"], measure, finalists=3,
                             baseline_of=base, may_continue=lambda _jobs: False)[G]
    assert [c[0] for c in calls] == [FINAL]
    assert len(res.finalists) == 1


def test_two_devices_are_measured_in_one_pass_and_can_differ() -> None:
    fast_int8 = dict(TRUE)
    slow_int8 = {**TRUE, "int8/onnx": 60.0, "prune+int8/onnx": 40.0}
    groups = {("m", "x86"): list(TRUE), ("m", "arm"): list(TRUE)}

    def measure(stage, todo):
        a, _ = sampler(fast_int8)
        b, _ = sampler(slow_int8)
        return {**a(stage, {("m", "x86"): todo.get(("m", "x86"), [])}),
                **b(stage, {("m", "arm"): todo.get(("m", "arm"), [])})}

    res = successive_halving(groups, ["rung1"], measure, finalists=1, baseline_of=base)
    assert res[("m", "x86")].winner == "prune+int8/onnx"
    assert res[("m", "arm")].winner == "prune/onnx"


def test_objective_without_interval_keeps_candidates_within_five_percent() -> None:
    r = GroupResult(G, ["a", "b", "c"])
    kept = judge("rung1", {"a": Measurement(100.0), "b": Measurement(104.0),
                           "c": Measurement(120.0)}, r)
    assert kept == ["a", "b"] and r.dropped["c"].startswith("rung1: cannot beat a")
