"""The operator profile in the report, in 'SLOWER THAN FP32' and in ``edgebench profile``.

The profile blocks are put into a realistic run directory's journal (the agent's own
output is tested on real runtimes in tests/agent/test_profile.py); the figures are the
shape of the quickstart's int8-dynamic ONNX job.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from edgebench.commands.profile import print_profiles
from edgebench.explain import delegation_text, explain
from edgebench.report import report_from_dir
from edgebench.report.formats import to_markdown
from tests.store.runfactory import RunSpec, make_run


def _ort(types: dict[str, tuple[int, float]], inference_s: float) -> dict:
    rows = [{"op_type": t, "nodes": n, "mean_s": s, "share": s / inference_s,
             "providers": ["CPUExecutionProvider"]} for t, (n, s) in types.items()]
    kernels = sum(s for _, s in types.values())
    return {"runtime": "onnxruntime", "runs": 100, "inference_mean_s": inference_s,
            "inference_p50_s": inference_s, "kernel_sum_mean_s": kernels,
            "kernel_coverage": kernels / inference_s, "outside_kernels_mean_s": inference_s - kernels,
            "by_op_type": rows, "nodes": [], "arena_held_bytes": 1082812}


FP32 = _ort({"Conv": (2, 6.6e-6), "FusedGemm": (1, 3.1e-6), "Gemm": (1, 2.1e-6)}, 37.4e-6)
INT8 = _ort({"ConvInteger": (2, 69.7e-6), "DynamicQuantizeLinear": (2, 4.0e-6),
             "DynamicQuantizeMatMul": (2, 4.7e-6), "Mul": (4, 7.0e-6)}, 171.5e-6)
LITERT = {"runtime": "litert", "delegate": "XNNPACK", "delegated_nodes": 6, "model_nodes": 6,
          "delegate_partitions": 1, "timing": None,
          "by_op_type": [{"op_type": "CONV_2D", "nodes": 2, "delegated": 2}], "nodes": []}


def test_explain_names_the_op_types_that_account_for_the_difference() -> None:
    why = explain(INT8, FP32)
    assert why is not None
    assert [d.op_type for d in why.deltas] == ["ConvInteger", "Mul", "DynamicQuantizeMatMul",
                                               "DynamicQuantizeLinear"]
    assert why.difference_s == 171.5e-6 - 37.4e-6
    text = why.text()
    assert "ConvInteger 69.7 µs = 40.6 % (new)" in text and "DynamicQuantizeLinear 4.0 µs = 2.3 %" in text
    assert "gone from fp32: Conv 6.6 µs" in text
    assert explain(LITERT, FP32) is None and explain({"error": "x"}, FP32) is None
    assert delegation_text(LITERT) == "XNNPACK took 6 / 6 ops (CONV_2D 2/2)"


def _with_profiles(tmp_path: Path) -> Path:
    run_dir = make_run(tmp_path, RunSpec("r1"))
    recs = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    fp32 = next(r for r in recs if r["job_id"] == "mobilenet_v2.fp32.onnx.rpi4")
    for rec in recs:
        if rec["job_id"] == "mobilenet_v2.int8.onnx.rpi4":
            rec["summary"]["latency_p50_s"] = fp32["summary"]["latency_p50_s"] * 1.5
            rec["result"]["profile"] = INT8
        elif rec is fp32:
            rec["result"]["profile"] = FP32
    (run_dir / "results.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return run_dir


def test_report_explains_slower_and_has_an_operator_profile_section(tmp_path: Path) -> None:
    report = report_from_dir(_with_profiles(tmp_path))
    slower = [w.message for w in report.warnings if w.kind == "slower"]
    assert len(slower) == 1 and slower[0].startswith(
        "SLOWER THAN FP32: mobilenet_v2/int8 (onnx) on rpi4: p50 1.50x fp32's -- why (operator profile): ")
    assert "ConvInteger 69.7 µs = 40.6 %" in slower[0]
    md = to_markdown(report)
    assert "## Operator profile" in md
    assert "| mobilenet_v2 | int8 | onnx | rpi4 | ConvInteger | 2 |" in md


def test_profile_command_prints_the_tables(tmp_path: Path) -> None:
    run_dir = _with_profiles(tmp_path)
    recs = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    out = io.StringIO()
    assert print_profiles(recs, out) == 0
    text = out.getvalue()
    assert "mobilenet_v2/int8 (onnx) on rpi4" in text and "ConvInteger" in text
    assert "SLOWER THAN FP32 (1.50x p50): profiled 171.5 µs vs fp32 37.4 µs" in text
    assert print_profiles([r for r in recs if "profile" not in (r.get("result") or {})], io.StringIO()) == 1


def test_benchmark_profile_settings_are_strict() -> None:
    import pytest
    from pydantic import ValidationError

    from edgebench.config import BenchmarkSpec

    assert BenchmarkSpec().profile is False and BenchmarkSpec(profile=True).profile_runs == 100
    for bad in ({"profile": "yes"}, {"profile": 1}, {"profile_runs": 0}, {"profile_runs": 2.5}):
        with pytest.raises(ValidationError):
            BenchmarkSpec.model_validate(bad)


def test_report_rebuilt_from_the_store_has_the_profile_section(tmp_path: Path) -> None:
    """`edgebench report RUN_ID` reads the store: the profiles are stored with the jobs, so
    its profile section and its SLOWER explanation are the journal report's."""
    from edgebench.report import report_from_store
    from edgebench.store import Store

    run_dir = _with_profiles(tmp_path)
    store = Store(tmp_path / "s.db")
    store.ingest_dir(run_dir)
    from_dir, from_store = report_from_dir(run_dir), report_from_store(store, "r1")
    assert from_store.profiles == from_dir.profiles and len(from_store.profiles) == 2
    md_dir, md_store = to_markdown(from_dir), to_markdown(from_store)
    section = md_dir[md_dir.index("## Operator profile"):].split("\n## ")[0]
    assert "ConvInteger" in section and section in md_store
    slower = [w.message for w in from_store.warnings if w.kind == "slower"]
    assert len(slower) == 1 and "ConvInteger 69.7 µs = 40.6 %" in slower[0]


def test_profile_command_reads_a_run_id_from_the_cli(tmp_path: Path, capsys) -> None:
    """`edgebench profile RUN_ID --results DIR` end to end (it read a module that no longer
    existed); spans and the profiler's cost are printed where the profile has them."""
    from edgebench.cli import main

    run_dir = _with_profiles(tmp_path)
    recs = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    for rec in recs:
        prof = (rec.get("result") or {}).get("profile")
        if prof is INT8 or (prof and prof["inference_mean_s"] == INT8["inference_mean_s"]):
            rec["result"]["profile"] = dict(
                prof, span_sum_mean_s=160.0e-6, span_coverage=160.0 / 171.5,
                after_last_kernel_mean_s=11.5e-6, profiled_call_p50_s=180.0e-6,
                unprofiled_call_p50_s=40.0e-6, profiler_slowdown_p50=4.5,
                by_op_type=[dict(t, span_mean_s=t["mean_s"] * 1.5, span_share=t["share"] * 1.5)
                            for t in prof["by_op_type"]])
    (run_dir / "results.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    assert main(["profile", "r1", "--results", str(run_dir.parent), "--model", "mobilenet_v2"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v2/int8 (onnx) on rpi4" in out
    assert "spans (kernel + dispatch gap before it) 160.0 µs = 93.3 %; after the last kernel 11.5 µs" in out
    assert "profiler cost: call p50 180.0 µs profiled vs 40.0 µs unprofiled (4.50x)" in out
    assert "  ConvInteger                  2    69.7 µs   40.6 %   104.5 µs   61.0 %  CPUExecutionProvider" in out
    assert "  Conv                         2     6.6 µs   17.6 %          -        -  CPUExecutionProvider" in out
    assert main(["profile", "nosuchrun", "--results", str(run_dir.parent)]) == 2


def test_profile_command_runs_a_suite_stores_it_and_the_store_report_shows_it(
        tmp_path: Path, mlp_onnx: Path, monkeypatch, capsys) -> None:
    """`edgebench profile SUITE` on local, for real: the tables print, the run is stored
    with its profiles, and the report rebuilt from the store has the profile section."""
    import edgebench.run
    from edgebench.cli import main
    from edgebench.report import report_from_store
    from edgebench.store import Store

    monkeypatch.setattr(edgebench.run, "DEFAULT_CACHE", tmp_path / "cache")
    (tmp_path / "mlp.onnx").write_bytes(mlp_onnx.read_bytes())
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels:\n  - name: mlp\n    path: mlp.onnx\n"
                     "variants:\n  - name: fp32\n    steps: []\n"
                     "benchmark: {warmup_runs: 2, warmup_min_s: 0, min_runs: 20, "
                     "min_duration_s: 0, max_duration_s: 5, profile_runs: 20}\n")
    results = tmp_path / "results"
    assert main(["profile", str(suite), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "mlp/fp32 (onnx) on local" in out and "spans (kernel + dispatch gap before it)" in out
    run_id = re.search(r"^run (\S+): ", out, re.M).group(1)  # type: ignore[union-attr]
    store = Store(results / "edgebench.db")
    profiles = store.job_blocks(run_id, "profile")
    assert len(profiles) == 1 and next(iter(profiles.values()))["runtime"] == "onnxruntime"
    md = to_markdown(report_from_store(store, run_id))
    assert "## Operator profile" in md and "| mlp | fp32 | onnx | local |" in md
    assert "| spans / inference | profiler cost (p50) |" in md and "| span share |" in md
