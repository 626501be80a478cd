"""`edgebench tune` end to end on `local` with the quickstart model and a small space, and
the tuned suite it writes run as is by `edgebench run` (real builds, real agent jobs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

SUITE = """\
name: qs
devices: [local]
models:
  - {name: digits-cnn, builtin: digits-cnn, formats: [onnx], data: digits}
search:
  quantize: [{mode: dynamic}, {mode: static}]
  prune: []
  cluster: []
  distill: []
  finalists: 1
  rungs: [0.1]
benchmark: {warmup_runs: 2, warmup_min_s: 0.02, min_runs: 50, min_duration_s: 0.2,
            max_duration_s: 2, evaluate_on_device: true}
"""


def cli(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGEBENCH_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edgebench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, tune_cache: Path
          ) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cwd = tmp_path_factory.mktemp("tune")
    (cwd / "suites").mkdir()
    (cwd / "suites" / "qs.yaml").write_text(SUITE)
    res = cli("tune", "suites/qs.yaml", "--budget", "accuracy:1", "--out", "r", cwd=cwd,
              cache=tune_cache)
    return cwd, res


def test_tune_finds_a_winner_journals_the_run_and_reports_device_time(tuned) -> None:
    cwd, res = tuned
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = (cwd / "r").glob("*-qs-tune-*")
    report = json.loads((run_dir / "tune.json").read_text())
    (row,) = report["winners"]
    assert row["device"] == "local" and row["model"] == "digits-cnn"
    assert row["winner"] in {"fp32/onnx:onnxruntime", "dyn/onnx:onnxruntime", "int8/onnx:onnxruntime"}
    assert row["value"] > 0 and row["fp32_value"] > 0
    # the terminal summary names the winner, its gain and the device time
    assert f"digits-cnn on local: {row['winner']}" in res.stdout
    assert "device time:" in res.stdout and "exhaustive estimate" in res.stdout
    group = report["groups"]["digits-cnn@local"]
    assert len(group["history"]) == 3  # every candidate reached the device (rung1)
    assert all(h[0]["stage"] == "rung1" for h in group["history"].values())
    secs = report["device_seconds"]
    assert secs["jobs_by_stage"] == {"rung1": 3, "final": 1 if row["winner"].startswith("fp32") else 2}
    assert secs["total"] == pytest.approx(sum(secs["by_stage"].values()))
    assert secs["total"] > 0 and secs["exhaustive_estimate"] > 0
    # journaled like a run: finals in results.jsonl, rungs alongside, run.json complete
    finals = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    rungs = [json.loads(x) for x in (run_dir / "rungs" / "results.jsonl").read_text().splitlines()]
    assert len(rungs) == 3 and all(r["result"]["timing"]["stop"] for r in rungs)
    assert {f["variant"] for f in finals} >= {"fp32", row["winner"].split("/")[0]}
    assert all(f["status"] == "ok" for f in finals + rungs)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["kind"] == "tune" and meta["complete"] is True
    for name in ("summary.csv", "report.md", "tune.md", "pareto-digits-cnn-local.svg", "candidates.yaml"):
        assert (run_dir / name).is_file(), name
    assert "<svg" in (run_dir / "pareto-digits-cnn-local.svg").read_text()
    html = (run_dir / "report.html").read_text()
    assert '<h2 id="tuning">Tuning</h2>' in html and html.count("<svg") >= 1
    assert row["winner"] in html and "# Tuning" in (run_dir / "report.md").read_text()
    assert (cwd / "r" / "edgebench.db").is_file()  # stored in history like any run


def test_the_tuned_suite_runs_as_is(tuned, tune_cache: Path) -> None:
    cwd, res = tuned
    path = cwd / "suites" / "qs-tuned.yaml"
    data = yaml.safe_load(path.read_text())
    report = json.loads(next((cwd / "r").glob("*-qs-tune-*/tune.json")).read_text())
    winner = report["winners"][0]["winner"].split("/")[0]
    assert "search" not in data and data["name"] == "qs-tuned" and data["devices"] == ["local"]
    assert [v["name"] for v in data["variants"]][0] == "fp32"
    assert winner in [v["name"] for v in data["variants"]]
    run = cli("run", "suites/qs-tuned.yaml", "--out", "r2", "--no-store", cwd=cwd, cache=tune_cache)
    assert run.returncode == 0, run.stderr[-3000:]
    (run_dir,) = (cwd / "r2").glob("*-qs-tuned-*")
    records = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    assert {r["variant"] for r in records} == {"fp32", winner}
    assert all(r["status"] == "ok" for r in records)


def test_bad_options_are_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from edgebench.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SUITE)
    for args, text in ((["--budget", "accurcy:1"], "--budget 'accurcy:1'"),
                       (["--device", "nope"], "no device or tag named 'nope'"),
                       (["--model", "nope"], "nope")):
        code = main(["tune", "s.yaml", "--out", "r", "--no-store", *args])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert text in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err
    # a number out of range is refused by the parser itself (edgebench.cliargs), exit 2
    with pytest.raises(SystemExit) as stopped:
        main(["tune", "s.yaml", "--out", "r", "--no-store", "--max-device-s", "0"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "--max-device-s: '0': must be > 0" in err, err
    import edgebench  # the API checks it too (NaN, 0, negative)
    with pytest.raises(edgebench.EdgebenchError, match="--max-device-s 0"):
        edgebench.tune(str(tmp_path / "s.yaml"), max_device_s=0, out_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())  # nothing started


def test_a_stopped_tune_says_interrupted_and_keeps_what_finished(tmp_path: Path, mlp_onnx: Path,
                                                                 tune_cache: Path) -> None:
    """Ctrl-C (the stop event) mid-stage: the agent in flight is killed, finished jobs stay
    journaled, run.json says interrupted, and RunInterrupted names the run."""
    import threading

    from edgebench.interrupt import RunInterrupted
    from edgebench.tuning.tuner import tune

    (tmp_path / "m.onnx").write_bytes(mlp_onnx.read_bytes())
    (tmp_path / "s.yaml").write_text(
        "name: stopme\nmodels: [{name: m, path: m.onnx}]\n"
        "search: {quantize: [{mode: dynamic}, {mode: fp16}], finalists: 1, rungs: [0.1]}\n"
        "benchmark: {warmup_runs: 1, warmup_min_s: 0.0, min_runs: 10, min_duration_s: 0.2}\n")
    stop = threading.Event()

    def say(text: str) -> None:
        if text.startswith("  [rung1]"):
            stop.set()  # after the first finished job

    with pytest.raises(RunInterrupted) as err:
        tune(tmp_path / "s.yaml", out_dir=tmp_path / "r", cache_dir=tune_cache, say=say, stop=stop)
    run_dir = err.value.run_dir
    assert json.loads((run_dir / "run.json").read_text())["interrupted"] is True
    lines = (run_dir / "rungs" / "results.jsonl").read_text().splitlines()
    assert 1 <= len(lines) < 3 and json.loads(lines[0])["status"] == "ok"
    assert not (tmp_path / "s-tuned.yaml").exists()
