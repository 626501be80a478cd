"""The run-side wiring of issue 20: mcu_budgets in suites, auto-added single steps and MCU
verdicts on artifacts, their summary columns, and the best combination printed at the end."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from edgebench.config import load_suite
from edgebench.errors import ConfigError
from edgebench.results.record import JobRecord
from edgebench.results.rows import summary_row
from edgebench.variant_notes import annotate as _annotate
from edgebench.variants import Artifact

ROOT = Path(__file__).resolve().parents[1]
INT8 = {"quantize": {"mode": "static"}}
PRUNE = {"prune": {"kind": "structured", "sparsity": 0.5}}


def test_wearables_suite_budgets_and_steps() -> None:
    suite = load_suite(ROOT / "suites" / "wearables.yaml")
    assert {k: v.model_dump() for k, v in suite.mcu_budgets.items()} == {
        "cortex-m4": {"flash_bytes": 262144, "ram_bytes": 65536},
        "cortex-m7": {"flash_bytes": 1048576, "ram_bytes": 524288}}
    by_name = {v.name: v.steps for v in suite.variants}
    # the anchors make every combined step the very step measured alone
    assert by_name["pruned-student-int8"] == by_name["pruned-50"] + by_name["student-40"] + by_name["int8-static"]
    from edgebench.report.synergy import auto_single_step_variants

    assert auto_single_step_variants(suite.variants) == []


def test_default_budgets_and_a_bad_budget_key(tmp_path: Path) -> None:
    plain = tmp_path / "s.yaml"
    plain.write_text("name: s\nmodels: [{name: m, builtin: digits-cnn}]\n")
    assert sorted(load_suite(plain).mcu_budgets) == ["cortex-m4", "cortex-m7"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: s\nmodels: [{name: m, builtin: digits-cnn}]\n"
                   "mcu_budgets: {tiny: {flash_bytes: 1000, ram: 10}}\n")
    with pytest.raises(ConfigError, match="ram"):
        load_suite(bad)


def test_annotate_marks_auto_added_and_judges_budgets() -> None:
    suite = SimpleNamespace(mcu_budgets={"m0": {"flash_bytes": 32_000, "ram_bytes": 4_096}})
    arts = [Artifact("m", "fp32", "tflite", Path("a"), {"mcu": {"flash_bytes": 69_216, "arena_bytes": 12_800}}),
            Artifact("m", "auto-int8", "tflite", Path("b"), {"mcu": {"flash_bytes": 27_608, "arena_bytes": 3_200}}),
            Artifact("m", "auto-int8", "onnx", Path("c"), {})]
    _annotate(arts, suite, {"auto-int8"})
    assert "auto_added" not in arts[0].manifest and arts[1].manifest["auto_added"]
    assert arts[0].manifest["mcu"]["fits"]["m0"]["fits"] is False
    assert arts[1].manifest["mcu"]["fits"]["m0"] == {"flash_bytes": 32_000, "ram_bytes": 4_096,
                                                     "fits_flash": True, "fits_ram": True, "fits": True}
    rec = JobRecord("r", "m/auto-int8/tflite@local", "m", "auto-int8", "tflite", "local", "ok",
                    artifact={"manifest": arts[1].manifest})
    row = summary_row(rec)
    assert (row["auto_added"], row["flash_bytes"], row["arena_bytes"], row["mcu_fit"]) == (
        True, 27_608, 3_200, "m0: yes")
    onnx = summary_row(JobRecord("r", "j", "m", "auto-int8", "onnx", "local", "ok",
                                 artifact={"manifest": arts[2].manifest}))
    assert (onnx["flash_bytes"], onnx["mcu_fit"]) == (None, None)


def test_end_of_run_names_the_best_combination() -> None:
    from edgebench.run_table import print_run_summary

    def rec(variant: str, steps: list, size: int, p50: float, acc: float) -> JobRecord:
        return JobRecord("r", f"har/{variant}/tflite@local", "har", variant, "tflite", "local",
                         "ok", summary={"recipe": json.dumps(steps), "size_bytes": size,
                                        "latency_p50_s": p50, "accuracy": acc,
                                        "runtime": "ai_edge_litert"})

    records = [rec("fp32", [], 10_000, 0.010, 95.0), rec("pruned", [PRUNE], 5_000, 0.008, 94.5),
               rec("int8", [INT8], 2_500, 0.004, 95.0),
               rec("pruned-int8", [PRUNE, INT8], 1_000, 0.002, 94.5)]
    outcome = SimpleNamespace(run_id="r", records=records, devices=[], warnings=[], run_dir="d",
                              counts={"ok": 4, "failed": 0, "skipped": 0})
    out = io.StringIO()
    print_run_summary(outcome, out)
    text = out.getvalue()
    printed = " ".join(text[text.index("combination:"):text.index("results:")].split())  # unwrap
    assert [printed] == ["combination: har (tflite) on local: best combination pruned-int8 -- prune → "
                     "int8: 5× faster measured vs 1.25 × 2.5 = 3.12× expected → synergy 1.6; "
                     "10× smaller (size synergy 1.25)"]
