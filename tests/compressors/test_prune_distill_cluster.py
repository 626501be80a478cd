"""Training-time steps on digits-cnn in both toolchains: figures measured on the exported files."""

from __future__ import annotations

from pathlib import Path

import pytest
from ebhelpers import build, ok

VARIANTS = [
    {"name": "fp32"},
    {"name": "prune-s50", "steps": [{"prune": {"kind": "structured", "sparsity": 0.5}}]},
    {"name": "prune-u70", "steps": [{"prune": {"kind": "unstructured", "sparsity": 0.7}}]},
    {"name": "student", "steps": [{"distill": {"width": 0.5}}]},
    {"name": "student-int8", "steps": [{"distill": {"width": 0.5}}, {"quantize": {"mode": "static"}}]},
    {"name": "cluster16", "steps": [{"cluster": {"clusters": 16}}]},
    {"name": "prune-nothing", "steps": [{"prune": {"kind": "structured", "sparsity": 0.005,
                                                   "finetune_epochs": 0}}]},
]


@pytest.fixture(scope="module")
def arts(eb_cache: Path) -> dict:
    return build(eb_cache, VARIANTS)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_structured_pruning_shrinks_params_and_macs(arts: dict, fmt: str) -> None:
    fp32, pruned = ok(arts[("fp32", fmt)]), ok(arts[("prune-s50", fmt)])
    assert pruned["params"] <= 0.55 * fp32["params"]
    assert pruned["macs"] <= 0.6 * fp32["macs"]
    assert pruned["accuracy_delta"] >= -3.0
    step = pruned["steps"][0]
    assert sum(step["channels_removed"].values()) == 8 + 16 + 32
    assert step["accuracy_after_finetune"] is not None and not pruned["noop"]


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_unstructured_pruning_zeroes_weights_not_shapes(arts: dict, fmt: str) -> None:
    fp32, pruned = ok(arts[("fp32", fmt)]), ok(arts[("prune-u70", fmt)])
    assert pruned["params"] == fp32["params"] and pruned["macs"] == fp32["macs"]
    assert pruned["nonzero_params"] <= 0.35 * fp32["params"]
    assert pruned["size_gzip_bytes"] < 0.6 * fp32["size_gzip_bytes"]
    assert pruned["accuracy_delta"] >= -3.0
    assert any("dense runtimes" in w for w in pruned["warnings"])


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_distilled_student(arts: dict, fmt: str) -> None:
    fp32, student = ok(arts[("fp32", fmt)]), ok(arts[("student", fmt)])
    assert student["params"] <= 0.5 * fp32["params"]
    assert student["accuracy_delta"] >= -3.0
    step = student["steps"][0]
    assert step["teacher_accuracy"] == pytest.approx(fp32["accuracy"], abs=0.01)
    assert step["student_params"] == student["params"]
    both = ok(arts[("student-int8", fmt)])
    assert both["size_bytes"] <= 0.15 * fp32["size_bytes"] and both["quantized_op_count"] >= 4
    assert both["accuracy_delta"] >= -4.0


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_cluster_limits_distinct_values(arts: dict, fmt: str) -> None:
    art = arts[("cluster16", fmt)]
    m = ok(art)
    assert max(m["steps"][0]["distinct_values_after"]) <= 16
    assert m["size_gzip_bytes"] < 0.5 * ok(arts[("fp32", fmt)])["size_gzip_bytes"]
    assert m["accuracy_delta"] >= -2.0


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_prune_that_removes_nothing_is_noop(arts: dict, fmt: str) -> None:
    m = ok(arts[("prune-nothing", fmt)])
    assert m["noop"] is True and "removed and zeroed nothing" in m["noop_reason"]


def test_structured_pruning_refuses_residual_models(eb_cache: Path) -> None:
    out = build(eb_cache, [{"name": "p", "steps": [{"prune": {"kind": "structured",
                                                               "finetune_epochs": 0}}]}],
                builtin="resnet8", formats=["onnx"])
    assert "cannot handle layer" in out[("p", "onnx")].error
