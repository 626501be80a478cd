"""Combination synergy on hand-made rows: exact gains, products, sums and ratios."""

from __future__ import annotations

import json

import pytest

from edgebench.recipes import VariantSpec
from edgebench.report.synergy import (
    Row,
    auto_single_step_variants,
    best_combination,
    combinations,
    normalize_step,
    rows_from_frame,
)

PRUNE = {"prune": {"kind": "structured", "sparsity": 0.5}}
INT8 = {"quantize": {"mode": "static"}}
DISTILL = {"distill": {"width": 0.4}}


def row(variant: str, steps: list, size: float, p50: float, acc: float,
        energy: float | None = None, device: str = "pi", fmt: str = "tflite") -> Row:
    return Row("har", variant, device, fmt, "ai_edge_litert", steps, size, p50, energy, acc)


ROWS = [
    row("fp32", [], 10_000, 0.010, 95.0, energy=0.020),
    row("pruned", [PRUNE], 5_000, 0.008, 94.0, energy=0.016),          # 2x, 1.25x, -1
    row("int8", [INT8], 2_500, 0.004, 94.5, energy=0.005),             # 4x, 2.5x,  -0.5
    row("pruned-int8", [PRUNE, INT8], 1_000, 0.002, 93.0, energy=0.004),  # 10x, 5x, -2
]


def test_measured_vs_product_of_parts() -> None:
    (combo,) = combinations(ROWS)
    assert (combo.variant, combo.step_names, combo.part_variants) == (
        "pruned-int8", ["prune", "int8"], ["pruned", "int8"])
    size, lat, energy, acc = (combo.metrics[k] for k in ("size", "latency", "energy", "accuracy"))
    assert (size.measured, size.parts, size.expected, size.synergy) == (10.0, [2.0, 4.0], 8.0, 1.25)
    assert (lat.measured, lat.parts, lat.expected, lat.synergy) == (5.0, [1.25, 2.5], 3.125, 1.6)
    assert (energy.measured, energy.parts, energy.expected, energy.synergy) == (5.0, [1.25, 4.0], 5.0, 1.0)
    assert (acc.measured, acc.parts, acc.expected, acc.synergy) == (-2.0, [-1.0, -0.5], -1.5, -0.5)
    assert combo.text("latency") == ("prune → int8: 5× faster measured vs 1.25 × 2.5 = 3.12× "
                                     "expected → synergy 1.6")
    assert combo.text("accuracy") == ("prune → int8: accuracy -2.00 pts measured vs -1.00 + -0.50"
                                      " = -1.50 pts expected → synergy -0.50 pts")


def test_unmeasured_figures_stay_none_and_devices_never_mix() -> None:
    rows = [r for r in ROWS] + [row("fp32", [], 10_000, 0.020, 95.0, device="jetson"),
                                row("pruned-int8", [PRUNE, INT8], 1_000, 0.005, 95.0,
                                    device="jetson")]
    rows[1] = row("pruned", [PRUNE], 5_000, 0.008, 94.0, energy=None)
    by_device = {c.device: c for c in combinations(rows)}
    pi, jetson = by_device["pi"], by_device["jetson"]
    assert pi.metrics["energy"].parts == [None, 4.0] and pi.metrics["energy"].expected is None
    assert pi.metrics["energy"].synergy is None and pi.metrics["energy"].measured == 5.0
    # no single steps on the jetson: measured only, nothing expected
    assert jetson.part_variants == [None, None]
    assert jetson.metrics["latency"].measured == 4.0 and jetson.metrics["latency"].expected is None
    assert "not measured for every part" in jetson.text("latency")


def test_three_steps_and_defaults_make_steps_equal() -> None:
    rows = ROWS + [
        row("student", [DISTILL], 4_000, 0.005, 94.0),
        # the same distill step with its default epochs spelled out: one step
        row("pruned-student-int8", [PRUNE, {"distill": {"width": 0.4, "epochs": 10}}, INT8],
            625, 0.001, 92.0),
    ]
    combo = next(c for c in combinations(rows) if c.variant == "pruned-student-int8")
    assert combo.part_variants == ["pruned", "student", "int8"]
    size = combo.metrics["size"]
    assert (size.measured, size.parts, size.expected, size.synergy) == (16.0, [2.0, 2.5, 4.0], 20.0, 0.8)
    acc = combo.metrics["accuracy"]
    assert (acc.measured, acc.expected, acc.synergy) == (-3.0, -2.5, -0.5)
    assert normalize_step({"quantize": {"mode": "static"}}) == normalize_step(
        {"quantize": {"mode": "static", "calibration_samples": 100}})
    assert normalize_step(INT8) != normalize_step({"quantize": {"mode": "dynamic"}})


def test_best_combination_is_the_fastest_within_the_accuracy_budget() -> None:
    rows = ROWS + [row("student", [DISTILL], 4_000, 0.005, 94.0),
                   row("student-int8", [DISTILL, INT8], 900, 0.0015, 94.5)]
    combos = combinations(rows)
    # pruned-int8 is 5x faster but -2 points; student-int8 6.67x and -0.5
    assert best_combination(combos, max_accuracy_drop_pts=1.0).variant == "student-int8"
    assert best_combination([c for c in combos if c.variant == "pruned-int8"],
                            max_accuracy_drop_pts=1.0) is None
    assert best_combination(combos, max_accuracy_drop_pts=3.0).variant == "student-int8"


def test_rows_from_report_frame() -> None:
    import pandas as pd

    frame = pd.DataFrame([
        {"model": "har", "variant": "fp32", "device": "local", "format": "onnx",
         "runtime": "onnxruntime", "recipe": "[]", "is_ok": True, "size_bytes": 100,
         "latency_p50_s": 2e-3, "energy_per_inference_j": float("nan"), "accuracy_eff": 90.0,
         "auto_added": None},
        {"model": "har", "variant": "auto-int8", "device": "local", "format": "onnx",
         "runtime": "onnxruntime", "recipe": json.dumps([INT8]), "is_ok": True,
         "size_bytes": 25, "latency_p50_s": 1e-3, "energy_per_inference_j": float("nan"),
         "accuracy_eff": 89.0, "auto_added": True},
        {"model": "har", "variant": "broken", "device": "local", "format": "onnx",
         "runtime": None, "recipe": json.dumps([INT8]), "is_ok": False, "size_bytes": 25,
         "latency_p50_s": None, "energy_per_inference_j": None, "accuracy_eff": None,
         "auto_added": None},
    ])
    odd = frame.iloc[[1]].assign(variant="odd", recipe='["int8"]')  # not step mappings: skipped
    rows = rows_from_frame(pd.concat([frame, odd], ignore_index=True))
    assert [(r.variant, r.steps, r.energy_per_inference_j, r.auto_added) for r in rows] == [
        ("fp32", [], None, False), ("auto-int8", [INT8], None, True)]


def test_auto_single_steps_for_combinations_the_suite_lacks() -> None:
    variants = [VariantSpec(name="fp32", steps=[]),
                VariantSpec(name="int8", steps=[{"quantize": {"mode": "static",
                                                              "calibration_samples": 100}}]),
                VariantSpec(name="pruned-int8", steps=[PRUNE, INT8]),
                VariantSpec(name="student-int8", steps=[DISTILL, INT8], formats=["tflite"]),
                VariantSpec(name="auto-prune", steps=[{"prune": {}}])]  # a name already taken
    auto = auto_single_step_variants(variants)
    assert [(v.name, v.steps, v.formats) for v in auto] == [
        ("auto-prune-2", [PRUNE], None), ("auto-distill", [DISTILL], ["tflite"])]
    assert auto_single_step_variants(variants + auto) == []


@pytest.mark.parametrize("first_formats, second_formats, merged", [
    (["onnx"], ["tflite"], ["onnx", "tflite"]), (["onnx"], None, None)])
def test_auto_step_formats_are_merged(first_formats, second_formats, merged) -> None:  # type: ignore[no-untyped-def]
    variants = [VariantSpec(name="a", steps=[PRUNE, INT8], formats=first_formats),
                VariantSpec(name="b", steps=[PRUNE, DISTILL], formats=second_formats),
                VariantSpec(name="int8", steps=[INT8]), VariantSpec(name="d", steps=[DISTILL])]
    (auto,) = auto_single_step_variants(variants)
    assert (auto.name, auto.formats) == ("auto-prune", merged)
