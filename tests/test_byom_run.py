"""``edgebench run`` on a model users bring (issue 13): a stateful model with a float
input, a state and an int64 scalar, fed from an .npz keyed by input name, on the local
device -- with a variant whose build segfaults, and ``--resume`` afterwards."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "compressors"))
from byom_models import stateful_data, stateful_model  # noqa: E402

from edgebench.run import run_suite  # noqa: E402

FAST = ("benchmark: {warmup_runs: 2, warmup_min_s: 0, min_runs: 20, min_duration_s: 0.05, "
        "max_duration_s: 5, memory_sample_interval_s: 0.01, evaluate_on_device: true}\n")
VARIANTS = """variants:
  - {name: fp32, steps: []}
  - {name: int8-dynamic, steps: [{quantize: {mode: dynamic}}]}
  - {name: uint8-dynamic, steps: [{quantize: {mode: dynamic, weight_type: uint8}}]}
  - {name: fp16, steps: [{quantize: {mode: fp16}}]}
"""


def _suite(tmp_path: Path, extra_variants: str = "") -> Path:
    stateful_model(tmp_path / "vad.onnx")
    stateful_data(tmp_path / "vad.npz")
    path = tmp_path / "suite.yaml"
    path.write_text("name: byom\ndevices: [local]\nmodels:\n  - name: vad\n    path: vad.onnx\n"
                    "    data: vad.npz\n" + VARIANTS + extra_variants + FAST)
    return path


def test_stateful_model_runs_every_variant_and_a_crash_fails_only_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_TEST_STEPS", "1")
    suite = _suite(tmp_path, "  - {name: int8-static, steps: [{test-crash: {}}]}\n")
    out = run_suite(suite, out_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    by_variant = {r.variant: r for r in out.records}
    assert out.exit_code == 1 and out.counts == {"ok": 4, "failed": 1, "skipped": 0}
    assert "step test-crash killed by signal 11 (SIGSEGV)" in by_variant["int8-static"].error
    for variant in ("fp32", "int8-dynamic", "uint8-dynamic", "fp16"):
        rec = by_variant[variant]
        assert rec.status == "ok", rec.error
        result = rec.result
        # the device timed the resolved shapes, the 0-d sr included
        assert result["model"]["input_shapes"] == {"input": [1, 512], "state": [2, 1, 128], "sr": []}
        manifest = rec.artifact["manifest"]
        assert manifest["cosine"] is not None, variant  # fidelity filled for every variant
        on_device = result["accuracy"]
        assert on_device["samples"] == 8 and on_device["cosine"] == pytest.approx(manifest["cosine"], abs=1e-3)
    for variant in ("int8-dynamic", "uint8-dynamic"):
        warnings = by_variant[variant].artifact["manifest"]["warnings"]
        assert by_variant[variant].artifact["manifest"]["cosine"] < 0.9
        assert any(w.startswith("QUALITY LOSS") for w in warnings)
    # --resume: the ok jobs stay, the crashing build crashes alone again, the run completes
    again = run_suite(suite, out_dir=tmp_path / "results", cache_dir=tmp_path / "cache", resume=out.run_id)
    assert again.exit_code == 1 and again.counts == {"ok": 4, "failed": 1, "skipped": 0}
    assert {r.job_id for r in again.records} == {r.job_id for r in out.records}


def test_quality_loss_alone_does_not_fail_the_run(tmp_path: Path) -> None:
    out = run_suite(_suite(tmp_path), out_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    assert out.exit_code == 0 and out.counts == {"ok": 4, "failed": 0, "skipped": 0}
    assert np.isfinite([r.artifact["manifest"]["cosine"] for r in out.records]).all()


@pytest.mark.lab
def test_stateful_model_on_a_lab_device_matches_local(ssh_lab: Any, tmp_path: Path) -> None:
    """The same stateful model on an SSH device (its own Python env, ONNX Runtime only):
    the .npz per input name travels with the job, the device feeds the 0-d int64 `sr`, and
    its on-device fidelity agrees with the controller's for every variant."""
    from tests.test_fleet_lab import lab_devices_yaml

    devices = lab_devices_yaml(ssh_lab, ("onnx-only",), tmp_path / "devices.yaml")
    suite = _suite(tmp_path)
    suite.write_text(suite.read_text().replace("devices: [local]", "devices: [onnx-only]"))
    out = run_suite(suite, devices_path=devices, out_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    assert out.exit_code == 0 and out.counts == {"ok": 4, "failed": 0, "skipped": 0}, [
        r.error for r in out.records if r.status != "ok"]
    for rec in out.records:
        assert rec.device == "onnx-only"
        assert rec.result["model"]["input_shapes"] == {"input": [1, 512], "state": [2, 1, 128], "sr": []}
        manifest, on_device = rec.artifact["manifest"], rec.result["accuracy"]
        assert on_device["samples"] == 8
        assert on_device["cosine"] == pytest.approx(manifest["cosine"], abs=1e-3), rec.variant
    collapsed = {r.variant for r in out.records if r.artifact["manifest"]["cosine"] < 0.9}
    assert collapsed == {"int8-dynamic", "uint8-dynamic"}
