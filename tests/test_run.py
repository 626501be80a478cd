"""A run through the Python API on real local devices: isolation, crashes, timeouts, resume."""

from __future__ import annotations

import csv
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from edgebench.results.columns import SUMMARY_COLUMNS
from edgebench.results.journal import RunDir, read_journal
from edgebench.run import run_suite

FAST = ("benchmark: {warmup_runs: 2, warmup_min_s: 0, min_runs: 20, min_duration_s: 0.05, "
        "max_duration_s: 5, memory_sample_interval_s: 0.01}\n")


def suite_file(tmp_path: Path, mlp_onnx: Path, extra: str = FAST, devices: str = "[local]") -> Path:
    (tmp_path / "mlp.onnx").write_bytes(mlp_onnx.read_bytes())
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: t\ndevices: {devices}\nmodels:\n  - name: mlp\n    path: mlp.onnx\n"
                    f"  - name: mlp2\n    path: mlp.onnx\n{extra}")
    return path


def devices_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n" + body)
    return path


def wrapper(tmp_path: Path, name: str, script: str) -> Path:
    """A 'python' for a device that misbehaves in a precise way, then execs the real one."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{script}\nexec {sys.executable} \"$@\"\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_quick_run_writes_every_file(tmp_path: Path, mlp_onnx: Path) -> None:
    out = run_suite(suite_file(tmp_path, mlp_onnx), out_dir=tmp_path / "results", cache_dir=tmp_path / "c")
    assert out.exit_code == 0 and out.counts == {"ok": 2, "failed": 0, "skipped": 0}
    run_dir = out.run_dir
    assert {p.name for p in run_dir.iterdir()} >= {"results.jsonl", "summary.csv", "report.md", "run.json"}
    rows = list(csv.DictReader(open(run_dir / "summary.csv")))
    assert [r["model"] for r in rows] == ["mlp", "mlp2"] and list(rows[0]) == list(SUMMARY_COLUMNS)
    for row in rows:
        assert row["status"] == "ok" and row["device"] == "local" and row["format"] == "onnx"
        assert float(row["latency_p50_s"]) > 0 and int(row["runs"]) >= 20 and int(row["peak_rss_bytes"]) > 0
        assert row["runtime"] == "onnxruntime" and row["threads"] == "1" and row["fingerprint"]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["complete"] is True and meta["counts"] == {"ok": 2, "failed": 0, "skipped": 0}
    assert meta["suite"]["name"] == "t" and meta["devices"] == ["local"] and meta["finished_at"]
    assert meta["controller"]["python"] and meta["controller"]["edgebench_version"]


def test_one_broken_device_does_not_sink_the_others(tmp_path: Path, mlp_onnx: Path) -> None:
    devs = devices_file(tmp_path, "  ghost:\n    kind: local\n    python: /nonexistent/python3\n"
                                  "  crashy:\n    kind: local\n    python: " + str(wrapper(
                                      tmp_path, "crashy", 'if [ "$3" = run ]; then kill -SEGV $$; fi')) + "\n")
    out = run_suite(suite_file(tmp_path, mlp_onnx, devices="[local, ghost, crashy]"), devices_path=devs,
                    out_dir=tmp_path / "results", cache_dir=tmp_path / "c")
    assert out.exit_code == 1
    by_device: dict[str, list] = {}
    for rec in out.records:
        by_device.setdefault(rec.device, []).append(rec)
    assert [r.status for r in by_device["local"]] == ["ok", "ok"]
    assert all(r.status == "failed" and r.error_kind == "unreachable" and "nonexistent" in r.error
               for r in by_device["ghost"])
    assert all(r.status == "failed" and r.error_kind == "agent_crashed"
               and "killed by signal 11" in r.error for r in by_device["crashy"])
    assert len(read_journal(out.run_dir / "results.jsonl").records) == 6  # every job accounted for


def test_timeout_kills_the_job_then_resume_runs_only_what_is_not_ok(tmp_path: Path, mlp_onnx: Path) -> None:
    slow = wrapper(tmp_path, "slow", 'if [ "$3" = run ] && [ -e "$SLOW_FLAG" ]; then sleep 30; fi')
    flag = tmp_path / "slow.flag"
    flag.write_text("1")
    devs = devices_file(tmp_path, f"  dev:\n    kind: local\n    python: {slow}\n    job_timeout_s: 1.5\n"
                                  f"    env: {{SLOW_FLAG: '{flag}'}}\n")
    suite = suite_file(tmp_path, mlp_onnx, devices="[local, dev]")
    first = run_suite(suite, devices_path=devs, out_dir=tmp_path / "results", cache_dir=tmp_path / "c")
    statuses = {r.job_id: (r.status, r.error_kind) for r in first.records}
    assert statuses["mlp/fp32/onnx@dev"] == ("failed", "timeout")
    assert statuses["mlp/fp32/onnx@local"] == ("ok", None)
    assert first.exit_code == 1
    assert json.loads((first.run_dir / "run.json").read_text())["complete"] is True
    os.system(f"pgrep -f '{slow}' >/dev/null && exit 1")  # nothing left running
    flag.unlink()  # the device recovers
    again = run_suite(suite, devices_path=devs, out_dir=tmp_path / "results", cache_dir=tmp_path / "c",
                      resume=first.run_id)
    assert again.run_id == first.run_id and again.exit_code == 0
    assert {r.job_id: r.status for r in again.records} == {j: "ok" for j in statuses}
    journal = read_journal(first.run_dir / "results.jsonl").records
    assert len(journal) == 6  # 4 from the first run + the 2 redone; ok jobs were not rerun
    assert sum(r.device == "local" for r in journal) == 2


def test_truncated_journal_line_is_reported_not_read(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    good = {"run_id": "r", "job_id": "a", "model": "m", "variant": "v", "format": "onnx",
            "device": "d", "status": "ok"}
    (tmp_path / "results.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(good)[:40])
    read = run_dir.read()
    assert [r.job_id for r in read.records] == ["a"]
    assert len(read.warnings) == 1 and "truncated last line" in read.warnings[0]
    from edgebench.results.record import JobRecord

    run_dir.append(JobRecord(**{**good, "job_id": "b"}))  # appending after a crash repairs the tail
    read = run_dir.read()
    assert [r.job_id for r in read.records] == ["a", "b"] and "corrupt line" in read.warnings[0]


def test_model_selection_runs_one_model_and_resume_keeps_it(tmp_path: Path, mlp_onnx: Path) -> None:
    from edgebench.errors import UsageError

    suite = suite_file(tmp_path, mlp_onnx)
    out = run_suite(suite, out_dir=tmp_path / "results", cache_dir=tmp_path / "c", models=["mlp2"])
    assert out.exit_code == 0 and [r.job_id for r in out.records] == ["mlp2/fp32/onnx@local"]
    assert json.loads((out.run_dir / "run.json").read_text())["models"] == ["mlp2"]
    again = run_suite(suite, out_dir=tmp_path / "results", cache_dir=tmp_path / "c", resume=out.run_id)
    assert [r.job_id for r in again.records] == ["mlp2/fp32/onnx@local"]  # not mlp as well
    with pytest.raises(UsageError) as err:
        run_suite(suite, out_dir=tmp_path / "results", cache_dir=tmp_path / "c", models=["mlp3"])
    assert err.value.one_line() == (f"no model named mlp3 in {suite} (hint: models: mlp, mlp2)")


def test_resume_refuses_a_different_model_selection(tmp_path: Path, mlp_onnx: Path) -> None:
    from edgebench.errors import UsageError

    suite = suite_file(tmp_path, mlp_onnx)
    out = run_suite(suite, out_dir=tmp_path / "results", cache_dir=tmp_path / "c")
    with pytest.raises(UsageError) as err:
        run_suite(suite, out_dir=tmp_path / "results", cache_dir=tmp_path / "c",
                  resume=out.run_id, models=["mlp2"])
    assert err.value.one_line() == (f"run {out.run_id!r} was started with --model (all models) "
                                    "(hint: resume without --model, or start a new run)")
    rows = list(csv.DictReader(open(out.run_dir / "summary.csv")))
    assert [r["model"] for r in rows] == ["mlp", "mlp2"]  # nothing was dropped


def test_run_cli_model_option(tmp_path: Path, mlp_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgebench.cli import main

    suite = suite_file(tmp_path, mlp_onnx)
    assert main(["run", str(suite), "--model", "mlp", "--out", str(tmp_path / "res"), "-q",
                 "--no-store"]) == 0
    (run_dir,) = [p for p in (tmp_path / "res").iterdir() if p.is_dir()]
    assert [r["model"] for r in csv.DictReader(open(run_dir / "summary.csv"))] == ["mlp"]
    assert main(["run", str(suite), "--model", "nope", "--out", str(tmp_path / "res")]) == 2
    assert "no model named nope" in capsys.readouterr().err
