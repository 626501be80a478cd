"""Variant builds and the end-of-run report run in a child process (edgebench/child.py).

The controller holds one thread and one SSH transport per device for the whole run; what
it imports stays resident, so the toolchain (onnx, onnxruntime, torch, TensorFlow) and
pandas must load in a child that gives its memory back on exit.  These tests run the real
CLI and the real child and check what the controller process itself imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench import child
from edgebench.config import load_suite
from edgebench.errors import ConfigError, StoreError
from tests.test_run import suite_file

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("onnx", "onnxruntime", "pandas", "pyarrow", "torch", "tensorflow", "scipy", "sklearn")

# Runs the CLI in this interpreter, then reports which heavy modules the controller
# process itself imported and its own peak RSS.
PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from edgebench.cli import main
code = main(sys.argv[3:])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")]
heavy = sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)
print("PROBE " + json.dumps({"code": code, "heavy": heavy, "hwm": hwm[0].split()[1] if hwm else None}))
"""


def _run_cli(cwd: Path, *args: str) -> dict:
    res = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), json.dumps(HEAVY), *args],
                         cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
                         env={**os.environ, "EDGEBENCH_CACHE": str(cwd / "cache")})
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")]
    assert lines, res.stdout[-2000:] + res.stderr[-2000:]
    return {**json.loads(lines[-1][6:]), "stdout": res.stdout, "stderr": res.stderr}


def test_a_run_builds_and_reports_without_loading_the_toolchain_or_pandas(tmp_path: Path,
                                                                          mlp_onnx: Path) -> None:
    suite = suite_file(tmp_path, mlp_onnx)
    args = ("run", str(suite), "--out", str(tmp_path / "results"), "-q")
    first = _run_cli(tmp_path, *args, "--no-store")
    assert first["code"] == 0, first["stderr"][-2000:]
    assert first["heavy"] == [], "imported by the controller itself"
    [run_dir] = [p for p in (tmp_path / "results").iterdir() if (p / "run.json").exists()]
    assert (run_dir / "report.md").read_text().startswith("# edgebench run")
    assert (run_dir / "report.html").exists()
    again = _run_cli(tmp_path, *args)  # variants cached now, and the store is written
    assert again["code"] == 0 and again["heavy"] == [], again["stderr"][-2000:]


def test_build_progress_and_artifacts_come_back_from_the_child(tmp_path: Path, mlp_onnx: Path) -> None:
    suite = load_suite(suite_file(tmp_path, mlp_onnx))
    said: list[str] = []
    arts = child.build_variants(suite, cache_dir=tmp_path / "c", progress=said.append)
    assert [(a.model, a.variant, a.format, a.error) for a in arts] == [
        ("mlp", "fp32", "onnx", None), ("mlp2", "fp32", "onnx", None)]
    assert all(a.path is not None and a.path.is_file() for a in arts)
    assert arts[0].manifest["cache_key"] and arts[0].manifest["size_bytes"] == arts[0].path.stat().st_size
    assert any("building" in s for s in said) and "loading source" in said[0]
    cached: list[str] = []
    again = child.build_variants(suite, cache_dir=tmp_path / "c", progress=cached.append)
    assert [a.path for a in again] == [a.path for a in arts]
    assert [a.manifest for a in again] == [a.manifest for a in arts]  # fresh == cached
    assert any(s.endswith(": cached") for s in cached)


def test_an_error_in_the_child_is_raised_with_its_class_message_and_exit_code(tmp_path: Path,
                                                                              mlp_onnx: Path) -> None:
    path = suite_file(tmp_path, mlp_onnx)
    suite = load_suite(path)
    path.write_text(path.read_text() + "# edited after the run read it\n")
    with pytest.raises(ConfigError) as err:
        child.build_variants(suite, cache_dir=tmp_path / "c")
    assert err.value.exit_code == 2 and str(path) in err.value.one_line()
    assert "changed while the run was starting" in err.value.one_line()
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "run.json").write_text("{not json")
    with pytest.raises(StoreError) as err2:
        child.write_run_report(run_dir)
    assert err2.value.exit_code == 2 and "run.json" in err2.value.one_line()  # a user file: exit 2
    assert "edited by hand" in err2.value.one_line()  # the hint came across too


def test_a_bug_in_the_child_is_not_dressed_up_as_a_user_error(capfd: pytest.CaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="TypeError"):
        child.call("write_run_report", {"no_such_argument": 1})
    assert "Traceback" in capfd.readouterr().err  # the child printed the bug's traceback
