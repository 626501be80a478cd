"""``edgebench run --cluster`` on a real Ray cluster whose worker nodes host the sshd lab.

The driver (the CLI) reaches the cluster as a Ray client (``ray://``, as a CI box or a
laptop would) in the first test and as a driver on the head's host (``HOST:PORT``) in the
others; every device's jobs run on a worker node of its lab; a run is stopped with SIGINT;
one worker node is killed mid-run and the run is resumed on a replacement node.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import edgebench
from tests.cluster.raycluster import RayCluster

pytestmark = [pytest.mark.lab, pytest.mark.cluster]
ROOT = Path(__file__).resolve().parents[2]
FLEET = ("legacy-pi", "litert", "onnx-only")
FAST = {"warmup_runs": 2, "warmup_min_s": 0.0, "min_runs": 20, "min_duration_s": 0.05,
        "max_duration_s": 5.0}
VARIANTS = ("fp32", "int8-dynamic", "fp16")  # the quickstart's, minus the trained ones: time


def devices_yaml(ssh_lab: Any, labs: dict[str, str], path: Path) -> Path:
    entries = {}
    for name, lab in labs.items():
        spec = vars(ssh_lab.spec(name))
        entries[name] = {k: v for k, v in spec.items() if k != "name" and v not in (None, [], {})}
        entries[name]["lab"] = lab
    path.write_text(yaml.safe_dump({"devices": entries}, sort_keys=False))
    return path


def quickstart_suite(path: Path, devices: list[str], runtimes: Any = None, **bench: Any) -> Path:
    suite = yaml.safe_load((ROOT / "suites" / "quickstart.yaml").read_text())
    if runtimes:  # "all": every runtime each device has (the others' jobs are dropped there)
        suite["models"][0]["runtimes"] = runtimes
    suite["variants"] = [v for v in suite["variants"] if v["name"] in VARIANTS]
    suite["devices"] = devices
    suite["benchmark"] = {**FAST, **bench}
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def run_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgebench", "run", *args, "-q"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout_s: float = 600) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout_s)
    return proc.returncode, out


def one_run(out: Path) -> tuple[Path, list[dict[str, Any]]]:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return run_dir, [json.loads(line) for line in lines if line.strip()]


def content(rec: dict[str, Any]) -> tuple:
    """What a job's record says, less what differs between any two runs (ids, times, figures)."""
    result = rec.get("result") or {}
    return (rec["status"], rec.get("error_kind"), rec["model"], rec["variant"], rec["format"],
            rec["runtime"], rec["device"], (rec.get("artifact") or {}).get("size_bytes"),
            (result.get("runtime") or {}).get("name"), sorted(result))


def test_quickstart_across_two_lab_nodes_equals_one_controller(ray_cluster: RayCluster, ssh_lab: Any,
                                                               scratch_device: str, tmp_path: Path) -> None:
    names = [*FLEET, scratch_device]
    devices = devices_yaml(ssh_lab, {n: "room-a" for n in names}, tmp_path / "devices.yaml")
    suite = quickstart_suite(tmp_path / "suite.yaml", names, runtimes="all")
    code_one, log_one = finish(run_cli(str(suite), "--devices", str(devices), "--out", str(tmp_path / "one")))
    code_ray, log_ray = finish(run_cli(str(suite), "--devices", str(devices), "--out", str(tmp_path / "ray"),
                                       "--cluster", ray_cluster.client_address))
    assert code_ray == code_one, (log_one, log_ray)
    assert any(p.is_dir() for p in (tmp_path / "ray").iterdir()), log_ray
    one_dir, one = one_run(tmp_path / "one")
    ray_dir, ray = one_run(tmp_path / "ray")
    assert len(ray) == len(one) >= 4 * 2 * len(VARIANTS), log_ray
    assert {r["job_id"]: content(r) for r in ray} == {r["job_id"]: content(r) for r in one}
    assert {r["device"] for r in ray if r["status"] == "ok"} == set(names), "measured on every device"
    assert not [r for r in ray if r["status"] == "failed" and r["error_kind"] in ("node_lost", "controller")]
    meta = json.loads((ray_dir / "run.json").read_text())
    nodes = meta["cluster"]["nodes"]
    assert sorted(nodes) == sorted(names) and len(set(nodes.values())) == 2, nodes
    assert sorted(list(nodes.values()).count(n) for n in set(nodes.values())) == [2, 2]
    one_meta = json.loads((one_dir / "run.json").read_text())
    assert meta["complete"] is True and "cluster" not in one_meta
    assert meta.get("not_on_device") == one_meta["not_on_device"], "runtimes: all drops the same jobs"

    def stored(out: Path, run_id: str) -> list[tuple]:
        frame = edgebench.results.load(out / "edgebench.db", run=run_id)
        return sorted(zip(frame["job_id"], frame["status"], frame["device"], frame["variant"], strict=True))
    assert stored(tmp_path / "ray", meta["run_id"]) == stored(tmp_path / "one", one_dir.name)
    assert len(stored(tmp_path / "ray", meta["run_id"])) == len(ray)


def wait_for_records(proc: subprocess.Popen, out: Path, n: int) -> Path:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        runs = list(out.glob("*/results.jsonl")) if out.is_dir() else []
        if runs and len(runs[0].read_text().splitlines()) >= n:
            return runs[0]
        time.sleep(0.1)
    raise AssertionError(finish(proc)[1])


def test_ctrl_c_stops_a_cluster_run_and_resume_completes(ray_cluster: RayCluster, ssh_lab: Any,
                                                         tmp_path: Path) -> None:
    labs = {name: "room-a" for name in FLEET}
    devices = devices_yaml(ssh_lab, labs, tmp_path / "devices.yaml")
    suite = quickstart_suite(tmp_path / "suite.yaml", list(labs), min_duration_s=1.0)
    out = tmp_path / "out"
    args = [str(suite), "--devices", str(devices), "--out", str(out), "--cluster", ray_cluster.gcs_address]
    proc = run_cli(*args)
    journal = wait_for_records(proc, out, 2)
    proc.send_signal(signal.SIGINT)
    code, log = finish(proc, timeout_s=120)
    assert code == 130, log
    assert "--cluster " + ray_cluster.gcs_address in log.split("continue with:")[1], log
    meta = json.loads((journal.parent / "run.json").read_text())
    assert meta["interrupted"] is True and meta["complete"] is False
    kept = [json.loads(line) for line in journal.read_text().splitlines()]
    assert 2 <= len(kept) < 3 * 2 * len(VARIANTS)
    code, log = finish(run_cli(*args, "--resume", journal.parent.name))
    final = {r["job_id"]: r for r in one_run(out)[1]}
    assert len(final) == 3 * 2 * len(VARIANTS), log
    assert json.loads((journal.parent / "run.json").read_text())["complete"] is True, log


def test_worker_node_killed_mid_run_then_resumed(ray_cluster: RayCluster, ssh_lab: Any,
                                                 scratch_device: str, tmp_path: Path) -> None:
    """Last in the module: it kills w1.

    w1 serves lab room-b alone and shares room-a with w0: killing it moves room-a's device
    to w0 (its job in flight retried there) and fails room-b's jobs with node_lost; a new
    room-b node and --resume complete the run."""
    labs = {"legacy-pi": "room-a", "litert": "room-a", "onnx-only": "room-b", scratch_device: "room-b"}
    devices = devices_yaml(ssh_lab, labs, tmp_path / "devices.yaml")
    suite = quickstart_suite(tmp_path / "suite.yaml", list(labs), min_duration_s=1.0)
    out = tmp_path / "out"
    proc = run_cli(str(suite), "--devices", str(devices), "--out", str(out), "--cluster",
                   ray_cluster.gcs_address)
    journal = wait_for_records(proc, out, 3)
    before = [json.loads(line) for line in journal.read_text().splitlines()]
    ray_cluster.node("w1").kill()
    code, log = finish(proc)
    assert code == 1, log
    run_dir, after = one_run(out)
    assert after[:len(before)] == before  # finished jobs kept, as they were
    by_job = {r["job_id"]: r for r in after}
    assert len(by_job) == len(after) == 4 * 2 * len(VARIANTS), "every job once"
    lost = [r for r in after if r["error_kind"] == "node_lost"]
    assert lost and {r["device"] for r in lost} <= {"onnx-only", scratch_device}, lost
    assert all("lab node" in r["error"] or "no live Ray node serves lab 'room-b'" in r["error"] for r in lost)
    room_a = [r for r in after if labs[r["device"]] == "room-a"]
    moved = [r for r in room_a if r["error_kind"] in ("node_lost", "controller", "unreachable", "connection")]
    assert not moved and any(r["status"] == "ok" for r in room_a), moved
    nodes = json.loads((run_dir / "run.json").read_text())["cluster"]["nodes"]
    assert nodes["legacy-pi"] == nodes["litert"], "room-a's devices all on the surviving node"

    ray_cluster.add_worker("w2", ["room-b"])  # the lab host is back (a new Ray node)
    code, log = finish(run_cli(str(suite), "--devices", str(devices), "--out", str(out), "--cluster",
                               ray_cluster.gcs_address, "--resume", run_dir.name))
    _, final = one_run(out)
    latest = {r["job_id"]: r for r in final}
    assert set(latest) == set(by_job), log
    assert not [r for r in latest.values() if r["error_kind"] == "node_lost"], log
    assert {r["device"] for r in latest.values() if r["status"] == "ok"} == set(labs)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["complete"] is True and meta["counts"]["ok"] == sum(r["status"] == "ok" for r in latest.values())
    assert nodes["legacy-pi"] not in (meta["cluster"]["nodes"]["onnx-only"], nodes["onnx-only"])
