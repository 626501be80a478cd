"""`edgebench tune` on two real-sshd lab devices with different runtimes: a LiteRT board and
an ONNX-Runtime-only box.  Each device's winner is in the format its runtime runs (the
other format's jobs are skipped there, recorded with the reason), and the tuned suite runs
as is on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edgebench.run import run_suite
from edgebench.tuning.tuner import tune
from tests.test_fleet_lab import lab_devices_yaml

pytestmark = pytest.mark.lab
DEVICES = ("litert", "onnx-only")


def test_two_devices_with_different_runtimes_get_their_own_winner(ssh_lab: Any, tmp_path: Path,
                                                                  tune_cache: Path) -> None:
    devices = lab_devices_yaml(ssh_lab, DEVICES, tmp_path / "devices.yaml")
    suite = tmp_path / "lab.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "lab", "devices": list(DEVICES),
        "models": [{"name": "digits-cnn", "builtin": "digits-cnn", "formats": ["onnx", "tflite"],
                    "data": "digits"}],
        "search": {"quantize": [{"mode": "static"}], "prune": [], "cluster": [], "distill": [],
                   "finalists": 1, "rungs": [0.2]},
        "benchmark": {"warmup_runs": 2, "warmup_min_s": 0.0, "min_runs": 20,
                      "min_duration_s": 0.1, "max_duration_s": 2.0}}, sort_keys=False))
    said: list[str] = []
    out = tune(suite, devices_path=devices, out_dir=tmp_path / "r", cache_dir=tune_cache,
               say=said.append)
    assert out.exit_code == 0, said
    rows = {r["device"]: r for r in out.winners}
    assert rows["litert"]["winner"].split("/")[1] == "tflite:tflite"
    assert rows["onnx-only"]["winner"].split("/")[1] == "onnx:onnxruntime"
    for device, other in (("litert", "onnx"), ("onnx-only", "tflite")):
        res = out.results[("digits-cnn", device)]
        skipped = [k for k in res.dropped if f"/{other}:" in k]
        assert len(skipped) == 2  # fp32 and int8 in the format this device cannot run
        assert all(res.dropped[k].startswith("rung1: skipped: runtime ") for k in skipped)
        assert rows[device]["fp32_value"] and rows[device]["value"]
    assert set(out.ledger.by_device) == set(DEVICES) and out.device_s > 0
    tuned = yaml.safe_load(out.tuned_suite.read_text())
    assert tuned["devices"] == list(DEVICES)
    again = run_suite(out.tuned_suite, devices_path=devices, out_dir=tmp_path / "r2",
                      cache_dir=tune_cache)
    ran = {(r.device, r.variant, r.format): r.status for r in again.records}
    for device, row in rows.items():
        variant, _, rest = row["winner"].partition("/")
        assert ran[(device, variant, rest.split(":")[0])] == "ok"
        assert ran[(device, "fp32", rest.split(":")[0])] == "ok"
