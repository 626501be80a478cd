"""``edgebench tune --cluster HOST:PORT`` on a real Ray cluster whose two worker nodes host
the sshd lab: every stage's jobs run on the lab nodes (one device on each), the tuning
follows its contract (every candidate in budget measured at rung 1, the finalist and fp32
with the full rule), run.json says which node served which device, and the device-seconds
are the records' own seconds plus the inventories the lab nodes timed."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.raycluster import RayCluster
from tests.cluster.test_cluster_lab import devices_yaml

pytestmark = [pytest.mark.lab, pytest.mark.cluster]
ROOT = Path(__file__).resolve().parents[2]
SUITE = """\
name: ctune
devices: [{devices}]
models: [{{name: m, path: m.onnx}}]
search: {{quantize: [{{mode: dynamic}}], finalists: 1, rungs: [0.1]}}
benchmark: {{warmup_runs: 1, warmup_min_s: 0.0, min_runs: 10, min_duration_s: 0.2}}
"""


def journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def seconds(rec: dict[str, Any]) -> float:
    start, end = (dt.datetime.fromisoformat(rec[k]) for k in ("started_at", "finished_at"))
    return (end - start).total_seconds()


def test_tune_on_two_lab_nodes(ray_cluster: RayCluster, ssh_lab: Any, scratch_device: str,
                               mlp_onnx: Path, tmp_path: Path) -> None:
    names = ["onnx-only", scratch_device]  # both run ONNX Runtime; one lab, two nodes
    devices = devices_yaml(ssh_lab, {n: "room-a" for n in names}, tmp_path / "devices.yaml")
    (tmp_path / "m.onnx").write_bytes(mlp_onnx.read_bytes())
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(devices=", ".join(names)))
    env = {**os.environ, "EDGEBENCH_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "edgebench", "tune", str(suite), "--devices", str(devices),
                          "--out", str(tmp_path / "r"), "--cluster", ray_cluster.gcs_address],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (run_dir,) = (tmp_path / "r").glob("*-ctune-tune-*")
    report = json.loads((run_dir / "tune.json").read_text())
    finals, rungs = journal(run_dir / "results.jsonl"), journal(run_dir / "rungs" / "results.jsonl")
    assert all(r["status"] == "ok" for r in finals + rungs), [r["error"] for r in finals + rungs]

    # the contract: every candidate within the budget measured at rung 1 on every device,
    # then the finalist and fp32 (in the finalist's format and runtime) with the full rule
    ok = {f"{c['variant']}/{c['format']}:onnxruntime" for c in report["candidates"] if c["status"] == "ok"}
    assert "fp32/onnx:onnxruntime" in ok
    winners = {row["device"]: row for row in report["winners"]}
    assert sorted(winners) == sorted(names)
    for name in names:
        group = report["groups"][f"m@{name}"]
        assert set(group["history"]) == ok
        assert all(h[0]["stage"] == "rung1" and h[0]["value"] > 0 for h in group["history"].values())
        assert winners[name]["winner"] in ok and winners[name]["value"] > 0
        final_keys = {k for k, h in group["history"].items() if h[-1]["stage"] == "final"}
        assert final_keys == {winners[name]["winner"], "fp32/onnx:onnxruntime"}
        assert {f"{r['variant']}/{r['format']}:{r['runtime']}" for r in finals if r["device"] == name} == final_keys
    assert sorted((r["device"], r["variant"]) for r in rungs) == sorted(
        (n, k.split("/")[0]) for n in names for k in ok)

    # what ran where: one device on each worker node, in every stage
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["kind"] == "tune" and meta["complete"] is True
    assert meta["cluster"]["address"] == ray_cluster.gcs_address
    nodes = meta["cluster"]["nodes"]
    assert sorted(nodes) == sorted(names) and len(set(nodes.values())) == 2, nodes
    assert set(meta["cluster"]["nodes_by_stage"]) == {"rung1", "final"}
    assert all(stage == nodes for stage in meta["cluster"]["nodes_by_stage"].values())

    # device time: each job's own seconds plus the inventories the lab nodes took -- one per
    # device for the whole tuning (its ClusterSession keeps the devices connected), so the
    # final stage is billed its jobs' seconds alone
    secs = report["device_seconds"]
    assert secs["total"] == pytest.approx(sum(secs["by_stage"].values()))
    assert secs["total"] == pytest.approx(sum(secs["by_device"].values()))
    assert secs["jobs_by_stage"] == {"rung1": len(rungs), "final": len(finals)}
    for name in names:
        job_s = sum(seconds(r) for r in finals + rungs if r["device"] == name)
        history = report["groups"][f"m@{name}"]["history"].values()
        assert sum(m["device_s"] for h in history for m in h) == pytest.approx(job_s, abs=1e-6)
        inventory_s = secs["by_device"][name] - job_s
        assert job_s > 0 and inventory_s > 0, secs
    assert secs["by_stage"]["final"] == pytest.approx(sum(seconds(r) for r in finals), abs=1e-6)
    assert secs["by_stage"]["rung1"] > sum(seconds(r) for r in rungs)  # + the inventories
    assert secs["exhaustive_estimate"] > 0
    assert "device time:" in out.stdout and f"m on {names[0]}: " in out.stdout


def test_a_session_connects_its_devices_before_their_jobs_and_keeps_them(
        ray_cluster: RayCluster, ssh_lab: Any, scratch_device: str, mlp_onnx: Path, tmp_path: Path) -> None:
    """The Python API under run and tune: ``ClusterSession.warm`` places the devices round robin
    on their lab's nodes and has those connect and take the inventories with no job sent
    yet; two fleet passes (``keep_devices``: tune's stages) run on the same nodes, and only
    the first hands the inventory back (it was taken once)."""
    import ray

    from edgebench.cluster import ClusterSession
    from edgebench.config import load_devices, load_suite, select_devices
    from edgebench.plan import plan_jobs
    from edgebench.run import make_target
    from edgebench.variants import build_variants

    names = ["onnx-only", scratch_device]
    devices_path = devices_yaml(ssh_lab, {n: "room-a" for n in names}, tmp_path / "devices.yaml")
    (tmp_path / "m.onnx").write_bytes(mlp_onnx.read_bytes())
    (tmp_path / "s.yaml").write_text(SUITE.format(devices=", ".join(names)).replace(
        "search:", "variants: [{name: fp32, steps: []}]\n# search:"))
    suite = load_suite(tmp_path / "s.yaml")
    devices = select_devices(suite, load_devices(devices_path), None)
    jobs = plan_jobs(suite, devices, build_variants(suite, cache_dir=tmp_path / "cache"))
    assert len(jobs) == 2
    passes: list[tuple[list[Any], list[Any]]] = []
    with ClusterSession(ray_cluster.gcs_address, run_id="20261130T000000Z-sess-0000",
                        make_target=make_target, keep_devices=True) as cluster:
        cluster.warm(devices)
        nodes = {n: cluster.placed[n] for n in names}
        assert len(set(nodes.values())) == 2, nodes  # one device on each node of room-a
        deadline = time.monotonic() + 120
        connected: dict[str, Any] = {}
        while set(connected) != set(names) and time.monotonic() < deadline:
            for node in set(nodes.values()):
                connected.update(ray.get(cluster.host(node).devices.remote()))
            time.sleep(0.2)
        assert connected == {n: None for n in names}  # up, before any job was sent
        for _ in range(2):
            records: list[Any] = []
            reports = cluster.run_fleet(jobs, sink=records.append)
            passes.append((records, reports))
    assert not ray.is_initialized()  # the session connected, so it disconnected
    for records, reports in passes:
        assert sorted(r.device for r in records) == sorted(names)
        assert all(r.status == "ok" for r in records), [r.error for r in records]
        assert {rep.name: rep.node for rep in reports} == nodes
    first, second = (reports for _records, reports in passes)
    assert all(rep.inventory.get("runtimes") for rep in first)
    assert all(rep.inventory == {} for rep in second)
