"""`edgebench devices check` names the probe sources a device can really use.

The Jetson tree is the fixture of tests/agent/probes/fixtures/jetson_xavier_nx, laid out as
the JetPack 5 INA3221 hwmon driver presents it (sources in that folder's README.md and
../shared/reference/device-sysfs.md); an empty tree stands for a board with no meters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from edgebench.commands.devices import _probes_text

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "agent" / "probes" / "fixtures"


def check(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    env.pop("EDGEBENCH_SYSFS_ROOT", None)
    return subprocess.run([sys.executable, "-m", "edgebench", "devices", "check", "--devices",
                           str(tmp_path / "devices.yaml"), "jetson", "bare", *extra], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def test_check_names_usable_sources_by_name_or_none(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "jetson_xavier_nx", tmp_path / "jetson")
    (tmp_path / "bare").mkdir()
    (tmp_path / "devices.yaml").write_text(
        f"devices:\n  jetson: {{kind: local, sysfs_root: {tmp_path / 'jetson'}}}\n"
        f"  bare: {{kind: local, sysfs_root: {tmp_path / 'bare'}}}\n")
    res = check(tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = {line.split()[0]: line.split()[-1] for line in res.stdout.splitlines()[1:]}
    assert rows == {"jetson": "jetson-ina3221", "bare": "none"}
    info = {r["device"]: r["info"]["probes"] for r in json.loads(check(tmp_path, "--json").stdout)}
    assert info["jetson"]["energy"]["jetson-ina3221"]["usable"] is True
    assert info["jetson"]["sysfs_root"] == str(tmp_path / "jetson")


def test_probes_text_lists_meters_zones_policies_and_tools() -> None:
    probes = {"sysfs_root": "/", "auto": "rapl", "thermal_zones": 2, "cpufreq_policies": 1,
              "energy": {"rapl": {"usable": True}, "hwmon": {"usable": False, "reason": "none"}},
              "tools": {"vcgencmd": "/usr/bin/vcgencmd", "tegrastats": None}}
    assert _probes_text({"probes": probes}) == "rapl,thermal(2),cpufreq(1),vcgencmd"
    assert _probes_text({"probes": {"energy": {"rapl": {"usable": False}}, "thermal_zones": 0,
                                    "cpufreq_policies": 0, "tools": {}}}) == "none"
    assert _probes_text({"probes": {"error": "OSError: boom"}}) == "error: OSError: boom"


def test_runtimes_column_lists_every_registered_runtime_with_its_version() -> None:
    """`devices check` shows each runtime of the agent's registry the device has, and an
    older agent's inventory (onnxruntime + tflite_all only) still reads."""
    from edgebench.commands.devices import _runtimes_text

    new = {"runtimes": {"onnxruntime": {"version": "1.32.0"}, "openvino": {"version": "2026.4.1"},
                        "tflite": {"version": "2.3.0"}, "litert-compiled": {"version": "2.3.0"},
                        "executorch": None,
                        "tflite_all": {"ai_edge_litert": "2.3.0", "tflite_runtime": None}}}
    assert _runtimes_text(new) == ("onnxruntime 1.32.0, openvino 2026.4.1, tflite (ai_edge_litert "
                                   "2.3.0), litert-compiled 2.3.0")
    old = {"runtimes": {"onnxruntime": {"version": "1.17.0"}, "tflite": None,
                        "tflite_all": {"tflite_runtime": "2.14.0"}}}
    assert _runtimes_text(old) == "onnxruntime 1.17.0, tflite (tflite_runtime 2.14.0)"
    assert _runtimes_text({"runtimes": {}}) == "none"
    # what each can run on: ORT's providers, OpenVINO's devices, ExecuTorch's delegates
    accel = {"runtimes": {
        "onnxruntime": {"version": "1.32.0", "providers": ["TensorrtExecutionProvider",
                                                          "CUDAExecutionProvider", "CPUExecutionProvider"]},
        "openvino": {"version": "2026.4.1", "devices": ["CPU", "GPU"]},
        "executorch": {"version": "1.5.1", "backends": ["XnnpackBackend"]}}}
    assert _runtimes_text(accel) == ("onnxruntime 1.32.0 [Tensorrt, CUDA, CPU], openvino 2026.4.1 "
                                     "[CPU, GPU], executorch 1.5.1 [XnnpackBackend]")
