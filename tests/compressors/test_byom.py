"""Bring your own model (issue 13): models with several inputs, 0-d / int64 inputs, dynamic
dims, already-quantized files and crashing toolchains, built and judged without gaps.

Figures are checked against a direct onnxruntime computation on the same samples."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from byom_models import (
    cosine,
    fcn_model,
    ort_outputs,
    stateful_data,
    stateful_model,
    transformer_data,
    transformer_model,
)
from ebhelpers import build, ok

from edgebench.recipes import ModelSpec, VariantSpec
from edgebench.variants import build_variants

DYNAMIC_INT8 = {"name": "int8-dyn", "steps": [{"quantize": {"mode": "dynamic"}}]}
DYNAMIC_UINT8 = {"name": "uint8-dyn", "steps": [{"quantize": {"mode": "dynamic", "weight_type": "uint8"}}]}
FP16 = {"name": "fp16", "steps": [{"quantize": {"mode": "fp16"}}]}


@pytest.fixture(scope="module")
def vad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("vad")
    return stateful_model(root / "vad.onnx"), stateful_data(root / "vad.npz")


def _eval_samples(data: Path) -> dict[str, np.ndarray]:
    from edgebench.datasets import load_npz_dataset

    return load_npz_dataset(data).x_eval


def test_stateful_model_with_an_npz_per_input_name(eb_cache: Path, vad: tuple[Path, Path]) -> None:
    model, data = vad
    arts = build(eb_cache, [{"name": "fp32"}, DYNAMIC_INT8, DYNAMIC_UINT8, FP16],
                 name="vad", path=str(model), data=str(data))
    fp32 = ok(arts[("fp32", "onnx")])
    assert [(i["name"], i["shape"], i["source"]) for i in fp32["inputs"]] == [
        ("input", [1, 512], "data"), ("state", [2, 1, 128], "data"), ("sr", [], "data")]
    # the figures, recomputed with onnxruntime on the same evaluation samples
    samples = _eval_samples(data)
    n = len(samples["sr"])
    feeds = [{k: np.asarray(v[i]) for k, v in samples.items()} for i in range(n)]
    ref = np.stack([ort_outputs(model, f)[0] for f in feeds])
    for variant in ("int8-dyn", "uint8-dyn", "fp16"):
        m = ok(arts[(variant, "onnx")])
        q = m["quality"]
        assert set(q["outputs"]) == {"output", "stateN"} and q["judged_output"] == "output"
        for f in q["outputs"].values():
            assert f["cosine"] is not None and f["max_abs_diff"] is not None
        out = np.stack([ort_outputs(arts[(variant, "onnx")].path, f)[0] for f in feeds])
        assert m["cosine"] == pytest.approx(cosine(out, ref), abs=1e-6)
        assert q["outputs"]["output"]["max_abs_diff"] == pytest.approx(float(np.abs(out - ref).max()), rel=1e-5)
    assert ok(arts[("fp16", "onnx")])["cosine"] > 0.999
    assert not any("QUALITY LOSS" in w for w in ok(arts[("fp16", "onnx")])["warnings"])
    for variant in ("int8-dyn", "uint8-dyn"):  # the outlier weight zeroes the rest: collapse
        m = ok(arts[(variant, "onnx")])
        assert m["cosine"] < 0.9 and m["quantized_op_count"] > 0
        assert any(w.startswith("QUALITY LOSS: outputs' cosine") for w in m["warnings"])
    # what the device reads: whole samples per input name, the 0-d sr included
    from edgebench.agent.backends.base import TensorInfo
    from edgebench.agent.inputs import make_feed

    art = arts[("int8-dyn", "onnx")]
    with np.load(art.input_npz) as saved:
        assert saved["sr"].shape == (8,) and saved["state"].shape == (8, 2, 1, 128)
    infos = [TensorInfo("input", [1, None], "float32"), TensorInfo("state", [2, 1, 128], "float32"),
             TensorInfo("sr", [], "int64")]
    feed = make_feed(infos, seed=0, shapes={"input": [1, 512]}, default_dim=1, npz_path=str(art.input_npz))
    assert feed["sr"].shape == () and int(feed["sr"]) == 16000 and feed["input"].shape == (1, 512)


def test_constants_and_fills_per_input(eb_cache: Path, vad: tuple[Path, Path], tmp_path: Path) -> None:
    """``inputs: {sr: 16000, state: zeros}`` with data for ``input`` only; the value of sr
    picks the branch, and a changed value is another cache key, not a reused file."""
    model, data = vad
    with np.load(data) as full:
        np.savez(tmp_path / "audio.npz", input=full["input"])
    built = {}
    for sr in (16000, 8000):
        arts = build(eb_cache, [{"name": "fp32"}], name="vad-const", path=str(model),
                     data=str(tmp_path / "audio.npz"), inputs={"sr": sr, "state": "zeros"})
        built[sr] = arts[("fp32", "onnx")]
        plans = {i["name"]: i for i in ok(built[sr])["inputs"]}
        assert plans["sr"]["source"] == "value" and plans["sr"]["value"] == sr
        assert plans["state"]["source"] == "zeros" and plans["input"]["source"] == "data"
    assert built[16000].path != built[8000].path
    with np.load(built[16000].eval_npz) as ev16, np.load(built[8000].eval_npz) as ev8:
        first = {"input": ev16["input:input"][0], "state": np.zeros((2, 1, 128), np.float32),
                 "sr": np.array(16000, np.int64)}
        np.testing.assert_allclose(ev16["ref:output"][0], ort_outputs(model, first)[0], rtol=1e-5)
        np.testing.assert_allclose(ev8["ref:output"][0], -ev16["ref:output"][0], rtol=1e-5)  # the other branch


def test_misspelled_input_names_list_the_real_ones(eb_cache: Path, vad: tuple[Path, Path]) -> None:
    model, data = vad
    arts = build(eb_cache, [{"name": "fp32"}], name="vad-typo", path=str(model), inputs={"srate": 16000})
    assert "'inputs' names 'srate', but the model's inputs are 'input', 'state', 'sr'" in arts[("fp32", "onnx")].error
    arts = build(eb_cache, [{"name": "fp32"}], name="vad-typo", path=str(model),
                 input_shapes={"inputs": [1, 512]})
    assert "'input_shapes' names 'inputs'" in arts[("fp32", "onnx")].error


def test_without_data_every_input_gets_seeded_samples_and_the_scalar_is_named(
        eb_cache: Path, vad: tuple[Path, Path]) -> None:
    model, _ = vad
    arts = build(eb_cache, [{"name": "fp32"}, FP16], name="vad-nodata", path=str(model),
                 input_shapes={"input": [1, 256]})
    m = ok(arts[("fp16", "onnx")])
    assert m["cosine"] > 0.999 and m["inputs"][0]["shape"] == [1, 256]
    assert any("input 'sr' (int64 []) has no data and no value" in w and "inputs: {sr: VALUE}" in w
               for w in m["warnings"])
    unset = build(eb_cache, [{"name": "fp32"}], name="vad-nodata2", path=str(model))
    assert "input 'input' [1, ?]: dim 1 is dynamic" in unset[("fp32", "onnx")].error


def test_three_input_transformer(eb_cache: Path, tmp_path: Path) -> None:
    model = transformer_model(tmp_path / "bert.onnx")
    data = transformer_data(tmp_path / "bert.npz")
    arts = build(eb_cache, [{"name": "fp32"}, DYNAMIC_INT8, FP16], name="bert", path=str(model), data=str(data))
    samples = _eval_samples(data)
    ref = np.stack([ort_outputs(model, {k: np.asarray(v[i]) for k, v in samples.items()})[0]
                    for i in range(len(samples["input_ids"]))])
    with np.load(arts[("fp32", "onnx")].eval_npz) as ev:
        np.testing.assert_allclose(ev["ref:embedding"], ref, rtol=1e-5)
    for variant in ("int8-dyn", "fp16"):
        m = ok(arts[(variant, "onnx")])
        assert m["cosine"] is not None and m["cosine"] > 0.95
        assert [i["shape"] for i in m["inputs"]] == [[1, 16]] * 3
    seeded = build(eb_cache, [{"name": "fp32"}, DYNAMIC_INT8], name="bert-nodata", path=str(model),
                   input_shapes={n: [1, 8] for n in ("input_ids", "attention_mask", "token_type_ids")},
                   inputs={"attention_mask": "ones", "token_type_ids": "zeros"})
    assert ok(seeded[("int8-dyn", "onnx")])["cosine"] > 0.95


def _suite(model: dict[str, Any], variants: list[dict[str, Any]], **benchmark: Any) -> SimpleNamespace:
    return SimpleNamespace(name="t", models=[ModelSpec(**model)],
                           variants=[VariantSpec(**v) for v in variants],
                           benchmark=SimpleNamespace(**benchmark))


def test_detector_with_dynamic_h_w_judged_at_the_suites_shape(eb_cache: Path, tmp_path: Path) -> None:
    model = fcn_model(tmp_path / "fcn.onnx")
    variants = [{"name": "fp32"}, DYNAMIC_INT8,
                {"name": "int8-static", "steps": [{"quantize": {"mode": "static", "calibration": "random",
                                                                "calibration_samples": 8}}]}]
    arts = {(a.variant, a.format): a for a in build_variants(
        _suite({"name": "fcn", "path": str(model)}, variants, input_shapes={"x": [1, 3, 40, 56]}),
        cache_dir=eb_cache)}
    for variant in ("fp32", "int8-dyn", "int8-static"):
        m = ok(arts[(variant, "onnx")])
        assert m["inputs"][0]["shape"] == [1, 3, 40, 56] and m["inputs"][0]["shape_from"] == "suite"
        assert m["cosine"] is not None and m["cosine"] > 0.98
    assert ok(arts[("int8-static", "onnx")])["quantized_op_count"] >= 2
    with np.load(arts[("fp32", "onnx")].eval_npz) as ev:
        assert ev["ref:y"].shape[1:] == (1, 4, 40, 56)
    from edgebench.plan import _resolved_shapes

    assert _resolved_shapes(arts[("int8-static", "onnx")]) == {"x": [1, 3, 40, 56]}
    # a one-model suite: a name the model lacks is a misspelling
    typo = build_variants(_suite({"name": "fcn", "path": str(model)}, [{"name": "fp32"}],
                                 input_shapes={"images": [1, 3, 40, 56]}), cache_dir=eb_cache)
    assert "benchmark.input_shapes names 'images', but the model's inputs are 'x'" in typo[0].error
    # the data's own shape resolves the dims when the suite does not
    np.savez(tmp_path / "imgs.npz", x=np.random.default_rng(0).standard_normal((4, 1, 3, 24, 32)).astype(np.float32))
    from_data = build(eb_cache, [{"name": "fp32"}], name="fcn-data", path=str(model), data=str(tmp_path / "imgs.npz"))
    plan = ok(from_data[("fp32", "onnx")])["inputs"][0]
    assert plan["shape"] == [1, 3, 24, 32] and plan["shape_from"] == "data"
    # a model-level input_shape is used (and keys the cache), no longer silently ignored
    own = build(eb_cache, [{"name": "fp32"}], name="fcn-own", path=str(model), input_shape=[1, 3, 16, 20])
    assert ok(own[("fp32", "onnx")])["inputs"][0]["shape"] == [1, 3, 16, 20]
    assert own[("fp32", "onnx")].path != from_data[("fp32", "onnx")].path


def test_a_segfaulting_step_fails_only_its_variant(eb_cache: Path, vad: tuple[Path, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_TEST_STEPS", "1")
    model, data = vad
    variants = [{"name": "fp32"}, {"name": "int8-crash", "steps": [{"test-crash": {}}]}, FP16]
    said: list[str] = []
    spec = ModelSpec(name="vad-crash", path=str(model), data=str(data))
    suite = SimpleNamespace(name="t", models=[spec], variants=[VariantSpec(**v) for v in variants])
    arts = {a.variant: a for a in build_variants(suite, cache_dir=eb_cache, progress=said.append)}
    assert arts["int8-crash"].error == "step test-crash killed by signal 11 (SIGSEGV)"
    assert ok(arts["fp16"])["cosine"] > 0.999 and ok(arts["fp32"])["cosine"] == 1.0
    # again: the built variants come from the cache; the crashing one crashes alone again
    said.clear()
    again = {a.variant: a for a in build_variants(suite, cache_dir=eb_cache, progress=said.append)}
    assert "vad-crash/fp16 [onnx]: cached" in said and "vad-crash/fp32 [onnx]: cached" in said
    assert "SIGSEGV" in again["int8-crash"].error and again["fp16"].path == arts["fp16"].path


def test_already_quantized_tflite_is_noop_not_a_bigger_file(eb_cache: Path, tiny_tflite: Path) -> None:
    static = {"name": "int8", "steps": [{"quantize": {"mode": "static", "calibration": "random",
                                                      "calibration_samples": 8}}]}
    int8 = ok(build(eb_cache, [{"name": "fp32"}, static], name="tiny", path=str(tiny_tflite))[("int8", "tflite")])
    assert int8["quantized_op_count"] >= 1
    arts = build(eb_cache, [{"name": "fp32"}, FP16, DYNAMIC_INT8], name="tiny-int8", path=int8["path"])
    source_size = Path(int8["path"]).stat().st_size
    for variant in ("fp16", "int8-dyn"):
        m = ok(arts[(variant, "tflite")])
        assert m["noop"] and "already quantized" in m["noop_reason"]
        assert m["size_bytes"] == source_size and m["cosine"] == pytest.approx(1.0)
        assert any("byte-identical to variant 'fp32'" in w for w in m["warnings"])


def test_identical_files_say_so(eb_cache: Path, vad: tuple[Path, Path]) -> None:
    model, data = vad
    twin = {"name": "int8-dyn-rr", "steps": [{"quantize": {"mode": "dynamic", "reduce_range": False}}]}
    arts = build(eb_cache, [{"name": "fp32"}, DYNAMIC_INT8, twin], name="vad", path=str(model), data=str(data))
    m = ok(arts[("int8-dyn-rr", "onnx")])
    assert m["identical_to"] == "int8-dyn"
    assert "identical_to" not in ok(arts[("int8-dyn", "onnx")])


def test_degenerate_outputs_have_defined_fidelity() -> None:
    from edgebench import quality
    from edgebench.compressors.evaluate import fidelity

    zeros = np.zeros((4, 10), np.float32)
    f = fidelity(zeros, zeros)
    assert f["cosine"] == 1.0 and f["max_abs_diff"] == 0.0 and f["relative_error"] == 0.0
    assert not quality.fidelity_lost(None, f["cosine"], f["relative_error"])
    ref = np.full((4, 1), 1.0, np.float32)
    wrong = ref - 0.99  # one value per sample: any two scalars of one sign have cosine 1
    f = fidelity(wrong, ref)
    assert f["cosine"] is None and "one value per sample" in f["note"]
    assert f["relative_error"] == pytest.approx(0.99) and quality.fidelity_lost(None, None, f["relative_error"])
    assert fidelity(np.ones((2, 3)), None, "the fp32 baseline was not built (boom)")["note"].startswith("the fp32")
    assert quality.within_fidelity_budget(0.995) and not quality.within_fidelity_budget(None)


def test_skip_reasons_and_custom_ops_are_named() -> None:
    from edgebench.compressors.quantize_onnx import reason
    from edgebench.compressors.tflite_compat import check_compat_2_14
    from edgebench.errors import CompressionError

    try:
        raise AssertionError  # no message, as onnxruntime's bare asserts
    except AssertionError as exc:
        text = reason(exc)
    assert text.startswith("AssertionError()") and "test_byom.py" in text
    with pytest.raises(CompressionError, match="CUSTOM:Convolution2DTransposeBias"):
        check_compat_2_14({"CONV_2D": 1, "CUSTOM:Convolution2DTransposeBias": 1})


def test_a_hanging_step_is_killed_at_the_time_limit(eb_cache: Path, vad: tuple[Path, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit counts from the variant's start, not the child's imports, so a slow
    machine only makes this test slower: the step hangs for an hour."""
    import edgebench.variants as variants

    monkeypatch.setenv("EDGEBENCH_TEST_STEPS", "1")
    monkeypatch.setattr(variants, "BUILD_TIMEOUT_S", 10.0)  # fp32 and fp16 build in ~1 s
    model, data = vad
    arts = build(eb_cache, [{"name": "fp32"}, {"name": "stuck", "steps": [{"test-hang": {}}]}, FP16],
                 name="vad-hang", path=str(model), data=str(data))
    assert "step test-hang timed out after" in arts[("stuck", "onnx")].error
    assert "EDGEBENCH_BUILD_TIMEOUT_S=10" in arts[("stuck", "onnx")].error
    assert ok(arts[("fp16", "onnx")])["cosine"] > 0.999
