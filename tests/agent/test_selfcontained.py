"""The agent runs where edgebench is not installed: stdlib + numpy + one runtime.

The lab's ``onnx-only`` and ``legacy-pi`` environments hold nothing but numpy and one
runtime (no edgebench, no pandas, no pydantic), so a job that succeeds there proves the
agent is self-contained -- the same thing a real device will check.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgebench.agent_bundle import bundle

QUICK = {"warmup_runs": 2, "warmup_min_s": 0.0, "min_runs": 64, "min_duration_s": 0.05,
         "max_duration_s": 5.0}


def _run_agent(python: str, root: Path, spec: dict, out: Path) -> dict:
    spec_file = out.with_suffix(".spec.json")
    spec_file.write_text(json.dumps(spec))
    proc = subprocess.run([python, "-m", "edgebench_agent", "run", str(spec_file), "--out", str(out)],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_agent_runs_in_an_env_with_only_numpy_and_onnxruntime(lab_envs, tmp_path: Path,  # noqa: ANN001
                                                              mlp_onnx: Path) -> None:
    env = lab_envs.get("onnx-only")
    python = env.python
    probe = subprocess.run([python, "-c", "import importlib.util as u; "
                            "print([m for m in ('edgebench','pandas','pydantic','yaml','onnxruntime','numpy') "
                            "if u.find_spec(m)])"], capture_output=True, text=True, check=True, cwd=tmp_path,
                           env={"PATH": "/usr/bin:/bin"})
    assert probe.stdout.strip() == "['onnxruntime', 'numpy']"
    root = bundle().write_to(tmp_path)
    res = _run_agent(python, root, {"job_id": "sc", "model_path": str(mlp_onnx), "format": "onnx",
                                    "benchmark": QUICK}, tmp_path / "r.json")
    assert res["status"] == "ok", res.get("error")
    assert res["stats"]["count"] >= 64 and res["stats"]["early_stopping_p90_s"] is not None
    info = subprocess.run([python, "-m", "edgebench_agent", "info"], cwd=root,
                          env={"PYTHONPATH": str(root)}, capture_output=True, text=True, check=True)
    runtimes = json.loads(info.stdout)["runtimes"]
    assert runtimes["onnxruntime"]["version"] and runtimes["tflite"] is None
    # every registered backend is in the bundle and imports here, where only numpy and
    # onnxruntime exist (its runtime is imported on use, never at module import)
    from edgebench.agent.backends import RUNTIMES

    assert {n: runtimes[n] is not None for n in RUNTIMES} == {
        n: n == "onnxruntime" for n in RUNTIMES}
    modules = [f"edgebench_agent.backends.{e.module}" for e in RUNTIMES.values()]
    # and every helper module beside them (executorch_program: the .pte inspector)
    helpers = sorted(p.stem for p in (root / "edgebench_agent" / "backends").glob("*.py"))
    assert "executorch_program" in helpers
    modules += [f"edgebench_agent.backends.{m}" for m in helpers if m != "__init__"]
    imported = subprocess.run([python, "-c", "import importlib, sys; [importlib.import_module(m) "
                               "for m in sys.argv[1:]]; print(sorted(m for m in sys.modules if "
                               "m.split('.')[0] in ('edgebench', 'pandas', 'pydantic')))", *modules],
                              cwd=root, env={"PYTHONPATH": str(root)}, capture_output=True,
                              text=True, check=True)
    assert imported.stdout.strip() == "[]"


def test_agent_runs_under_python39_with_numpy1_and_tflite_runtime(lab_envs, tmp_path: Path,  # noqa: ANN001
                                                                  tiny_tflite: Path) -> None:
    """Raspberry Pi OS Bullseye: Python 3.9, numpy 1.x, tflite-runtime 2.14."""
    env = lab_envs.get("legacy-pi")
    root = bundle().write_to(tmp_path)
    res = _run_agent(env.python, root, {"job_id": "pi", "model_path": str(tiny_tflite), "format": "tflite",
                                        "benchmark": QUICK}, tmp_path / "r.json")
    assert res["machine"]["python"].startswith("3.9") or pytest.skip("no Python 3.9 here")
    assert res["machine"]["numpy"].startswith("1.")
    assert res["status"] == "ok", res.get("error")
    assert res["runtime"]["name"] == "tflite_runtime" and res["runtime"]["version"].startswith("2.14")
