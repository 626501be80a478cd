"""The agent's job flow on real runtimes and real model files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgebench.agent.runner import run_job, timed_loop, warm_up
from edgebench.agent.schema import BenchmarkSettings, JobSpec, validate_result
from edgebench.agent_bundle import bundle

QUICK = {"warmup_runs": 3, "warmup_min_s": 0.0, "min_runs": 30, "min_duration_s": 0.05,
         "max_duration_s": 5.0, "memory_sample_interval_s": 0.01}


def spec(path: Path, fmt: str, **kw) -> JobSpec:  # noqa: ANN003
    return JobSpec.from_dict({"job_id": "j", "model_path": str(path), "format": fmt,
                              "benchmark": QUICK, "probes": {"enabled": False}, **kw})


def test_onnx_job_reports_every_measurement(mlp_onnx: Path) -> None:
    res = run_job(spec(mlp_onnx, "onnx"))
    assert res["status"] == "ok", res.get("error")
    assert validate_result(res) == []
    lat = res["timing"]["latencies_s"]
    assert len(lat) == res["stats"]["count"] >= 30
    assert res["stats"]["p50_s"] == pytest.approx(float(np.percentile(lat, 50)))
    assert res["timing"]["warmup_runs"] >= 3 and res["timing"]["load_s"] > 0
    assert res["timing"]["first_inference_s"] > 0
    assert res["runtime"]["name"] == "onnxruntime" and res["runtime"]["threads"] == 1
    assert res["runtime"]["provider"] == "CPUExecutionProvider"
    mem = res["memory"]
    assert mem["rss_after_load_bytes"] >= mem["rss_before_load_bytes"] > 0
    assert mem["vmhwm_bytes"] >= mem["rss_after_load_bytes"]
    assert mem["peak_rss_sampled_bytes"] > 0 and mem["sampler_interval_s"] == 0.01
    assert res["model"]["size_bytes"] == mlp_onnx.stat().st_size
    assert 0 < res["model"]["size_gzip_bytes"] <= res["model"]["size_bytes"] * 1.01
    assert res["model"]["input_shapes"] == {"x": [1, 64]}
    machine = res["machine"]
    for key in ("arch", "cpu_model", "cores", "ram_bytes", "os", "kernel", "python", "numpy"):
        assert machine[key], key
    json.dumps(res, allow_nan=False)


def test_tflite_job_reports_runtime_and_delegate(tiny_tflite: Path) -> None:
    res = run_job(spec(tiny_tflite, "tflite"))
    assert res["status"] == "ok", res.get("error")
    assert res["runtime"]["name"] in ("ai_edge_litert", "tflite_runtime", "tensorflow")
    assert res["runtime"]["delegate"] == "XNNPACK (default)"
    assert res["model"]["inputs"][0]["shape"] == [1, 16]


def test_runtime_rejecting_a_model_is_a_failed_job_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 10)
    res = run_job(spec(bad, "onnx"))
    assert res["status"] == "failed" and res["error"]["kind"] == "load_failed"
    assert "InvalidProtobuf" in res["error"]["message"] or "Fail" in res["error"]["message"]
    assert validate_result(res) == []
    res = run_job(spec(bad, "tflite"))
    assert res["status"] == "failed" and res["error"]["kind"] == "load_failed"


def test_missing_model_file(tmp_path: Path) -> None:
    res = run_job(spec(tmp_path / "nope.onnx", "onnx"))
    assert res["error"]["kind"] == "model_missing" and "nope.onnx" in res["error"]["message"]


def test_unavailable_execution_provider(mlp_onnx: Path) -> None:
    res = run_job(spec(mlp_onnx, "onnx", providers=["TensorrtExecutionProvider"]))
    assert res["error"]["kind"] == "no_runtime" and "TensorrtExecutionProvider" in res["error"]["message"]


def test_timed_loop_honours_min_runs_min_duration_and_cap() -> None:
    calls = []
    lat = timed_loop(lambda: calls.append(1), BenchmarkSettings(min_runs=500, min_duration_s=0.0))
    assert len(lat) == 500 == len(calls)
    import time

    t0 = time.perf_counter()
    lat = timed_loop(lambda: None, BenchmarkSettings(min_runs=1, min_duration_s=0.2))
    assert time.perf_counter() - t0 >= 0.2 and len(lat) > 1
    lat = timed_loop(lambda: time.sleep(0.01), BenchmarkSettings(min_runs=10**9, min_duration_s=0.0,
                                                                  max_duration_s=0.1))
    assert 5 <= len(lat) <= 12  # capped by max_duration_s
    ready = iter([False, False, True])
    lat = timed_loop(lambda: None, BenchmarkSettings(min_runs=1, min_duration_s=0.0), lambda: next(ready))
    assert len(lat) == 3  # extended until the energy window was ready
    w = warm_up(lambda: None, BenchmarkSettings(warmup_runs=7, warmup_min_s=0.0))
    assert w["warmup_runs"] == 7


def test_agent_cli_writes_a_result_and_rejects_bad_specs(tmp_path: Path, mlp_onnx: Path) -> None:
    root = bundle().write_to(tmp_path)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec(mlp_onnx, "onnx").to_dict()))
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "edgebench_agent", "run", str(spec_file), "--out", str(out)],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["status"] == "ok"
    spec_file.write_text(json.dumps({"job_id": "x", "model_path": "m", "format": "onnx", "bogus": 1}))
    subprocess.run([sys.executable, "-m", "edgebench_agent", "run", str(spec_file), "--out", str(out)],
                   cwd=root, env={"PYTHONPATH": str(root)}, check=True, timeout=60)
    bad = json.loads(out.read_text())
    assert bad["status"] == "failed" and bad["error"]["kind"] == "bad_spec" and "bogus" in bad["error"]["message"]


def test_missing_external_delegate_is_a_clear_load_failure(tiny_tflite: Path, tmp_path: Path) -> None:
    res = run_job(spec(tiny_tflite, "tflite", delegate_path=str(tmp_path / "libedgetpu.so.1")))
    assert res["status"] == "failed" and res["error"]["kind"] == "load_failed"
    assert "libedgetpu.so.1" in res["error"]["message"]
