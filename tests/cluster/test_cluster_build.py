"""Variant builds as Ray tasks (``run --cluster``) on a real cluster: a head without CPUs and
two one-CPU worker nodes sharing this machine's disk (the cache is "shared storage").

Two ONNX models, each one (model, format) group: both groups build at once, one on each
worker node (each has one CPU and a task takes one), into the same content-addressed files
a local build writes; a second run finds everything cached and starts no build task.  A
task whose worker dies is run once more, then fails its own variants and no others; a step
that segfaults on a node fails its variant only; Ctrl-C during a cluster build ends the run
and, with it, the builds on the nodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import require_ray
from tests.cluster.raycluster import RayCluster
from tests.conftest import make_mlp_onnx

pytestmark = [pytest.mark.cluster]
ROOT = Path(__file__).resolve().parents[2]
FAST = {"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": 5, "min_duration_s": 0.01,
        "max_duration_s": 2.0, "evaluate_on_device": False}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """conftest's cluster (head without CPUs, w0 and w1 with one each, both of lab room-a),
    its nodes with the crash-on-purpose recipe steps (compressors/test_steps.py)."""
    require_ray()
    cluster = RayCluster()
    cluster.env["EDGEBENCH_TEST_STEPS"] = "1"
    try:
        cluster.start_head()
        cluster.add_worker("w0", ["room-a"])
        cluster.add_worker("w1", ["room-a"])
        yield cluster
    finally:
        cluster.close()


def write_suite(tmp_path: Path) -> Path:
    models = []
    for name, n in (("mlp-a", 64), ("mlp-b", 32)):
        make_mlp_onnx(tmp_path / f"{name}.onnx", n=n)
        models.append({"name": name, "path": f"{name}.onnx"})
    suite = {"name": "fanout", "devices": ["bench"], "models": models,
             "variants": [{"name": "fp32", "steps": []},
                          {"name": "int8-dynamic", "steps": [{"quantize": {"mode": "dynamic"}}]}],
             "benchmark": FAST}
    (tmp_path / "devices.yaml").write_text(yaml.safe_dump(
        {"devices": {"bench": {"kind": "local", "lab": "room-a"}}}))
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def edgebench(*args: str, cache: Path) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "edgebench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "EDGEBENCH_CACHE": str(cache)})
    return proc.returncode, proc.stdout + proc.stderr


def cached_manifests(cache: Path) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(model, variant) -> (cache key, file's sha256, file name) of every built variant."""
    out = {}
    for path in (cache / "variants").rglob("*.manifest.json"):
        m = json.loads(path.read_text())
        out[(m["model"], m["variant"])] = (m["cache_key"], m["sha256"], path.name)
    return out


def records(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return json.loads((run_dir / "run.json").read_text()), [json.loads(x) for x in lines if x.strip()]


def worker_node_ids(cluster: RayCluster) -> dict[str, float]:
    """Node id -> its CPUs, as Ray reports them (the head has none)."""
    code = ("import json, ray; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print(json.dumps({n['NodeID']: n['Resources'].get('CPU', 0) for n in ray.nodes() if n['Alive']}))"
            % cluster.gcs_address)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True, env=cluster.env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_builds_fan_out_as_ray_tasks_and_match_a_local_build(ray_cluster: RayCluster, tmp_path: Path) -> None:
    suite = write_suite(tmp_path)
    devices = str(tmp_path / "devices.yaml")
    code, log = edgebench("compress", str(suite), cache=tmp_path / "local-cache")
    assert code == 0, log
    local = cached_manifests(tmp_path / "local-cache")
    assert len(local) == 4, local

    shared = tmp_path / "shared-cache"  # every node sees this path: one disk
    run = ["run", str(suite), "--devices", devices, "--cluster", ray_cluster.gcs_address]
    code, log = edgebench(*run, "--out", str(tmp_path / "first"), cache=shared)
    assert code == 0, log
    for model in ("mlp-a", "mlp-b"):  # progress: the task's lines come back when it ends
        assert f"{model} [onnx]: 2 variant(s) to build, as a Ray task" in log, log
        assert f"{model}/int8-dynamic [onnx]: building" in log, log
    assert cached_manifests(shared) == local, "same cache keys, same bytes, same file names"
    meta, first = records(tmp_path / "first")
    assert meta["complete"] is True and len(first) == 4
    assert {r["status"] for r in first} == {"ok"}, first
    built_on = {(r["model"], r["variant"]): r["artifact"]["manifest"]["built_on"] for r in first}
    cpus = worker_node_ids(ray_cluster)
    assert all(cpus[node] == 1 for node in built_on.values()), (built_on, cpus)  # never the head
    assert built_on[("mlp-a", "fp32")] == built_on[("mlp-a", "int8-dynamic")], "one task per group"
    assert built_on[("mlp-a", "fp32")] != built_on[("mlp-b", "fp32")], "both groups at once: both workers"

    code, log = edgebench(*run, "--out", str(tmp_path / "second"), cache=shared)
    assert code == 0, log
    assert "as a Ray task" not in log and "mlp-b/int8-dynamic [onnx]: cached" in log, log
    _, second = records(tmp_path / "second")
    assert {r["status"] for r in second} == {"ok"} and len(second) == 4
    assert not [r for r in second if "built_on" in r["artifact"]["manifest"]], "nothing rebuilt"
    assert cached_manifests(shared) == local
    assert {r["artifact"]["path"] for r in second} == {r["artifact"]["path"] for r in first}


def crash_doomed(task: Any) -> Any:
    """The build task, except that the worker running group ``doomed`` dies (each attempt
    leaves a line in ``attempts``): a node lost mid-build, as far as Ray can tell."""
    from edgebench.cluster.build import _build_remote

    if task.model == "doomed":
        task.cache_dir.mkdir(parents=True, exist_ok=True)
        with (task.cache_dir / "attempts").open("a") as fh:
            fh.write("attempt\n")
        os._exit(3)
    return _build_remote(task)


def test_a_build_task_whose_worker_dies_is_retried_once_then_fails_only_its_variants(
        ray_cluster: RayCluster, tmp_path: Path) -> None:
    from edgebench.cluster.build import build_on_cluster
    from edgebench.cluster.connect import connected
    from edgebench.recipes import ModelSpec, VariantSpec
    from edgebench.variants import build_variants

    models = [ModelSpec(name=name, path=str(make_mlp_onnx(tmp_path / f"{name}.onnx", n=n)))
              for name, n in (("doomed", 16), ("fine", 24))]
    suite = SimpleNamespace(name="t", models=models, variants=[VariantSpec(name="fp32")])
    said: list[str] = []
    with connected(ray_cluster.gcs_address) as ray:
        remote = ray.remote(num_cpus=1, max_retries=1)(crash_doomed)
        arts = build_variants(suite, cache_dir=tmp_path / "cache", progress=said.append,
                              build_groups=lambda tasks, say: build_on_cluster(ray, remote, tasks, say))
    by_model = {a.model: a for a in arts}
    assert (tmp_path / "cache" / "attempts").read_text().count("attempt") == 2, "run again once"
    doomed = by_model["doomed"]
    assert doomed.path is None and doomed.error is not None
    assert doomed.error.startswith("build task failed on the Ray cluster: WorkerCrashedError: "), doomed.error
    assert "\n" not in doomed.error and f"doomed [onnx]: {doomed.error}" in said
    fine = by_model["fine"]
    assert fine.error is None and fine.path is not None and fine.path.exists()
    assert fine.manifest["built_on"] and "built_on" not in json.loads(
        Path(f"{fine.path}.manifest.json").read_text()), "not in the cached file"


def test_a_segfaulting_step_on_a_node_fails_only_its_variant(ray_cluster: RayCluster, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from edgebench.cluster.build import cluster_builder
    from edgebench.recipes import ModelSpec, VariantSpec
    from edgebench.variants import build_variants

    monkeypatch.setenv("EDGEBENCH_TEST_STEPS", "1")
    model = ModelSpec(name="mlp", path=str(make_mlp_onnx(tmp_path / "mlp.onnx", n=16)))
    variants = [VariantSpec(name="fp32"), VariantSpec(name="boom", steps=[{"test-crash": {}}]),
                VariantSpec(name="int8-dynamic", steps=[{"quantize": {"mode": "dynamic"}}])]
    said: list[str] = []
    arts = {a.variant: a for a in build_variants(
        SimpleNamespace(name="t", models=[model], variants=variants), cache_dir=tmp_path / "cache",
        progress=said.append, build_groups=cluster_builder(ray_cluster.gcs_address))}
    assert arts["boom"].path is None and "killed by signal 11 (SIGSEGV)" in (arts["boom"].error or "")
    assert "mlp/boom [onnx]: building" in said, said
    assert arts["fp32"].error is None and arts["int8-dynamic"].error is None, arts
    assert len({arts[v].manifest["built_on"] for v in arts}) == 1, "one group, one task, one node"


def build_workers(cluster: RayCluster) -> list[int]:
    """Build child processes under the cluster's nodes (the raylets' workers' children)."""
    from tests.lab.sshd import _children

    out = []
    for node in cluster.nodes:
        for pid in _children(node.proc.pid):
            try:
                if b"edgebench.compressors.build_worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    out.append(pid)
            except OSError:
                pass
    return out


def test_ctrl_c_during_a_cluster_build_ends_the_run_and_the_build(ray_cluster: RayCluster,
                                                                  tmp_path: Path) -> None:
    import signal
    import time

    suite = write_suite(tmp_path)
    doc = yaml.safe_load(suite.read_text())
    doc["variants"].append({"name": "stuck", "steps": [{"test-hang": {"seconds": 600}}]})
    suite.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.Popen([sys.executable, "-m", "edgebench", "run", str(suite), "--devices",
                             str(tmp_path / "devices.yaml"), "--out", str(tmp_path / "out"), "--cluster",
                             ray_cluster.gcs_address], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "EDGEBENCH_CACHE": str(tmp_path / "cache"),
                                            "EDGEBENCH_TEST_STEPS": "1"})
    deadline = time.monotonic() + 120
    while not build_workers(ray_cluster):  # both groups' build children hang in 'stuck'
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()[0]
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "as a Ray task" in out, out
    (run_dir,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True and meta["jobs_planned"] is None, meta
    deadline = time.monotonic() + 60
    while build_workers(ray_cluster):  # the driver gone, Ray ends its tasks, their children die
        assert time.monotonic() < deadline, "a build child outlived the stopped run"
        time.sleep(0.5)
