"""build_variants end to end on the built-in digits-cnn (real PyTorch/ONNX and Keras/TFLite)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgebench.recipes import ModelSpec, VariantSpec
from edgebench.variants import Artifact, build_variants


@pytest.fixture(scope="session")
def eb_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the whole session, so the built-in is trained once."""
    return tmp_path_factory.getbasetemp() / "ebcache"


def _suite(*variants: VariantSpec, formats: list[str] | None = None) -> SimpleNamespace:
    model = ModelSpec(name="digits-cnn", builtin="digits-cnn", formats=formats)
    return SimpleNamespace(name="t", models=[model], variants=list(variants))


def test_fp32_both_formats_measured_and_cached(eb_cache: Path) -> None:
    suite = _suite(VariantSpec(name="fp32"))
    arts = build_variants(suite, cache_dir=eb_cache)
    assert [(a.format, a.variant) for a in arts] == [("onnx", "fp32"), ("tflite", "fp32")]
    for a in arts:
        assert isinstance(a, Artifact) and a.error is None, a.error
        m = a.manifest
        assert a.path is not None and a.path.exists()
        assert json.loads(Path(f"{a.path}.manifest.json").read_text())["sha256"] == m["sha256"]
        assert m["accuracy"] >= 95.0
        assert m["accuracy_delta"] == 0.0 and m["top1_agreement"] == 1.0
        assert m["params"] == 38282  # 160 + 4640 + 32832 + 650
        assert m["macs"] == 337536
        assert m["noop"] is False and m["quantized_op_count"] == 0
        assert m["size_bytes"] == a.path.stat().st_size
        assert 0 < m["size_gzip_bytes"] <= m["size_bytes"]
        assert m["source_sha256"] and "onnxruntime" in m["tool_versions"]
        with np.load(a.eval_npz) as ev:
            expected = (1, 8, 8) if a.format == "onnx" else (8, 8, 1)
            assert ev["x"].shape[1:] == expected and len(ev["y"]) == len(ev["x"]) == 360
            assert ev["ref"].shape == (360, 10)
        with np.load(a.input_npz) as inp:
            assert inp[m["io"]["inputs"][0]["name"]].shape[0] == 8
    onnx_io = arts[0].manifest["io"]["inputs"][0]
    assert onnx_io["name"] == "input" and onnx_io["shape"][1:] == [1, 8, 8]

    again = build_variants(suite, cache_dir=eb_cache)
    assert [a.path for a in again] == [a.path for a in arts]
    assert [a.manifest["build_seconds"] for a in again] == [a.manifest["build_seconds"] for a in arts]


def test_no_cache_rebuilds(eb_cache: Path) -> None:
    suite = _suite(VariantSpec(name="fp32"), formats=["onnx"])
    first = build_variants(suite, cache_dir=eb_cache)[0]
    rebuilt = build_variants(suite, cache_dir=eb_cache, no_cache=True)[0]
    assert rebuilt.error is None
    assert rebuilt.manifest["build_seconds"] != first.manifest["build_seconds"]


def test_failing_variant_is_an_artifact_not_an_exception(eb_cache: Path) -> None:
    bad = VariantSpec(name="bad", steps=[{"quantize": {"mode": "int16x8"}}])  # TFLite-only
    arts = build_variants(_suite(bad, formats=["onnx"]), cache_dir=eb_cache)
    assert len(arts) == 1 and arts[0].path is None
    assert arts[0].error and "\n" not in arts[0].error


def test_user_names_become_single_safe_path_components() -> None:
    from edgebench.variants import _safe

    for name in ("..", ".", "../../etc/x", "a/b", "<img src=x onerror=alert(1)>", "x\nrm -rf /"):
        safe = _safe(name)
        assert "/" not in safe and safe not in (".", "..", "") and "\n" not in safe, (name, safe)
    assert _safe("a/b") != _safe("a_b")  # names that sanitise alike stay apart
    assert _safe("digits-cnn") == "digits-cnn"
