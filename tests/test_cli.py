"""The real ``edgebench`` command: exit codes, one-line errors, and the quickstart end to end."""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def edgebench(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "edgebench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("edgebench: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_help_lists_every_command() -> None:
    proc = edgebench("--help")
    assert proc.returncode == 0
    for cmd in ("run", "compress", "devices", "report", "compare", "nightly", "publish", "ingest"):
        assert cmd in proc.stdout
    assert "exit codes" in proc.stdout
    run_help = edgebench("run", "--help").stdout
    assert "--resume" in run_help and "--device" in run_help and "summary.csv" in run_help


@pytest.mark.parametrize("body, needles", [
    ("name: s\nmodels:\n  - name: m\n    path: m.onnx\n    formt: [onnx]\n",
     (":5: models[0].formt: unknown key", "allowed:")),
    ("name: s\nmodels:\n  - name: m\n    path: m.onnx\nbenchmark:\n  min_runs: lots\n",
     (":6: benchmark.min_runs:", "valid integer")),
    ("name: s\nmodels:\n  - name: m\n    path: missing.onnx\n",
     (":4: models[0].path: file not found", "missing.onnx")),
    ("name: s\nmodels: [\n", ("invalid YAML",)),
])
def test_bad_suites_exit_2_with_one_line(tmp_path: Path, mlp_onnx: Path, body: str, needles: tuple) -> None:
    (tmp_path / "m.onnx").write_bytes(mlp_onnx.read_bytes())
    (tmp_path / "s.yaml").write_text(body)
    proc = edgebench("run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), cwd=tmp_path)
    line = assert_one_line_error(proc, 2, *needles)
    assert str(tmp_path / "s.yaml") in line
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    proc = edgebench("run", "suites/quickstart.yaml", "--resume", "no-such-run", "--out", str(tmp_path))
    assert_one_line_error(proc, 2, "no run 'no-such-run'")
    proc = edgebench("run", "suites/quickstart.yaml", "--device", "nano", "--out", str(tmp_path))
    assert_one_line_error(proc, 2, "no device or tag named 'nano'", "known devices")
    assert edgebench("run").returncode == 2  # argparse: missing SUITE


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path: Path) -> None:
    """The README's first command: every row ok with latency and memory filled."""
    proc = edgebench("run", "suites/quickstart.yaml", "--out", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "results").iterdir() if not (tmp_path / "results" / "edgebench.db").exists() \
        else [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    rows = list(csv.DictReader(open(run_dir / "summary.csv")))
    formats = {r["format"] for r in rows}
    assert formats == {"onnx", "tflite"}
    assert {r["runtime"] for r in rows} >= {"onnxruntime"}
    for row in rows:
        assert row["status"] == "ok", row
        for col in ("latency_mean_s", "latency_p50_s", "latency_p90_s", "latency_p99_s", "load_s",
                    "first_inference_s", "peak_rss_bytes", "size_bytes", "accuracy"):
            assert row[col] not in ("", None) and float(row[col]) > 0, (col, row)
        assert int(row["runs"]) >= 50
        # measured again on the device, over the same evaluation subset and (here) the same CPU
        assert abs(float(row["device_accuracy"]) - float(row["accuracy"])) <= 0.5, row
    report = (run_dir / "report.md").read_text()
    assert "digits-cnn" in report
    assert "ok" in proc.stdout and "results:" in proc.stdout


def _options(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.Action]:
    """'COMMAND [SUB] --flag' -> its action, for every option of every command."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_options(sub, f"{prefix}{name} "))
        else:
            for flag in action.option_strings:
                found[f"{prefix}{flag}"] = action
    return found


def test_out_is_the_results_root_in_every_command() -> None:
    """--out means one thing (issue 14): the results root, where run writes RUN_ID folders
    and the store; the other folders have their own names."""
    from edgebench.cli import build_parser

    options = _options(build_parser())
    outs = {k: a for k, a in options.items() if k.endswith(" --out")}
    assert sorted(outs) == ["compare --out", "ingest --out", "nightly --out", "profile --out",
                            "publish --out", "report --out", "run --out", "tune --out"]
    for where, action in outs.items():
        assert action.default == "results" and "results root" in (action.help or ""), where
        assert options[where.replace("--out", "--results")] is action, where  # one alias
    assert options["compress --cache"].dest == "cache"
    assert options["publish --site"].required and options["nightly --site"].dest == "site"
    assert options["report --report-dir"].dest == "report_dir"
