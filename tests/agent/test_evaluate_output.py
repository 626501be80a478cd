"""On-device quality with a named output and presence scoring, on real ONNX Runtime: the
agent's figures must equal the controller's on the same file and data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgebench.agent.runner import run_job
from edgebench.agent.schema import JobSpec
from edgebench.compressors.evaluate import quality, run_model
from tests.conftest import two_output_onnx

QUICK = {"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": 5, "min_duration_s": 0.0,
         "max_duration_s": 2.0, "memory_sample_interval_s": 0.05}


def job(model: Path, npz: Path, **evaluation: str) -> dict:
    spec = JobSpec.from_dict({"job_id": "j", "model_path": str(model), "format": "onnx",
                              "benchmark": QUICK, "probes": {"enabled": False},
                              "eval": {"npz_path": str(npz), **evaluation}})
    res = run_job(spec)
    assert res["status"] == "ok", res.get("error")
    return res["accuracy"]


def test_presence_on_a_named_output_matches_the_controller(tmp_path: Path) -> None:
    model = two_output_onnx(tmp_path / "two.onnx")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (rng.random(40) > 0.5).astype(np.int64)
    ref = run_model(model, "onnx", x, "second")
    ref[::5] *= -1.0  # a "fp32 reference" that disagrees on some samples
    np.savez(tmp_path / "eval.npz", x=x, y=y, ref=ref)
    device = job(model, tmp_path / "eval.npz", output="second", task="presence")
    outputs = run_model(model, "onnx", x, "second")
    controller = quality(outputs, y=y, ref=ref, ref_accuracy=None, classification=False,
                         presence=True)
    assert device["samples"] == 40
    assert device["accuracy"] == controller["accuracy"]
    assert device["top1_agreement"] == controller["top1_agreement"] < 1.0
    assert abs(device["cosine"] - controller["cosine"]) < 1e-6


def test_unknown_output_on_the_device_skips_quality_and_keeps_the_timing(tmp_path: Path) -> None:
    model = two_output_onnx(tmp_path / "two.onnx")
    np.savez(tmp_path / "eval.npz", x=np.ones((3, 4), np.float32))
    assert job(model, tmp_path / "eval.npz", output="scores") == {
        "skipped": "model has no output 'scores' (outputs: first, second)"}


def test_multi_input_eval_npz_with_a_0d_input(tmp_path: Path) -> None:
    """``input:<name>`` arrays feed every input of a multi-input model on the device."""
    import onnx
    from onnx import TensorProto, helper

    from edgebench.agent.evaluate import evaluate
    from edgebench.agent.runner import make_backend
    from edgebench.agent.schema import EvalSpec, JobSpec

    graph = helper.make_graph(
        [helper.make_node("Cast", ["k"], ["kf"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["x", "kf"], ["y"])], "scale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3]),
         helper.make_tensor_value_info("k", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    model = tmp_path / "scale.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    x = np.random.default_rng(0).standard_normal((5, 1, 3)).astype(np.float32)
    k = np.array([1, 2, 3, 4, 5], np.int64)
    npz = tmp_path / "eval.npz"
    np.savez(npz, **{"input:x": x, "input:k": k, "ref": (x[:, 0] * k[:, None]).astype(np.float32)})
    backend = make_backend(JobSpec(job_id="j", model_path=str(model), format="onnx"))
    loaded = backend.load(str(model))
    result = evaluate(backend, loaded.inputs, EvalSpec(npz_path=str(npz)), loaded.outputs)
    assert result["samples"] == 5 and result["cosine"] == pytest.approx(1.0)
