"""The fleet end to end on the real-sshd lab: three different devices, trust, dedup, faults.

Each lab device is a real ``sshd`` on loopback with its own Python environment (a legacy
Pi with Python 3.9 + tflite-runtime 2.14 + numpy 1.x, a LiteRT device, an ONNX-only box),
so runtimes are detected, not assumed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgebench.results.journal import read_journal
from edgebench.run import run_suite

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[1]
FLEET = ("legacy-pi", "litert", "onnx-only")
FAST = {"warmup_runs": 2, "warmup_min_s": 0.0, "min_runs": 20, "min_duration_s": 0.05,
        "max_duration_s": 5.0}


def lab_devices_yaml(ssh_lab: Any, names: tuple[str, ...], path: Path, **overrides: Any) -> Path:
    entries = {}
    for name in names:
        spec = ssh_lab.spec(name, **overrides.get(name, {}))
        entries[name] = {k: v for k, v in vars(spec).items()
                         if k != "name" and v not in (None, [], {})}
    path.write_text(yaml.safe_dump({"devices": entries}, sort_keys=False))
    return path


def quickstart_variant_suite(tmp_path: Path, devices: tuple[str, ...], **bench: Any) -> Path:
    """The quickstart's models and variants, with short timing so the lab test stays quick."""
    suite = yaml.safe_load((ROOT / "suites" / "quickstart.yaml").read_text())
    suite["devices"] = list(devices)
    suite["benchmark"] = {**FAST, **bench}
    path = tmp_path / "lab-suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True,
                          timeout=900, cwd=ROOT)


def test_quickstart_variants_on_three_real_devices(ssh_lab: Any, tmp_path: Path) -> None:
    devices = lab_devices_yaml(ssh_lab, FLEET, tmp_path / "devices.yaml")
    suite = quickstart_variant_suite(tmp_path, FLEET)
    out = run_suite(suite, devices_path=devices, out_dir=tmp_path / "results")
    by_job = {(r.device, r.format, r.variant): r for r in out.records}
    assert len(out.records) == len(by_job) and out.records, "every job accounted for, once"
    for rec in out.records:
        assert rec.status in ("ok", "failed", "skipped")
        if rec.status != "ok":
            assert rec.error, rec.job_id
        if rec.format == "onnx":
            want = "ok" if rec.device == "onnx-only" else "skipped"
        else:
            want = "skipped" if rec.device == "onnx-only" else None
        if want:
            assert rec.status == want, (rec.job_id, rec.status, rec.error)
        if rec.status == "skipped":
            assert rec.error.startswith(("runtime onnxruntime is not available on this device",
                                         "runtime tflite is not available on this device")), rec.error
    fp32_pi = by_job[("legacy-pi", "tflite", "fp32")]
    assert fp32_pi.status == "ok", fp32_pi.error
    assert fp32_pi.result["runtime"]["name"] == "tflite_runtime"
    assert fp32_pi.result["machine"]["numpy"].startswith("1.")
    assert by_job[("litert", "tflite", "fp32")].result["runtime"]["name"] == "ai_edge_litert"
    # a variant the legacy runtime cannot load fails with the runtime's reason, not a crash
    for rec in out.records:
        if rec.device == "legacy-pi" and rec.status == "failed":
            assert rec.error_kind in ("load_failed", "inference_failed"), rec.error

    again = run_suite(suite, devices_path=devices, out_dir=tmp_path / "results")
    assert {d.name: d.bytes_pushed for d in again.devices} == {n: 0 for n in FLEET}
    assert sum(d.bytes_pushed for d in out.devices) > 0


def test_a_device_with_one_runtime_skips_the_other_runtimes_jobs(ssh_lab: Any, tmp_path: Path,
                                                                 mlp_onnx: Path) -> None:
    """Issue 15: the same .onnx on ONNX Runtime and OpenVINO, on the lab's ONNX-only box
    (numpy + onnxruntime, nothing else): the OpenVINO job is skipped, saying so and what
    the device has; the ONNX Runtime job keeps its pre-runtimes job id and runs."""
    devices = lab_devices_yaml(ssh_lab, ("onnx-only",), tmp_path / "devices.yaml")
    (tmp_path / "mlp.onnx").write_bytes(mlp_onnx.read_bytes())
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "one-runtime", "devices": ["onnx-only"], "benchmark": FAST,
        "runtimes": ["onnxruntime", "openvino"],
        "models": [{"name": "mlp", "path": "mlp.onnx"}]}))
    out = run_suite(suite, devices_path=devices, out_dir=tmp_path / "results")
    by_id = {r.job_id: r for r in out.records}
    assert sorted(by_id) == ["mlp/fp32/onnx:openvino@onnx-only", "mlp/fp32/onnx@onnx-only"]
    ort = by_id["mlp/fp32/onnx@onnx-only"]
    assert ort.status == "ok" and ort.result["runtime"]["name"] == "onnxruntime", ort.error
    ov = by_id["mlp/fp32/onnx:openvino@onnx-only"]
    assert ov.status == "skipped" and ov.error_kind == "unsupported" and ov.runtime == "openvino"
    assert ov.error.startswith("runtime openvino is not available on this device (its inventory "
                               "has: onnxruntime "), ov.error
    assert ov.summary["runtime"] == "openvino" and out.exit_code == 1


def test_runtimes_all_runs_what_each_device_has(ssh_lab: Any, tmp_path: Path, mlp_onnx: Path,
                                                tiny_tflite: Path) -> None:
    """Issue 15: ``runtimes: all`` is every runtime *the device has* for the format.  On the
    ONNX-only box the .onnx runs on ONNX Runtime and OpenVINO's job is not planned there
    (run.json says so); the .tflite, for which the box has no runtime at all, keeps its
    classic job, skipped with the reason -- a format never vanishes silently."""
    devices = lab_devices_yaml(ssh_lab, ("onnx-only",), tmp_path / "devices.yaml")
    (tmp_path / "mlp.onnx").write_bytes(mlp_onnx.read_bytes())
    (tmp_path / "tiny.tflite").write_bytes(tiny_tflite.read_bytes())
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "all-runtimes", "devices": ["onnx-only"], "benchmark": FAST, "runtimes": "all",
        "models": [{"name": "mlp", "path": "mlp.onnx"}, {"name": "tiny", "path": "tiny.tflite"}]}))
    out = run_suite(suite, devices_path=devices, out_dir=tmp_path / "results")
    by_id = {r.job_id: r for r in out.records}
    assert sorted(by_id) == ["mlp/fp32/onnx@onnx-only", "tiny/fp32/tflite@onnx-only"]
    assert by_id["mlp/fp32/onnx@onnx-only"].status == "ok", by_id["mlp/fp32/onnx@onnx-only"].error
    tfl = by_id["tiny/fp32/tflite@onnx-only"]
    assert tfl.status == "skipped" and tfl.error.startswith(
        "runtime tflite is not available on this device (its inventory has: onnxruntime "), tfl.error
    meta = json.loads((out.run_dir / "run.json").read_text())
    assert meta["not_on_device"] == {"onnx-only": ["mlp/fp32/onnx:openvino@onnx-only",
                                                   "tiny/fp32/tflite:litert-compiled@onnx-only"]}
    assert meta["jobs_planned"] == 2 and meta["complete"] is True
    assert out.devices[0].not_on_device == meta["not_on_device"]["onnx-only"]


def test_unknown_host_key_is_refused_until_trusted(ssh_lab: Any, scratch_device: str, tmp_path: Path,
                                                   mlp_onnx: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    devices = lab_devices_yaml(ssh_lab, (scratch_device,), tmp_path / "devices.yaml",
                               **{scratch_device: {"known_hosts": str(kh)}})
    (tmp_path / "mlp.onnx").write_bytes(mlp_onnx.read_bytes())
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "trust", "devices": [scratch_device],
                                     "models": [{"name": "mlp", "path": "mlp.onnx"}], "benchmark": FAST}))
    first = cli("run", str(suite), "--devices", str(devices), "--out", str(tmp_path / "r"), "--no-store")
    assert first.returncode == 1
    assert "SHA256:" in first.stdout + first.stderr and "devices trust" in first.stdout + first.stderr
    trust = cli("devices", "trust", scratch_device, "--yes", "--devices", str(devices))
    assert trust.returncode == 0, trust.stderr
    assert kh.read_text().strip()
    second = cli("run", str(suite), "--devices", str(devices), "--out", str(tmp_path / "r"), "--no-store")
    assert second.returncode == 0, second.stdout + second.stderr


def test_killed_sshd_fails_only_its_jobs_and_resume_completes(ssh_lab: Any, scratch_device: str,
                                                               tmp_path: Path, mlp_onnx: Path) -> None:
    names = ("onnx-only", scratch_device)
    devices = lab_devices_yaml(ssh_lab, names, tmp_path / "devices.yaml",
                               **{scratch_device: {"connect_timeout_s": 2.0}})
    (tmp_path / "mlp.onnx").write_bytes(mlp_onnx.read_bytes())
    suite = tmp_path / "s.yaml"
    models = [{"name": f"m{i}", "path": "mlp.onnx"} for i in range(4)]
    suite.write_text(yaml.safe_dump({"name": "faults", "devices": list(names), "models": models,
                                     "benchmark": {**FAST, "min_duration_s": 0.3}}))
    killed = threading.Event()

    def on_record(_meta: dict, rec: Any) -> None:
        if rec.device == scratch_device and not killed.is_set():
            ssh_lab.kill(scratch_device)  # the link drops after the device's first job
            killed.set()

    out = run_suite(suite, devices_path=devices, out_dir=tmp_path / "results", on_record=on_record)
    assert killed.is_set() and out.exit_code == 1
    per_device = {n: [r for r in out.records if r.device == n] for n in names}
    assert [r.status for r in per_device["onnx-only"]] == ["ok"] * 4
    scratch = per_device[scratch_device]
    assert scratch[0].status == "ok" and len(scratch) == 4
    for rec in scratch[1:]:
        assert rec.status == "failed" and rec.error_kind in ("connection", "unreachable"), rec.error
    journal = read_journal(out.run_dir / "results.jsonl")
    assert len(journal.records) == 8 and not journal.warnings
    assert json.loads((out.run_dir / "run.json").read_text())["counts"] == {"ok": 5, "failed": 3, "skipped": 0}

    ssh_lab.start(scratch_device)  # the device is back
    resumed = run_suite(suite, devices_path=devices, out_dir=tmp_path / "results", resume=out.run_id)
    assert resumed.exit_code == 0 and resumed.counts == {"ok": 8, "failed": 0, "skipped": 0}
    assert len(read_journal(out.run_dir / "results.jsonl").records) == 11  # only 3 jobs redone
