"""Runtimes as plugins (issue 15): the registry, and the same file on two real runtimes.

The same ``.onnx`` on ONNX Runtime and on OpenVINO (fp32 forced, so the comparison is of
runtimes and not of precisions) must give the same outputs within tolerance, and the
agent's on-device accuracy per runtime must equal the controller's figure on that file;
likewise the same ``.tflite`` on LiteRT's classic Interpreter and its CompiledModel API.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from edgebench.agent.backends import CLASSIC_RUNTIME, FORMATS, RUNTIMES, resolve, runtimes_for
from edgebench.agent.runner import make_backend, run_job
from edgebench.agent.schema import JobSpec
from edgebench.compressors.evaluate import quality, run_model
from tests.conftest import make_mlp_onnx

QUICK = {"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": 5, "min_duration_s": 0.0,
         "max_duration_s": 2.0, "memory_sample_interval_s": 0.05}


def _spec(model: Path, fmt: str, runtime: str = "", **extra: object) -> JobSpec:
    return JobSpec.from_dict({"job_id": "j", "model_path": str(model), "format": fmt,
                              "runtime": runtime, "benchmark": QUICK, "probes": {"enabled": False},
                              **extra})


def test_every_registry_line_names_a_backend_that_loads_the_same_formats() -> None:
    for name, entry in RUNTIMES.items():
        cls = entry.backend_class()
        assert tuple(cls.formats) == entry.formats, name
        assert callable(cls.from_spec) and callable(
            importlib.import_module(cls.__module__).runtime_version)
    assert set(CLASSIC_RUNTIME) == set(FORMATS) == {"onnx", "tflite", "pte"}
    assert runtimes_for("onnx")[0] == "onnxruntime" and "openvino" in runtimes_for("onnx")
    assert runtimes_for("tflite") == ("tflite", "litert-compiled")


def test_a_spec_without_runtime_gets_the_classic_one_and_a_wrong_pair_is_refused(
        mlp_onnx: Path) -> None:
    old = JobSpec.from_dict({"job_id": "j", "model_path": str(mlp_onnx), "format": "onnx"})
    assert old.runtime == "" and type(make_backend(old)).__name__ == "OrtBackend"
    assert resolve("tflite", None).name == "tflite"
    with pytest.raises(ValueError, match="does not load 'tflite'"):
        JobSpec.from_dict({"job_id": "j", "model_path": "m", "format": "tflite",
                           "runtime": "openvino"})
    with pytest.raises(ValueError, match="unknown runtime 'tvm'"):
        JobSpec.from_dict({"job_id": "j", "model_path": "m", "format": "onnx", "runtime": "tvm"})


def _classifier(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A real ONNX MLP read as a 64-class classifier, with labels that are right for most
    samples (so accuracy is neither 0 nor 100 and a runtime difference would show)."""
    model = make_mlp_onnx(tmp_path / "mlp.onnx", dynamic=True)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((60, 64)).astype(np.float32)
    y = run_model(model, "onnx", x).reshape(60, -1).argmax(axis=1)
    y[::4] = (y[::4] + 1) % 64
    np.savez(tmp_path / "eval.npz", x=x, y=y)
    return model, tmp_path / "eval.npz", x, y


def test_same_onnx_on_onnxruntime_and_openvino_gives_the_same_outputs(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    model, npz, x, y = _classifier(tmp_path)
    outs = {}
    for runtime, opts in (("onnxruntime", {}), ("openvino", {"inference_precision": "f32"})):
        backend = make_backend(_spec(model, "onnx", runtime, runtime_options=opts))
        loaded = backend.load(str(model))
        outs[runtime] = backend.run({loaded.inputs[0].name: x[:8]})[0]
        if runtime == "openvino":
            assert loaded.runtime_info["inference_precision"] == "f32"
            assert loaded.runtime_info["device"] == "CPU"
        backend.close()
    np.testing.assert_allclose(outs["openvino"], outs["onnxruntime"], rtol=1e-4, atol=1e-4)
    controller = quality(run_model(model, "onnx", x), y=y, ref=None, ref_accuracy=None,
                         classification=True)
    for runtime, opts in (("onnxruntime", {}), ("openvino", {"inference_precision": "f32"})):
        res = run_job(_spec(model, "onnx", runtime, runtime_options=opts,
                            eval={"npz_path": str(npz)}))
        assert res["status"] == "ok", res.get("error")
        assert res["runtime"]["name"] == runtime
        assert res["accuracy"]["samples"] == 60
        assert res["accuracy"]["accuracy"] == controller["accuracy"] == 75.0, runtime


def test_openvino_reports_the_precision_it_chose(mlp_onnx: Path) -> None:
    """Without the option OpenVINO picks (bf16 on AMX / AVX-512 BF16 CPUs, else f32): the
    result must say which, never assume the file's fp32."""
    pytest.importorskip("openvino")
    res = run_job(_spec(mlp_onnx, "onnx", "openvino"))
    assert res["status"] == "ok", res.get("error")
    rt = res["runtime"]
    assert rt["inference_precision"] in ("f32", "bf16", "f16")
    assert rt["inference_precision_forced"] is False and rt["performance_hint"] == "LATENCY"
    assert rt["inference_num_threads"] == "1"


def test_same_tflite_on_the_interpreter_and_the_compiled_model(tiny_tflite: Path) -> None:
    pytest.importorskip("ai_edge_litert.compiled_model")
    x = np.random.default_rng(2).standard_normal((1, 16)).astype(np.float32)
    outs = {}
    for runtime in ("tflite", "litert-compiled"):
        backend = make_backend(_spec(tiny_tflite, "tflite", runtime))
        loaded = backend.load(str(tiny_tflite))
        outs[runtime] = backend.run({loaded.inputs[0].name: x})[0]
        backend.close()
    np.testing.assert_allclose(outs["litert-compiled"], outs["tflite"], rtol=1e-5, atol=1e-6)
    res = run_job(_spec(tiny_tflite, "tflite", "litert-compiled"))
    assert res["status"] == "ok", res.get("error")
    assert res["runtime"]["name"] == "litert-compiled" and res["runtime"]["accelerator"] == "cpu"


def test_an_absent_accelerator_fails_the_job_with_litert_s_reason(tiny_tflite: Path) -> None:
    """No WebGPU adapter / no NPU dispatch library here: the job says so, it never runs
    on the CPU under the GPU's name."""
    pytest.importorskip("ai_edge_litert.compiled_model")
    res = run_job(_spec(tiny_tflite, "tflite", "litert-compiled",
                        runtime_options={"accelerator": "npu"}))
    if res["status"] == "ok":
        pytest.skip("this machine has an NPU LiteRT can dispatch to")
    assert res["error"]["kind"] == "no_runtime"
    assert res["error"]["message"].startswith("NPU accelerator: ")


def test_executorch_runs_a_pte_program_like_torch(tmp_path: Path) -> None:
    """Where executorch is installed (scripts/setup.sh does: the runtimes extra), a .pte
    exported here through XNNPACK runs through the agent, matches torch, and says it ran
    on the XNNPACK delegate in fp32."""
    pytest.importorskip("executorch.runtime")
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 4), torch.nn.ReLU()).eval()
    x = torch.randn(1, 16)
    program = to_edge_transform_and_lower(torch.export.export(model, (x,)),
                                          partitioner=[XnnpackPartitioner()]).to_executorch()
    pte = tmp_path / "m.pte"
    pte.write_bytes(program.buffer)
    backend = make_backend(_spec(pte, "pte"))
    loaded = backend.load(str(pte))
    out = backend.run({loaded.inputs[0].name: x.numpy()})[0]
    np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    res = run_job(_spec(pte, "pte"))
    assert res["status"] == "ok", res.get("error")
    assert res["runtime"]["name"] == "executorch" and "XnnpackBackend" in res["runtime"]["backends"]
    assert res["runtime"]["delegates"] == ["XnnpackBackend"]
    assert res["runtime"]["execution_precision"] == "fp32"
    assert res["runtime"]["xnnpack_ops"] == {"XNNFullyConnected": 1}
