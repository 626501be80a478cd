"""An OpenVINO job leaves the device user's home alone.

``import openvino`` starts Intel's usage telemetry (``openvino.tools.ovc`` ->
``openvino_telemetry``), which writes ``~/intel/openvino_ga_cid`` and ``~/intel/stats``
unless the environment looks like CI (``CI=true``) -- so the reliability suite's check for
files outside the workdir passes in CI and failed on a developer's machine.  Here the agent
runs a real OpenVINO job in a fresh process with an empty ``HOME`` and no CI variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CI_VARS = ("CI", "TF_BUILD", "JENKINS_URL")


def test_openvino_job_writes_nothing_in_home(tmp_path: Path, mlp_onnx: Path) -> None:
    pytest.importorskip("openvino")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in CI_VARS}
    env["HOME"] = str(home)
    code = (
        "import json, sys\n"
        "from edgebench.agent.runner import run_job\n"
        "from edgebench.agent.schema import JobSpec\n"
        "from edgebench.agent.backends.openvino_backend import runtime_version\n"
        "info = runtime_version()\n"
        "res = run_job(JobSpec.from_dict({'job_id': 'j', 'model_path': sys.argv[1], 'format': 'onnx',"
        " 'runtime': 'openvino', 'probes': {'enabled': False}, 'benchmark': {'warmup_runs': 1,"
        " 'warmup_min_s': 0.0, 'min_runs': 5, 'min_duration_s': 0.0, 'max_duration_s': 2.0}}))\n"
        "print(json.dumps({'status': res['status'], 'devices': info['devices']}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(mlp_onnx)], env=env, capture_output=True,
                         text=True, timeout=300, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok" and "CPU" in result["devices"], result
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == []
