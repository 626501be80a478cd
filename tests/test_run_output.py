"""What `edgebench run` shows a person: a table that fits 80 columns with every reason in
full below it, third-party chatter kept in toolchain.log, names that cannot drive the
terminal, and a resumed run that stays on its own devices."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.errors import UsageError
from edgebench.run import run_suite
from edgebench.textsafe import printable

FAST = ("benchmark: {warmup_runs: 1, warmup_min_s: 0, min_runs: 5, min_duration_s: 0.02, "
        "max_duration_s: 5, memory_sample_interval_s: 0.01}\n")
ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path, columns: int = 80, cache: str = "cache") -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(ROOT),
           "EDGEBENCH_CACHE": str(cwd / cache)}
    env.pop("TERM", None)
    return subprocess.run([sys.executable, "-m", "edgebench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def _lab(tmp_path: Path, mlp_onnx: Path) -> tuple[Path, Path]:
    """Two local devices: `onnxbox` runs ONNX (one good model, one corrupt file), `litebox`
    only allows TFLite, so both ONNX models are skipped there with the allow-list reason."""
    (tmp_path / "good.onnx").write_bytes(mlp_onnx.read_bytes())
    (tmp_path / "broken.onnx").write_bytes(b"this is not a protobuf" * 20)
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  onnxbox: {kind: local, runtimes: [onnx]}\n"
                       "  litebox: {kind: local, runtimes: [tflite]}\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: narrow\ndevices: [onnxbox, litebox]\nmodels:\n"
                     "  - {name: good, path: good.onnx}\n  - {name: broken-model-with-a-long-name, "
                     "path: broken.onnx}\n" + FAST)
    return suite, devices


@pytest.mark.parametrize("quiet", [False, True])
def test_narrow_piped_run_fits_80_columns_and_prints_every_reason_in_full(
        tmp_path: Path, mlp_onnx: Path, quiet: bool) -> None:
    suite, devices = _lab(tmp_path, mlp_onnx)
    res = cli("run", str(suite), "--devices", str(devices), "--out", "r", *(["-q"] if quiet else []),
              cwd=tmp_path)
    assert res.returncode == 1, res.stderr[-3000:]
    rows = list(csv.DictReader(open(next((tmp_path / "r").glob("*/summary.csv")))))
    reasons = {(r["model"], r["device"]): (r["status"], r["error"]) for r in rows}
    failed_status, failed_reason = reasons[("broken-model-with-a-long-name", "onnxbox")]
    skipped_status, skipped_reason = reasons[("good", "litebox")]
    assert (failed_status, skipped_status) == ("failed", "skipped")
    assert len(failed_reason) > 60 and "excluded by the device's runtimes allow-list" in skipped_reason
    out = res.stdout.splitlines()
    notes_at = out.index("notes:")
    table, notes = out[:notes_at], out[notes_at + 1:]
    assert max(len(line) for line in table) <= 80, "\n".join(line for line in table if len(line) > 80)
    assert any("FAIL [" in line for line in table) and any("SKIP [" in line for line in table)
    # the broken file fails to load before any device could skip it: one reason, both
    # devices' jobs, so one note names both
    fail_notes = [line for line in notes if line.endswith(f"failed: {failed_reason}")]
    assert len(fail_notes) == 1 and "2 jobs (" in fail_notes[0], notes
    assert any(line.endswith(f"good/fp32/onnx@litebox: skipped: {skipped_reason}") for line in notes)
    assert "1 ok, 2 failed, 1 skipped" in res.stdout


def test_runtime_that_refused_the_model_is_in_summary_csv(tmp_path: Path, mlp_onnx: Path) -> None:
    """The device's ONNX Runtime refuses the job (it has no CUDA provider): the failed row
    still says which runtime and version refused it."""
    (tmp_path / "m.onnx").write_bytes(mlp_onnx.read_bytes())
    suite = tmp_path / "s.yaml"
    suite.write_text("name: cuda\ndevices: [local]\nmodels:\n  - {name: m, path: m.onnx}\n"
                     "onnxruntime: {providers: [CUDAExecutionProvider]}\n" + FAST)
    out = run_suite(suite, out_dir=tmp_path / "r", cache_dir=tmp_path / "c")
    import onnxruntime

    (row,) = csv.DictReader(open(out.run_dir / "summary.csv"))
    assert row["status"] == "failed" and "CUDAExecutionProvider" in row["error"]
    assert (row["runtime"], row["runtime_version"]) == ("onnxruntime", onnxruntime.__version__)


def test_third_party_output_goes_to_toolchain_log(tmp_path: Path, tiny_tflite: Path) -> None:
    """LiteRT prints 'Created TensorFlow Lite XNNPACK delegate' from C++ when the controller
    runs the model for fidelity: it belongs in the run's toolchain.log, not between progress
    lines; edgebench's own progress still reaches the terminal."""
    (tmp_path / "dense.tflite").write_bytes(tiny_tflite.read_bytes())
    suite = tmp_path / "s.yaml"
    suite.write_text("name: quiet\ndevices: [local]\nmodels:\n  - {name: dense, path: dense.tflite}\n"
                     "variants:\n  - {name: fp32, steps: []}\n" + FAST)
    res = cli("run", str(suite), "--out", "r", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    log = next((tmp_path / "r").glob("*/toolchain.log")).read_text()
    assert "XNNPACK" in log
    assert "XNNPACK" not in res.stderr + res.stdout
    assert "[1/1] dense/fp32/tflite@local: ok" in res.stderr
    assert not list((tmp_path / "r").glob(".toolchain.log.*")), "the temporary log is moved, not left"
    verbose = cli("run", str(suite), "--out", "r2", "--verbose", cwd=tmp_path, cache="cache2")
    assert verbose.returncode == 0 and "XNNPACK" in verbose.stderr


def test_capture_catches_fd_level_writes_of_children(tmp_path: Path) -> None:
    from edgebench.toolchain_log import ToolchainCapture

    script = (
        "import os, subprocess, sys\n"
        "from pathlib import Path\n"
        "from edgebench.toolchain_log import ToolchainCapture\n"
        "with ToolchainCapture(Path(sys.argv[1])) as cap:\n"
        "    os.write(2, b'C-level noise\\n')\n"
        "    subprocess.run(['sh', '-c', 'echo child noise; echo child err >&2'])\n"
        "    print('edgebench line', file=cap.terminal)\n"
        "    run_dir = Path(sys.argv[1]) / 'run1'; run_dir.mkdir()\n"
        "    cap.place(run_dir)\n"
        "    os.write(1, b'after the move\\n')\n"
        "print('back on stdout')\n")
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stderr == "edgebench line\n" and res.stdout == "back on stdout\n"
    log = (tmp_path / "run1" / "toolchain.log").read_text()
    assert log.splitlines() == ["C-level noise", "child noise", "child err", "after the move"]
    assert ToolchainCapture  # imported in-process too: the module has no side effects


def test_resume_runs_on_the_runs_own_devices(tmp_path: Path, mlp_onnx: Path) -> None:
    """A run on three devices lost one; the resume must run the missing jobs on that device
    (not on the suite's default `local`), and summary.csv covers every job of the run."""
    (tmp_path / "mlp.onnx").write_bytes(mlp_onnx.read_bytes())
    flag = tmp_path / "c-is-down"
    flag.write_text("1")
    down = tmp_path / "python-c"
    down.write_text(f"#!/bin/sh\n[ -e {flag} ] && exit 3\nexec {sys.executable} \"$@\"\n")
    down.chmod(0o755)
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  a: {kind: local}\n  b: {kind: local}\n"
                       f"  c: {{kind: local, python: {down}, retries: 0}}\n")
    suite = tmp_path / "s.yaml"
    suite.write_text("name: three\ndevices: [local]\nmodels:\n  - {name: m1, path: mlp.onnx}\n"
                     "  - {name: m2, path: mlp.onnx}\n" + FAST)
    first = run_suite(suite, devices_path=devices, device_names=["a", "b", "c"], out_dir=tmp_path / "r",
                      cache_dir=tmp_path / "cache")
    assert first.counts == {"ok": 4, "failed": 2, "skipped": 0}
    with pytest.raises(UsageError, match="was started on device"):
        run_suite(suite, devices_path=devices, device_names=["local"], out_dir=tmp_path / "r",
                  cache_dir=tmp_path / "cache", resume=first.run_id)
    flag.unlink()  # device c is back
    again = run_suite(suite, devices_path=devices, out_dir=tmp_path / "r", cache_dir=tmp_path / "cache",
                      resume=first.run_id)
    assert again.exit_code == 0 and again.counts == {"ok": 6, "failed": 0, "skipped": 0}
    rows = list(csv.DictReader(open(again.run_dir / "summary.csv")))
    assert sorted((r["model"], r["device"]) for r in rows) == [
        (m, d) for m in ("m1", "m2") for d in ("a", "b", "c")]
    assert all(r["status"] == "ok" for r in rows)
    meta = json.loads((again.run_dir / "run.json").read_text())
    assert meta["devices"] == ["a", "b", "c"] and meta["complete"] is True
    report = (again.run_dir / "report.md").read_text()
    assert all(f"| {d} " in report or f"{d}" in report for d in ("a", "b", "c"))


def test_printable_escapes_terminal_controls() -> None:
    hostile = "pi\x1b]0;owned\x07\x1b[2J\x1b[31m\u202etxt.exe\x9b"
    safe = printable(hostile)
    assert safe == "pi\\x1b]0;owned\\x07\\x1b[2J\\x1b[31m\\u202etxt.exe\\x9b"
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in safe)
    assert printable("digits-cnn/int8 ok") == "digits-cnn/int8 ok" and printable(None) == ""


def test_hostile_names_never_reach_the_terminal_raw(tmp_path: Path, mlp_onnx: Path) -> None:
    """A device named with escape sequences (OSC title, clear screen, colour): `devices
    list`, the progress lines and the result table print it escaped."""
    (tmp_path / "m.onnx").write_bytes(mlp_onnx.read_bytes())
    devices = tmp_path / "devices.yaml"
    devices.write_text('devices:\n  "ev\\e]0;pwn\\a\\e[2J\\e[31mil": {kind: local}\n')
    suite = tmp_path / "s.yaml"
    suite.write_text('name: esc\ndevices: [all]\nmodels:\n  - {name: "m\\e[5m", path: m.onnx}\n' + FAST)
    listing = cli("devices", "list", "--devices", str(devices), cwd=tmp_path)
    run = cli("run", str(suite), "--devices", str(devices), "--out", "r", cwd=tmp_path)
    for res in (listing, run):
        text = res.stdout + res.stderr
        if res.returncode == 2:  # refused at load: the error line quotes the name escaped too
            assert "\x1b" not in text and "\x07" not in text and "Traceback" not in text, repr(text)
            continue
        assert res.returncode in (0, 1), text[-2000:]
        assert "\x1b" not in text and "\x07" not in text, repr(text[-2000:])
        assert "ev\\x1b]0;pwn\\x07" in text
