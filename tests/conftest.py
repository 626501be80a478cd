"""Shared fixtures: small real model files built in code, and the device lab plugin."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest_plugins = ["tests.lab.plugin"]


def require_real(*modules: str) -> None:
    """Skip when a real-model extra is missing -- unless CI demands them
    (EDGEBENCH_REQUIRE_REAL=1, set by .ci/run), then fail: `scripts/setup.sh --dev`
    installs them, so a skip there would hide a broken install."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reason = f"needs {', '.join(missing)} (bash scripts/setup.sh --real)"
    if os.environ.get("EDGEBENCH_REQUIRE_REAL") == "1":
        pytest.fail(f"EDGEBENCH_REQUIRE_REAL=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def make_mlp_onnx(path: Path, *, n: int = 64, dtype: str = "float32", dynamic: bool = True) -> Path:
    """A MatMul+Relu model: real ONNX, opset 17, dynamic batch unless told otherwise."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16}[dtype]
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((n, n)).astype(dtype), "W")
    batch = "N" if dynamic else 1
    x = helper.make_tensor_value_info("x", elem, [batch, n])
    y = helper.make_tensor_value_info("y", elem, [batch, n])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["h"]),
                               helper.make_node("Relu", ["h"], ["y"])], "mlp", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def two_output_onnx(path: Path) -> Path:
    """x [N, 4] -> 'first' = x * 1, 'second' = x * W (W: a fixed 4x3 matrix)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0, "W")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    outs = [helper.make_tensor_value_info("first", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("second", TensorProto.FLOAT, ["N", 3])]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["first"]),
                               helper.make_node("MatMul", ["x", "W"], ["second"])],
                              "two", [x], outs, [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def mlp_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mlp_onnx(tmp_path_factory.mktemp("models") / "mlp.onnx")


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dense layer converted by the real TFLite converter (float32, [1, 16] -> [1, 4])."""
    tf = pytest.importorskip("tensorflow")
    w = tf.constant(np.random.default_rng(1).standard_normal((16, 4)).astype("float32"))

    @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32, name="x")])
    def f(x):  # noqa: ANN001
        return {"y": tf.nn.relu(tf.matmul(x, w))}

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    path = tmp_path_factory.mktemp("models") / "dense.tflite"
    path.write_bytes(conv.convert())
    return path
