"""Energy and throttling through a whole run on `local`, with sysfs fixture trees.

The trees are the probe tests' fixtures (tests/agent/probes/fixtures, each layout with
its source in that folder's README.md: RAPL per linux Documentation/power/powercap/
powercap.rst; Raspberry Pi `vcgencmd get_throttled` bits per raspberrypi/utils
vcgencmd.1).  A writer thread plays the RAPL counter at a known power.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path

import pytest

from edgebench.run import run_suite
from tests.agent.probes.probes_helpers import FAKEBIN, FIXTURES, LiveDevice
from tests.conftest import make_mlp_onnx

POWER_W = 4.0
RAPL = "sys/devices/virtual/powercap/intel-rapl/intel-rapl:0"


def suite(tmp_path: Path, device: str) -> Path:
    make_mlp_onnx(tmp_path / "mlp.onnx", n=256)
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: probes\ndevices: [{device}]\nmodels:\n  - {{name: mlp, path: mlp.onnx}}\n"
                    "benchmark: {warmup_runs: 5, warmup_min_s: 0.1, min_runs: 50, min_duration_s: 1.0}\n")
    return path


def rows(run_dir: Path) -> list[dict]:
    return list(csv.DictReader(open(run_dir / "summary.csv")))


def test_energy_per_inference_is_power_times_latency(tmp_path: Path) -> None:
    root = tmp_path / "sysroot"
    shutil.copytree(FIXTURES / "x86_rapl", root, symlinks=True)
    counter = root / RAPL / "energy_uj"
    max_uj = int((root / RAPL / "max_energy_range_uj").read_text())
    t0 = time.perf_counter()
    (tmp_path / "devices.yaml").write_text(
        "devices:\n  lab-x86:\n    kind: local\n    energy: rapl\n    idle_s: 0.5\n"
        f"    env: {{EDGEBENCH_SYSFS_ROOT: '{root}'}}\n")
    with LiveDevice(counter, lambda t: int(POWER_W * (t - t0) * 1e6) % max_uj, period_s=0.001):
        out = run_suite(suite(tmp_path, "lab-x86"), devices_path=tmp_path / "devices.yaml",
                        out_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    (row,) = rows(out.run_dir)
    assert row["status"] == "ok" and row["energy_probe"] == "rapl"
    energy = float(row["energy_per_inference_j"])
    expected = POWER_W * float(row["latency_mean_s"])
    assert energy == pytest.approx(expected, rel=0.10)
    assert float(row["mean_power_w"]) == pytest.approx(POWER_W, rel=0.05)
    # idle draw is the same 4 W, so the net energy above idle is ~0
    assert abs(float(row["net_energy_per_inference_j"])) < 0.1 * energy


def test_throttled_device_is_flagged_and_warned(tmp_path: Path) -> None:
    root = tmp_path / "sysroot"
    shutil.copytree(FIXTURES / "rpi5", root, symlinks=True)
    path = f"{FAKEBIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    (tmp_path / "devices.yaml").write_text(
        "devices:\n  fake-pi:\n    kind: local\n    energy: none\n"
        f"    sysfs_root: '{root}'\n"
        f"    env: {{PATH: '{path}', FAKE_VCGENCMD_THROTTLED: '0x50005'}}\n")
    out = run_suite(suite(tmp_path, "fake-pi"), devices_path=tmp_path / "devices.yaml",
                    out_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    (row,) = rows(out.run_dir)
    assert row["status"] == "ok" and row["throttled"] == "True"
    thermal = out.records[0].result["thermal"]
    assert any("under-voltage" in w.lower() or "throttl" in w.lower() for w in thermal["warnings"])
    report = (out.run_dir / "report.md").read_text().lower()
    assert "throttl" in report and "fake-pi" in report
