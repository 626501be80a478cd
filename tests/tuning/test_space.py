"""The search space: defaults per source kind, the suite's `search:` section, the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebench.config import load_suite
from edgebench.errors import ConfigError, UsageError
from edgebench.recipes import ModelSpec
from edgebench.suite_settings import SearchSpec
from edgebench.tuning.space import Budget, candidate_variants, parse_budget, step_name, within_budget


def names(model: ModelSpec, search: SearchSpec | None = None) -> dict[str, list[str] | None]:
    return {v.name: v.formats for v in candidate_variants(model, search)}


def test_default_space_of_a_trainable_model_has_every_technique_and_combination() -> None:
    got = names(ModelSpec(name="m", builtin="digits-cnn"))
    assert got["fp32"] is None and got["int8"] is None and got["dyn"] is None
    assert got["int8-entropy"] == ["onnx"] and got["int8-pc"] == ["onnx"]  # ONNX Runtime keys
    assert got["int16x8"] == ["tflite"] and got["fp16"] is None
    for name in ("prune-st25", "prune-st50", "prune-un50", "cluster16", "distill50", "distill75",
                 "prune-st50+int8", "cluster16+int8", "distill50+int8"):
        assert name in got, name
    assert len(got) == 22


def test_default_space_of_a_model_file_only_quantizes(tmp_path: Path, mlp_onnx: Path) -> None:
    got = names(ModelSpec(name="m", path=str(mlp_onnx)))
    assert "int16x8" not in got  # no .tflite to build it in
    assert not any(n.startswith(("prune", "cluster", "distill")) for n in got)
    assert {"fp32", "dyn", "int8", "int8-qdq", "fp16"} <= set(got)


def test_search_section_replaces_the_default_and_combine_can_be_off(mlp_onnx: Path) -> None:
    search = SearchSpec(quantize=[{"mode": "static", "calibrate_method": "percentile"}],
                        prune=[{"kind": "structured", "sparsity": 0.3}], cluster=[], distill=[],
                        combine=False)
    got = names(ModelSpec(name="m", builtin="digits-cnn"), search)
    assert list(got) == ["fp32", "int8-percentile", "prune-st30"]
    with pytest.raises(UsageError, match="retrain a framework model"):
        candidate_variants(ModelSpec(name="f", path=str(mlp_onnx)), search)


def test_step_names_are_short_and_distinct() -> None:
    assert step_name({"quantize": {"mode": "static", "per_channel": True, "reduce_range": True}}) == "int8-pc-rr"
    assert step_name({"quantize": {"mode": "static", "calibration_samples": 50}}) == "int8-calibration_samples=50"
    assert step_name({"prune": {"kind": "unstructured", "sparsity": 0.75}}) == "prune-un75"
    assert step_name({"distill": {"width": 0.25}}) == "distill25"


def test_bad_search_section_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels:\n  - {name: m, builtin: digits-cnn}\nsearch:\n"
                     "  quantize: [{mode: int4}]\n")
    with pytest.raises(ConfigError) as err:
        load_suite(suite)
    line = err.value.one_line()
    assert "s.yaml:5: search.quantize: option 0 (quantize): mode:" in line
    suite.write_text("name: s\nmodels:\n  - {name: m, builtin: digits-cnn}\nsearch:\n  prunes: []\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_suite(suite)


def test_budget_parsing_and_judging() -> None:
    assert parse_budget("accuracy:1") == Budget("accuracy", 1.0)
    assert parse_budget("fidelity:0.99") == Budget("fidelity", 0.99)
    assert parse_budget(None) is None
    for bad in ("accurcy:1", "accuracy:x", "fidelity:2", "fidelity"):
        with pytest.raises(UsageError, match="--budget"):
            parse_budget(bad)
    acc = Budget("accuracy", 1.0)
    assert within_budget({"quality": {"accuracy_delta": -0.9}}, acc) == (True, "accuracy -0.90 pts vs fp32")
    assert within_budget({"quality": {"accuracy_delta": -1.2}}, acc)[0] is False
    assert within_budget({"quality": {"cosine": 0.995}}, Budget("fidelity", 0.99))[0] is True
    assert within_budget({"quality": {}}, acc)[0] is False  # unknown is not "good enough"
