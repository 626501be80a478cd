"""User sources: PyTorch factory, Keras file, TFLite file, with user .npz data."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from ebhelpers import build, ok

from tests.conftest import require_real

TORCH_MODULE = '''
import torch
from torch import nn

def make():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))
'''


@pytest.fixture(scope="module")
def npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 20)).astype(np.float32)
    y = (x[:, :4].argmax(1)).astype(np.int64)  # learnable labels
    path = tmp_path_factory.mktemp("data") / "data.npz"
    np.savez(path, x=x, y=y)
    return path


def test_torch_factory_source(eb_cache: Path, npz: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "usernet.py").write_text(TORCH_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    arts = build(eb_cache, [
        {"name": "fp32"},
        {"name": "int8", "steps": [{"quantize": {"mode": "static"}}]},
        {"name": "pruned", "steps": [{"prune": {"kind": "structured", "sparsity": 0.5}}]},
        {"name": "student", "steps": [{"distill": {}}]},
    ], name="usernet", torch="usernet:make", input_shape=[1, 20], data=str(npz))
    fp32 = ok(arts[("fp32", "onnx")])
    assert fp32["params"] == 20 * 64 + 64 + 64 * 32 + 32 + 32 * 4 + 4
    assert fp32["accuracy"] is not None and fp32["eval_data"] == "npz:data.npz"
    assert ok(arts[("int8", "onnx")])["quantized_op_count"] >= 3
    assert ok(arts[("pruned", "onnx")])["params"] < 0.4 * fp32["params"]
    assert "built-in teacher" in arts[("student", "onnx")].error


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(4)])
    path = tmp_path_factory.mktemp("keras") / "user.keras"
    model.save(path)
    return path


def test_keras_file_then_tflite_file(eb_cache: Path, npz: Path, keras_file: Path) -> None:
    arts = build(eb_cache, [
        {"name": "fp32"},
        {"name": "int8", "steps": [{"quantize": {"mode": "static"}}]},
    ], name="userkeras", path=str(keras_file), data=str(npz))
    fp32, int8 = ok(arts[("fp32", "tflite")]), ok(arts[("int8", "tflite")])
    assert fp32["params"] == 20 * 64 + 64 * 4  # the converter drops the all-zero biases
    assert int8["quantized_op_count"] == 2 and int8["cosine"] > 0.99

    tfl = arts[("fp32", "tflite")].path
    arts2 = build(eb_cache, [
        {"name": "fp32"},
        {"name": "int8", "steps": [{"quantize": {"mode": "dynamic"}}]},
        {"name": "onnx-too", "formats": ["onnx"]},
    ], name="usertflite", path=str(tfl), data=str(npz))
    assert ok(arts2[("fp32", "tflite")])["sha256"] == fp32["sha256"]  # benchmarked as is
    if importlib.util.find_spec("ai_edge_quantizer") is None:  # the 'real' extra
        assert "pip install ai-edge-quantizer" in arts2[("int8", "tflite")].error
        require_real("ai_edge_quantizer")  # CI installs it: there, this fails instead
    # a .tflite file is quantized by ai-edge-quantizer (test_quantize_tflite_file.py)
    assert ok(arts2[("int8", "tflite")])["quantized_op_count"] == 2
    assert ("onnx-too", "onnx") not in arts2  # a .tflite file has no ONNX form


def test_broken_model_file_is_an_error_per_variant(eb_cache: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a protobuf")
    arts = build(eb_cache, [{"name": "fp32"}, {"name": "dyn", "steps": [{"quantize": {}}]}],
                 name="broken", path=str(bad))
    assert arts[("fp32", "onnx")].error and arts[("dyn", "onnx")].error
