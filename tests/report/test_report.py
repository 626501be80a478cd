"""Run reports built from realistic run directories: values, Pareto, recommendations,
warnings, formats and escaping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgebench.errors import UsageError
from edgebench.report import report_from_dir, write_run_report
from edgebench.report.formats import to_markdown, write_formats
from tests.store.runfactory import RunSpec, make_run

XSS = "<img src=x onerror=alert(1)>"


def _row(report, model: str, variant: str, device: str) -> pd.Series:
    rows = report.rows
    return rows[(rows["model"] == model) & (rows["variant"] == variant)
                & (rows["device"] == device)].iloc[0]


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path, RunSpec(
        "r1", throttled={("mobilenet_v2", "pruned50", "rpi4")}, governor={"jetson-nano": "ondemand"}))


def test_write_run_report_writes_md_and_html(run_dir: Path) -> None:
    paths = write_run_report(run_dir)
    assert [p.name for p in paths] == ["report.md", "report.html"]
    md = (run_dir / "report.md").read_text()
    assert "## Model mobilenet_v2" in md and "## Model resnet18" in md
    assert "failed: runtime_rejected: ConvInteger not supported" in md
    assert "**fp16  ⚠ NOOP**" in md  # noop shouted, never shown as plain ok
    html = (run_dir / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_speedup_size_accuracy_are_same_device_ratios(run_dir: Path) -> None:
    report = report_from_dir(run_dir)
    fp32, int8 = (_row(report, "mobilenet_v2", v, "rpi4") for v in ("fp32", "int8"))
    assert int8["speedup_vs_fp32"] == fp32["latency_p50_s"] / int8["latency_p50_s"]
    assert 2.0 < int8["speedup_vs_fp32"] < 2.5
    assert int8["size_ratio"] == int8["size_bytes"] / fp32["size_bytes"]
    assert int8["accuracy_change_pts"] == pytest.approx(-0.4)
    jet = _row(report, "mobilenet_v2", "int8", "jetson-nano")
    assert jet["speedup_vs_fp32"] == _row(report, "mobilenet_v2", "fp32", "jetson-nano")[
        "latency_p50_s"] / jet["latency_p50_s"]


def test_pareto_front_and_noop(run_dir: Path) -> None:
    report = report_from_dir(run_dir)
    front = report.rows[report.rows["pareto_latency"] & (report.rows["model"] == "mobilenet_v2")
                        & (report.rows["device"] == "rpi4")]
    assert sorted(front["variant"]) == ["fp32", "int8"]  # pruned50: slower and less accurate
    assert not report.rows[report.rows["variant"] == "fp16"]["pareto_latency"].any()
    assert sum(w.kind == "noop" for w in report.warnings) == 4


def test_recommendation_respects_budget_and_objective(run_dir: Path) -> None:
    def pick(**kw: object) -> dict[tuple[str, str], str | None]:
        rep = report_from_dir(run_dir, **kw)  # type: ignore[arg-type]
        return {(r.model, r.device): r.variant for r in rep.recommendations}

    default = pick()
    assert default[("mobilenet_v2", "rpi4")] == "int8"
    assert default[("resnet18", "jetson-nano")] == "fp32"  # int8 failed, pruned50 -2.1 pts
    assert pick(max_accuracy_drop_pts=3.0)[("resnet18", "jetson-nano")] == "pruned50"
    assert pick(objective="size")[("mobilenet_v2", "rpi4")] == "int8"
    with pytest.raises(UsageError):
        report_from_dir(run_dir, objective="speed")


def test_comparability_warnings(tmp_path: Path) -> None:
    spec = RunSpec("r1", throttled={("mobilenet_v2", "pruned50", "rpi4")},
                   governor={"jetson-nano": "ondemand"})
    run_dir = make_run(tmp_path, spec)
    # one job measured with different threads than its fp32 baseline
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    for rec in recs:
        if rec["job_id"] == "resnet18.int8.onnx.rpi4":
            rec["fingerprint"]["threads"] = 4
            rec["summary"]["fingerprint"] = "different0000000"
            rec["summary"]["temp_rise_c"] = 17.5
    (run_dir / "results.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    kinds = {(w.kind, w.model, w.variant, w.device) for w in report_from_dir(run_dir).warnings}
    assert ("throttled", "mobilenet_v2", "pruned50", "rpi4") in kinds
    assert ("governor", "mobilenet_v2", "int8", "jetson-nano") in kinds
    assert ("fingerprint", "resnet18", "int8", "rpi4") in kinds
    assert ("temperature", "resnet18", "int8", "rpi4") in kinds
    msgs = [w.message for w in report_from_dir(run_dir).warnings if w.kind == "fingerprint"]
    assert any("threads: 1 | 4" in m for m in msgs)


def test_truncated_journal_shows_in_report(run_dir: Path) -> None:
    journal = run_dir / "results.jsonl"
    journal.write_text(journal.read_text() + '{"run_id": "r1", "job_id": "x", "mo')
    md = to_markdown(report_from_dir(run_dir))
    assert "truncated last line" in md


def test_machine_formats_keep_full_precision(run_dir: Path, tmp_path: Path) -> None:
    report = report_from_dir(run_dir)
    paths = write_formats(report, tmp_path / "out", ["csv", "json", "pytest-benchmark"])
    csv = pd.read_csv(paths[0])
    assert np.array_equal(csv["latency_p50_s"].dropna().to_numpy(),
                          report.rows["latency_p50_s"].dropna().to_numpy())
    data = json.loads(paths[1].read_text())
    assert data["run"]["run_id"] == "r1" and len(data["jobs"]) == 16
    assert data["recommendations"][0]["variant"] == "int8"
    bench = json.loads(paths[2].read_text())
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(bench)
    assert len(bench["benchmarks"]) == 15
    first = bench["benchmarks"][0]
    assert first["stats"]["rounds"] == len(first["stats"]["data"]) == 120
    assert first["stats"]["median"] == float(np.median(first["stats"]["data"]))


def test_pytest_benchmark_compare_reads_our_json(tmp_path: Path) -> None:
    files = []
    for i, slow in enumerate((1.0, 1.5)):
        d = make_run(tmp_path, RunSpec(f"r{i}", seed=i, slow={("resnet18", "int8", "rpi4"): slow}))
        [path] = write_run_report(d, formats=["pytest-benchmark"])
        files.append(path.rename(tmp_path / f"000{i + 1}_run.json"))
    exe = Path(sys.executable).with_name("pytest-benchmark")
    proc = subprocess.run([str(exe), "compare", *map(str, files), "--group-by=group",
                           "--columns=median,rounds"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "resnet18[int8-onnx-rpi4]" in proc.stdout and "0001_run" in proc.stdout
    assert "warning" not in proc.stderr.lower()


def test_parquet_needs_pyarrow(run_dir: Path, tmp_path: Path) -> None:
    report = report_from_dir(run_dir)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="pyarrow"):
            write_formats(report, tmp_path, ["parquet"])
    else:
        [path] = write_formats(report, tmp_path, ["parquet"])
        assert pd.read_parquet(path)["latency_p50_s"].equals(report.rows["latency_p50_s"])


def test_user_strings_are_escaped(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec(
        "r1", models={XSS: 1.0}, failed={(XSS, "int8", "rpi4"): "<script>alert(2)</script>"}))
    write_run_report(run_dir)
    html = (run_dir / "report.html").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img" not in html and "<script" not in html
    md = (run_dir / "report.md").read_text()
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md


def test_report_command_from_store_and_from_dir(run_dir: Path, tmp_path: Path, capsys) -> None:
    from edgebench.cli import main

    results_root = run_dir.parent
    assert main(["report", "r1", "--results", str(results_root), "--format", "json"]) == 0
    assert (run_dir / "report.json").exists()  # no store entry yet: built from the directory
    assert main(["ingest", str(run_dir), "--results", str(results_root)]) == 0
    out = tmp_path / "rep"
    assert main(["report", "r1", "--out", str(results_root), "--format", "md,csv",
                 "--report-dir", str(out)]) == 0
    assert (out / "report.md").exists() and (out / "report.csv").exists()
    assert main(["report", "nope", "--results", str(results_root)]) == 2
    assert "unknown run id 'nope'" in capsys.readouterr().err
    assert main(["report", "r1", "--results", str(results_root), "--format", "pdf"]) == 2


def test_formats_on_different_runtimes_are_not_a_fingerprint_warning(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec("r1", formats=("onnx", "tflite")))
    report = report_from_dir(run_dir)
    assert [w for w in report.warnings if w.kind == "fingerprint"] == []
    tfl = _row(report, "mobilenet_v2", "int8", "rpi4")  # first match: onnx
    assert tfl["speedup_vs_fp32"] > 2  # each format against its own fp32
    assert report.rows.groupby(["model", "device", "format"])["speedup_vs_fp32"].count().min() > 0


def test_worse_than_fp32_is_its_own_section(run_dir: Path) -> None:
    report = report_from_dir(run_dir)
    losses = {(w.kind, w.model, w.variant, w.device): w.message for w in report.warnings
              if w.kind in ("quality", "slower")}
    pruned = _row(report, "resnet18", "pruned50", "jetson-nano")
    assert pruned["accuracy_change_pts"] < -1.0  # the fixture's -2.1 points
    assert losses[("quality", "resnet18", "pruned50", "jetson-nano")] == (
        f"QUALITY LOSS: resnet18/pruned50 (onnx) on jetson-nano: accuracy "
        f"{pruned['accuracy_change_pts']:+.2f} points vs fp32 (budget 1)")
    for (kind, model, variant, device), message in losses.items():
        row = _row(report, model, variant, device)
        if kind == "slower":
            assert row["speedup_vs_fp32"] < 1 / 1.1 and message.startswith("SLOWER THAN FP32: ")
        else:
            assert row["accuracy_change_pts"] < -1.0
    slower = report.rows[report.rows["is_ok"] & (report.rows["speedup_vs_fp32"] < 1 / 1.1)]
    assert len([k for k in losses if k[0] == "slower"]) == len(slower)
    assert 3.0 > -pruned["accuracy_change_pts"]  # within a 3-point budget: no warning then
    assert not [w for w in report_from_dir(run_dir, max_accuracy_drop_pts=3.0).warnings
                if w.kind == "quality" and w.variant == "pruned50" and w.model == "resnet18"]
    md = to_markdown(report)
    assert "⚠ Worse than fp32" in md and "QUALITY LOSS: resnet18/pruned50" in md


def test_int8_slower_than_fp32_is_shouted(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec("r1"))
    recs = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    fp32 = next(r for r in recs if r["job_id"] == "mobilenet_v2.fp32.onnx.rpi4")["summary"]["latency_p50_s"]
    for rec in recs:
        if rec["job_id"] == "mobilenet_v2.int8.onnx.rpi4":  # the night a runtime upgrade hits
            rec["summary"]["latency_p50_s"] = fp32 * 1.5
    (run_dir / "results.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    slower = [w.message for w in report_from_dir(run_dir).warnings if w.kind == "slower"]
    assert slower == ["SLOWER THAN FP32: mobilenet_v2/int8 (onnx) on rpi4: p50 1.50x fp32's"]


def _unlabelled(cosines: dict[str, float | None]) -> pd.DataFrame:
    """One unlabelled model on one device: fp32 plus variants with the given cosines, each
    faster than the one before (so a rule that ignored fidelity picks the last)."""
    rows = []
    for i, (variant, cos) in enumerate({"fp32": 1.0, **cosines}.items()):
        rows.append({"model": "vad", "device": "pi", "variant": variant, "format": "onnx", "runtime_key": "",
                     "is_ok": True, "is_noop": False, "latency_p50_s": 0.01 / (i + 1),
                     "size_bytes": 1000 - i, "accuracy_change_pts": float("nan"),
                     "speedup_vs_fp32": float(i + 1), "size_ratio": 1.0, "cosine": cos})
    return pd.DataFrame(rows)


def test_unlabelled_models_are_recommended_within_a_fidelity_budget() -> None:
    """No labels: fp32 must not win by default, and a collapsed variant (cosine 0.49, the
    recurrent VAD's dynamic int8) must never be recommended however fast it is."""
    from edgebench.report.tables import recommend

    (rec,) = recommend(_unlabelled({"fp16": 0.99999, "int8-dynamic": 0.49}))
    assert rec.variant == "fp16"
    assert "fidelity budget" in rec.reason and "1 excluded" in rec.reason
    (rec,) = recommend(_unlabelled({"int8-dynamic": 0.49, "uint8": None}))
    assert rec.variant == "fp32"  # an unknown fidelity is not good enough either
    (rec,) = recommend(_unlabelled({"fp16": 0.995, "int8": 0.9931}))
    assert rec.variant == "int8"
