"""Stop on precision, and one job in several fresh processes.

The stopping rule is tested with an injected precision function (what it is told, when it
asks); end-to-end runs on a real model only assert what holds by construction (the figure
that stopped the loop is the result's own), never how fast this machine is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.agent.runner import PRECISION_CHECK_MIN_RUNS, run_job, run_timed
from edgebench.agent.schema import BenchmarkSettings, JobSpec, validate_result
from edgebench.agent_bundle import bundle

QUICK = {"warmup_runs": 3, "warmup_min_s": 0.0, "min_runs": 30, "min_duration_s": 0.0,
         "max_duration_s": 20.0, "memory_sample_interval_s": 0.01}


def spec(path: Path, **bench: object) -> JobSpec:
    return JobSpec.from_dict({"job_id": "j", "model_path": str(path), "format": "onnx",
                              "benchmark": {**QUICK, **bench}, "probes": {"enabled": False}})


class Teller:
    """A precision function that answers from a script and records when it was asked."""

    def __init__(self, answers: list[float | None]) -> None:
        self.answers = iter(answers)
        self.asked_at: list[int] = []

    def __call__(self, latencies: list[int]) -> float | None:
        self.asked_at.append(len(latencies))
        return next(self.answers)


def test_stops_at_the_first_check_within_target_after_the_floors() -> None:
    teller = Teller([0.05, 0.02, None, 0.009])
    loop = run_timed(lambda: None, BenchmarkSettings(min_runs=200, min_duration_s=0.0,
                                                     target_precision=0.01), precision=teller)
    assert loop.reason == "precision" and loop.checks == 4 and loop.rel_half_width == 0.009
    # first check at the min_runs floor, then every max(50, n // 20) runs
    assert teller.asked_at == [200, 250, 300, 350]
    assert len(loop.latencies_ns) == 350
    info = loop.stop_info()
    assert info == {"reason": "precision", "target_precision": 0.01, "reached": True,
                    "rel_half_width_at_stop": 0.009, "checks": 4}


def test_check_interval_grows_with_the_run_count() -> None:
    teller = Teller([0.5] * 3 + [0.001])
    run_timed(lambda: None, BenchmarkSettings(min_runs=4000, min_duration_s=0.0,
                                              target_precision=0.01), precision=teller)
    assert teller.asked_at == [4000, 4200, 4410, 4630]  # + n // 20 each time
    assert PRECISION_CHECK_MIN_RUNS == 50


def test_cap_ends_an_imprecise_loop_and_says_so() -> None:
    loop = run_timed(lambda: None, BenchmarkSettings(min_runs=1, min_duration_s=0.0,
                                                     max_duration_s=0.05, target_precision=0.01),
                     precision=lambda lat: 0.5)
    assert loop.reason == "max_duration" and loop.stop_info()["reached"] is False
    assert loop.checks >= 1 and loop.rel_half_width == 0.5


def test_fixed_rule_is_unchanged_without_a_target() -> None:
    teller = Teller([])
    loop = run_timed(lambda: None, BenchmarkSettings(min_runs=500, min_duration_s=0.0),
                     precision=teller)
    assert loop.reason == "floors" and len(loop.latencies_ns) == 500 and teller.asked_at == []
    assert loop.stop_info() == {"reason": "floors"}


def test_job_with_target_precision_reports_whether_it_was_reached(mlp_onnx: Path) -> None:
    res = run_job(spec(mlp_onnx, target_precision=0.02))
    assert res["status"] == "ok", res.get("error")
    stop, stats = res["timing"]["stop"], res["stats"]
    assert stop["target_precision"] == 0.02 and stop["reached"] == (stop["reason"] == "precision")
    if stop["reached"]:  # the loop stopped right after the check: the same data, the same figure
        assert stats["p50_ci_rel_half_width"] == pytest.approx(stop["rel_half_width_at_stop"])
        assert stats["p50_ci_rel_half_width"] <= 0.02
    assert stats["p50_ci_low_s"] <= stats["p50_s"] <= stats["p50_ci_high_s"]


def test_bad_settings_are_refused_by_the_agent() -> None:
    for bad in ({"target_precision": 0.0}, {"target_precision": 1.5},
                {"target_precision": "0.01"}, {"bin_s": 0}, {"processes": 0},
                {"processes": 51}, {"mode": "burst"},
                {"mode": "sustained", "duration_s": 1.0, "bin_s": 2.0},
                {"mode": "sustained", "processes": 2}):
        with pytest.raises(ValueError):
            spec(Path("m.onnx"), **bad)


def test_three_processes_pool_their_samples(mlp_onnx: Path) -> None:
    res = run_job(spec(mlp_onnx, processes=3))
    assert res["status"] == "ok", res.get("error")
    assert validate_result(res) == []
    procs = res["processes"]
    per = procs["per_process"]
    assert procs["processes"] == 3 and len(per) == 3
    pids = {p["pid"] for p in per}
    assert len(pids) == 3 and os.getpid() not in pids  # three fresh processes
    counts = res["timing"]["process_counts"]
    assert [p["count"] for p in per] == counts and sum(counts) == res["stats"]["count"]
    assert all(c >= 30 for c in counts)
    assert res["stats"]["count"] == len(res["timing"]["latencies_s"])
    for key in ("within_process_rel_mad", "within_process_cv", "between_process_cv",
                "between_process_rel_range"):
        assert procs[key] is not None and procs[key] >= 0, key
    assert res["timing"]["load_s"] == per[0]["load_s"]
    assert res["memory"]["vmhwm_bytes"] == max(p["vmhwm_bytes"] for p in per)
    assert res["runtime"]["name"] == "onnxruntime" and res["model"]["input_shapes"]
    assert "context" in res  # the parent's, taken once before the children
    json.dumps(res, allow_nan=False)


def test_a_failing_process_fails_the_job_and_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 10)
    res = run_job(spec(bad, processes=2))
    assert res["status"] == "failed" and res["error"]["kind"] == "load_failed"
    assert res["error"]["message"].startswith("process 1/2: ")
    assert validate_result(res) == []


def test_bundled_agent_spawns_its_own_children(tmp_path: Path, mlp_onnx: Path) -> None:
    """On a device the package is ``edgebench_agent``: the children must start as that."""
    root = bundle().write_to(tmp_path)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec(mlp_onnx, processes=2).to_dict()))
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "edgebench_agent", "run", str(spec_file),
                           "--out", str(out)], cwd=tmp_path,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["status"] == "ok", res.get("error")
    assert res["processes"]["processes"] == 2
