"""Quantization on real toolchains: digits-cnn (both formats), ResNet-8, and robustness graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ebhelpers import build, ok
from onnx_models import constant_weight_model, custom_op_model, dynamic_dims_model, if_model, strip_tflite_signatures

QUANT = [
    {"name": "fp32"},
    {"name": "int8-dynamic", "steps": [{"quantize": {"mode": "dynamic"}}]},
    {"name": "int8-static", "steps": [{"quantize": {"mode": "static"}}]},
    {"name": "fp16", "steps": [{"quantize": {"mode": "fp16"}}]},
]


@pytest.fixture(scope="module")
def digits(eb_cache: Path) -> dict:
    return build(eb_cache, QUANT)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_digits_int8_static_meets_size_and_accuracy(digits: dict, fmt: str) -> None:
    fp32, int8 = ok(digits[("fp32", fmt)]), ok(digits[("int8-static", fmt)])
    assert int8["size_bytes"] <= 0.30 * fp32["size_bytes"]
    assert int8["accuracy_delta"] >= -1.0
    assert int8["accuracy"] == pytest.approx(fp32["accuracy"] + int8["accuracy_delta"])
    assert int8["noop"] is False and int8["quantized_op_count"] >= 4
    assert int8["top1_agreement"] >= 0.97 and int8["cosine"] > 0.99
    assert int8["macs"] == fp32["macs"] and int8["params"] == fp32["params"]
    step = int8["steps"][0]
    assert step["calibration"] == {"source": "digits", "samples": 100}


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_digits_dynamic_and_fp16(digits: dict, fmt: str) -> None:
    fp32 = ok(digits[("fp32", fmt)])
    dyn, half = ok(digits[("int8-dynamic", fmt)]), ok(digits[("fp16", fmt)])
    assert dyn["quantized_op_count"] >= 2 and not dyn["noop"]
    assert dyn["size_bytes"] < 0.35 * fp32["size_bytes"]
    assert sum(half["fp16_ops"].values()) >= 4 and not half["noop"]
    assert 0.45 < half["size_bytes"] / fp32["size_bytes"] < 0.56
    assert half["accuracy_delta"] >= -0.5
    inputs = half["io"]["inputs"][0]
    assert inputs["dtype"] == "float32"  # fp16 keeps float32 I/O


def test_tflite_int8_io_eval_data_is_quantized(eb_cache: Path) -> None:
    arts = build(eb_cache, [{"name": "int8-io", "steps": [{"quantize": {"mode": "static", "io_type": "int8"}}]}],
                 formats=["tflite"])
    art = arts[("int8-io", "tflite")]
    m = ok(art)
    assert m["io"]["inputs"][0]["dtype"] == "int8" and m["io"]["inputs"][0]["scale"] > 0
    with np.load(art.eval_npz) as ev:
        assert ev["x"].dtype == np.int8 and ev["x"].shape[1:] == (8, 8, 1)
    assert m["accuracy_delta"] >= -1.0


def test_resnet8_onnx_int8_static_size(eb_cache: Path) -> None:
    arts = build(eb_cache, QUANT[:1] + QUANT[2:3], builtin="resnet8", formats=["onnx"])
    fp32, int8 = ok(arts[("fp32", "onnx")]), ok(arts[("int8-static", "onnx")])
    assert int8["size_bytes"] <= 0.27 * fp32["size_bytes"]
    assert int8["cosine"] > 0.98
    assert any("synthetic" in w for w in int8["warnings"])


def test_if_subgraph_compute_is_flagged_noop(eb_cache: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = if_model(tmp_path / "if.onnx")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    arts = build(eb_cache, [{"name": "dyn", "steps": [{"quantize": {"mode": "dynamic"}}]}],
                 name="if-model", path=str(path))
    m = ok(arts[("dyn", "onnx")])
    assert m["noop"] is True
    assert "If/Loop/Scan" in m["noop_reason"]
    assert m["quantized_op_count"] == 0
    # onnxruntime's shape inference gives up on this graph and dumps its temp model into
    # the current directory: none of that may land in the user's working tree
    assert list(cwd.iterdir()) == []


def test_constant_node_weights_and_external_data_are_quantized(eb_cache: Path, tmp_path: Path) -> None:
    path = constant_weight_model(tmp_path / "ext.onnx", external=True)
    assert (tmp_path / "ext.onnx.data").exists()
    arts = build(eb_cache, [{"name": "fp32"}, {"name": "dyn", "steps": [{"quantize": {"mode": "dynamic"}}]}],
                 name="const-model", path=str(path))
    m = ok(arts[("dyn", "onnx")])
    assert m["noop"] is False and m["quantized_ops"] == {"MatMulInteger": 2}
    assert any("Constant nodes turned into initializers" in w for w in m["warnings"])
    assert any("random inputs" in w for w in m["warnings"])  # no data given
    assert m["cosine"] > 0.99
    assert m["size_bytes"] < 0.4 * ok(arts[("fp32", "onnx")])["size_bytes"]


def test_fp16_weights_already_is_noop(eb_cache: Path, tmp_path: Path) -> None:
    path = constant_weight_model(tmp_path / "half.onnx", dtype=np.float16)
    arts = build(eb_cache, [{"name": "fp16", "steps": [{"quantize": {"mode": "fp16"}}]}],
                 name="half-model", path=str(path))
    m = ok(arts[("fp16", "onnx")])
    assert m["noop"] is True and "no float Conv/Gemm/MatMul" in m["noop_reason"]


def test_static_on_file_without_data_needs_explicit_random(eb_cache: Path, tmp_path: Path) -> None:
    path = constant_weight_model(tmp_path / "plain.onnx")
    arts = build(eb_cache, [
        {"name": "static", "steps": [{"quantize": {"mode": "static"}}]},
        {"name": "static-rand", "steps": [{"quantize": {"mode": "static", "calibration": "random"}}]},
        {"name": "prune", "steps": [{"prune": {}}]},
    ], name="plain", path=str(path))
    assert "calibration" in arts[("static", "onnx")].error
    m = ok(arts[("static-rand", "onnx")])
    assert any("RANDOM inputs" in w for w in m["warnings"]) and not m["noop"]
    assert "only 'quantize'" in arts[("prune", "onnx")].error


def test_unknown_step_parameter_fails_at_suite_load() -> None:
    from pydantic import ValidationError

    from edgebench.recipes import VariantSpec

    with pytest.raises(ValidationError, match="mdoe"):
        VariantSpec(name="typo", steps=[{"quantize": {"mdoe": "static"}}])
    with pytest.raises(ValidationError, match="sparsity"):
        VariantSpec(name="bad", steps=[{"prune": {"sparsity": 1.5}}])


def test_format_specific_mode_is_a_variant_error(eb_cache: Path) -> None:
    arts = build(eb_cache, [{"name": "x", "steps": [{"quantize": {"mode": "int16x8"}}]}], formats=["onnx"])
    assert "TFLite-only" in arts[("x", "onnx")].error


def test_tflite_runtime_2_14_compat_lowers_fully_connected(eb_cache: Path) -> None:
    """TF 2.21 dynamic range emits FULLY_CONNECTED v12, which tflite-runtime 2.14.0 rejects
    (measured with the 2.14.0 wheel); compat keeps dense weights per tensor (v9)."""
    from edgebench.compressors.tflite_compat import TFLITE_2_14_MAX_VERSIONS

    arts = build(eb_cache, [
        {"name": "dyn", "steps": [{"quantize": {"mode": "dynamic"}}]},
        {"name": "dyn-214", "steps": [{"quantize": {"mode": "dynamic", "compat": "tflite-runtime-2.14"}}]},
    ], formats=["tflite"])
    plain = ok(arts[("dyn", "tflite")])["steps"][0]["op_versions"]
    compat = ok(arts[("dyn-214", "tflite")])
    assert plain["FULLY_CONNECTED"] > TFLITE_2_14_MAX_VERSIONS["FULLY_CONNECTED"]
    versions = compat["steps"][0]["op_versions"]
    assert all(v <= TFLITE_2_14_MAX_VERSIONS[op] for op, v in versions.items())
    assert compat["quantized_op_count"] >= 2 and compat["accuracy_delta"] >= -1.0


def test_custom_op_the_runtime_lacks_is_a_variant_error(eb_cache: Path, tmp_path: Path) -> None:
    path = custom_op_model(tmp_path / "custom.onnx")
    arts = build(eb_cache, [{"name": "fp32"}, {"name": "dyn", "steps": [{"quantize": {}}]}],
                 name="custom", path=str(path))
    for key in (("fp32", "onnx"), ("dyn", "onnx")):
        assert arts[key].path is None and "Frobnicate" in arts[key].error


def test_dynamic_input_dims(eb_cache: Path, tmp_path: Path) -> None:
    """A dynamic dim other than the batch is never guessed: unset, it is an error naming
    the input and the key; set with input_shapes, every figure is measured at that shape."""
    path = dynamic_dims_model(tmp_path / "dyn.onnx")
    variants = [
        {"name": "fp32"},
        {"name": "dyn", "steps": [{"quantize": {}}]},
        {"name": "static", "steps": [{"quantize": {"mode": "static", "calibration": "random"}}]},
    ]
    unset = build(eb_cache, variants, name="dyn-dims", path=str(path))
    assert "input 'x' [?, ?, 64]: dim 1 is dynamic" in unset[("fp32", "onnx")].error
    assert "input_shapes: {x: [...]}" in unset[("dyn", "onnx")].error
    arts = build(eb_cache, variants, name="dyn-dims", path=str(path), input_shapes={"x": [1, 16, 64]})
    for variant in ("dyn", "static"):
        m = ok(arts[(variant, "onnx")])
        assert not m["noop"] and m["cosine"] > 0.99
        assert m["inputs"][0]["shape"] == [1, 16, 64] and m["inputs"][0]["shape_from"] == "suite"
    assert ok(arts[("fp32", "onnx")])["io"]["inputs"][0]["shape"] == ["batch", "seq", 64]


def test_tflite_without_signature(eb_cache: Path, tmp_path: Path) -> None:
    fp32 = build(eb_cache, [{"name": "fp32"}], formats=["tflite"])[("fp32", "tflite")]
    bare = strip_tflite_signatures(fp32.path, tmp_path / "bare.tflite")
    m = ok(build(eb_cache, [{"name": "fp32"}], name="bare", path=str(bare), data="digits")[("fp32", "tflite")])
    assert m["has_signature"] is False and ok(fp32)["has_signature"] is True
    assert m["accuracy"] == pytest.approx(ok(fp32)["accuracy"])
