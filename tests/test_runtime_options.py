"""Runtime options per model (issue 15): a model's ``runtime_options`` lie over the suite's
block for that model's jobs only, and a bad one is one line naming model, runtime, key."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from edgebench.config import LOCAL_DEVICE, load_suite
from edgebench.errors import ConfigError
from edgebench.plan import job_spec

SUITE = {
    "name": "opts", "runtimes": ["onnxruntime", "openvino", "tflite"],
    "models": [
        {"name": "a", "builtin": "digits-cnn", "formats": ["onnx", "tflite"],
         "runtime_options": {"openvino": {"inference_precision": "bf16", "threads": 2},
                             "onnxruntime": {"graph_optimization_level": "basic"},
                             "tflite": {"use_xnnpack": False}}},
        {"name": "b", "builtin": "digits-cnn", "formats": ["onnx"]},
    ],
    "openvino": {"inference_precision": "f32", "performance_hint": "THROUGHPUT"},
}


def _suite(tmp_path: Path, **model_a: object) -> Path:
    doc = yaml.safe_load(yaml.safe_dump(SUITE))
    doc["models"][0].update(model_a)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _spec(suite: object, model: str, fmt: str, runtime: str) -> dict:
    art = SimpleNamespace(model=model, format=fmt, path=Path("m"), manifest={})
    return job_spec(suite, LOCAL_DEVICE, art, "j", runtime)  # type: ignore[arg-type]


def test_a_model_s_options_override_the_suite_s_for_its_jobs_only(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path))
    a = _spec(suite, "a", "onnx", "openvino")
    assert a["runtime_options"] == {"device": "CPU", "performance_hint": "THROUGHPUT",
                                    "inference_precision": "bf16"} and a["threads"] == 2
    b = _spec(suite, "b", "onnx", "openvino")
    assert b["runtime_options"]["inference_precision"] == "f32" and b["threads"] == 1
    assert _spec(suite, "a", "onnx", "onnxruntime")["graph_optimization_level"] == "basic"
    assert _spec(suite, "b", "onnx", "onnxruntime")["graph_optimization_level"] == "all"
    assert _spec(suite, "a", "tflite", "tflite")["use_xnnpack"] is False


@pytest.mark.parametrize("options, message", [
    ({"openvino": {"precision": "bf16"}}, "model 'a': runtime_options.openvino.precision: unknown key"),
    ({"openvino": {"inference_precision": "f64"}},
     "model 'a': runtime_options.openvino.inference_precision: Input should be"),
    ({"executorch": {"method": "forward"}},
     "model 'a': runtime_options.executorch: the model does not run on executorch (it runs on: "
     "onnxruntime, openvino, tflite)"),
    ({"tvm": {}}, "models[0].runtime_options: unknown runtime(s) tvm (known: onnxruntime"),
])
def test_a_bad_model_option_is_one_clear_line(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_suite(_suite(tmp_path, runtime_options=options))
    line = err.value.one_line()
    assert message in line and "\n" not in line and str(tmp_path / "s.yaml") in line


def test_a_model_s_runtimes_replace_the_suite_s(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, runtimes=["openvino"], runtime_options={}, formats=["onnx"]))
    a, b = suite.models
    assert suite.model_runtimes(a, "onnx") == ["openvino"]
    assert suite.model_runtimes(b, "onnx") == ["onnxruntime", "openvino"]
