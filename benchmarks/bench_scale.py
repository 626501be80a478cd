"""Scale: one `edgebench run` over N real sshd devices x M models, measured from outside.

Starts N sshd "devices" on loopback (the test lab), runs ``python -m edgebench run`` as a
subprocess over all of them, and reports: every job accounted for (journal and store),
the controller's peak RSS (its own high-water mark, VmHWM), wall time, and the ideal --
the slowest device's total job time (its jobs run one after another, devices in
parallel; see benchmarks/bench_fleet.py).

    python benchmarks/bench_scale.py [--devices 64] [--models 4] [--min-duration-s 0.05] [--real-agent]
                                     [--growth-from 16] [--cluster]

``--cluster`` [``--driver-on-head``: HOST:PORT, not ray://]: the same devices under one controller,
then on a loopback Ray cluster (head + 2 worker nodes, each the lab host of half the devices).

Memory: the controller builds variants and writes the report in child processes
(edgebench/child.py), so besides its own peak the figures give the largest child's peak
(``children_peak_rss_mb``, VmHWM) and the controller plus its children at once
(``tree_peak_rss_mb``, summed VmRSS); both are polled every 0.2 s, so lower bounds.
With ``--growth-from M`` (default 16; 0 turns it off) the same lab first runs M devices,
and ``growth`` says how much the controller's peak grew per added device from M to N.

By default the simulated devices run a *replay agent* (stdlib only): it answers ``info``
and ``run`` with a result the real agent produced for the same model on this machine
(its REPLAY_RUNS latencies and all, job id replaced) after sleeping ``min_duration_s``.  The controller's
side -- connections, threads, pushes, agent install, journal, store, memory -- is real;
only the device's compute is simulated, because 64 real agents on a 2-core box measure
the simulation's CPU contention (jobs took >60 s each and the run >10 min), not the
controller.  ``--real-agent`` runs the real agent on every device anyway.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _ts(value: str) -> float:
    return dt.datetime.fromisoformat(value).timestamp()


REPLAY_MAIN = r'''
import json, os, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
if sys.argv[1:2] == ["info"]:
    sys.stdout.write(open(os.path.join(HERE, "info.json")).read())
elif sys.argv[1:2] == ["run"] and len(sys.argv) == 5 and sys.argv[3] == "--out":
    spec = json.load(open(sys.argv[2]))
    result = json.load(open(os.path.join(HERE, "result.json")))
    os.stat(spec["model_path"])  # the pushed model must be there
    time.sleep(float(spec["benchmark"]["min_duration_s"]))
    result["job_id"] = spec["job_id"]
    tmp = sys.argv[4] + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, sys.argv[4])
else:
    sys.exit(2)
'''

#: The devices' "python" in replay mode (the default): a POSIX shell script that answers
#: ``-m edgebench_agent info|run`` like REPLAY_MAIN, and hands anything else (the kill
#: helper's ``-c``) to the real interpreter.  A Python start-up per job (~20 ms of CPU) on
#: the simulated devices was simulation cost on the same two cores as the controller.
REPLAY_SH = r"""
if [ "$1" = -m ] && [ "$2" = edgebench_agent ]; then
  here="$PWD/edgebench_agent"
  if [ "$3" = info ]; then exec cat "$here/info.json"; fi
  if [ "$3" = run ] && [ "$5" = --out ]; then
    spec="$4"; out="$6"
    id=$(sed -n 's/^ "job_id": "\(.*\)",\{0,1\}$/\1/p' "$spec")
    model=$(sed -n 's/^ "model_path": "\(.*\)",\{0,1\}$/\1/p' "$spec")
    secs=$(sed -n 's/^  "min_duration_s": \([0-9.e+-]*\),\{0,1\}$/\1/p' "$spec" | head -n 1)
    [ -n "$id" ] && [ -e "$model" ] || exit 3  # the pushed model must be there
    sleep "$secs"
    esc=$(printf '%s' "$id" | sed 's/[&|\\]/\\&/g')
    sed "s|\"job_id\": \"template\"|\"job_id\": \"$esc\"|" "$here/result.json" > "$out.tmp" &&
      mv "$out.tmp" "$out"
    exit
  fi
  exit 2
fi
exec "${EDGEBENCH_REPLAY_PYTHON:-python3}" "$@"
"""

REPLAY_CLI = """
import json, sys
from pathlib import Path
from edgebench import agent_bundle
from edgebench.agent_bundle import AgentBundle
import hashlib
files = tuple((rel, Path(path).read_bytes()) for rel, path in json.loads(sys.argv[1]))
digest = hashlib.sha256(b"".join(r.encode() + b"\\0" + d for r, d in files)).hexdigest()
agent_bundle.bundle = lambda: AgentBundle(sha256=digest, files=files)
from edgebench.cli import main
sys.exit(main(sys.argv[2:]))
"""

#: On the Ray nodes' PYTHONPATH (--cluster): the LabHost actors push the replay agent too.
REPLAY_SITECUSTOMIZE = """
import os
if os.environ.get("EDGEBENCH_REPLAY_FILES"):
    import hashlib, json
    from pathlib import Path
    from edgebench import agent_bundle
    from edgebench.agent_bundle import AgentBundle
    files = tuple((rel, Path(p).read_bytes()) for rel, p in json.loads(os.environ["EDGEBENCH_REPLAY_FILES"]))
    digest = hashlib.sha256(b"".join(r.encode() + b"\\0" + d for r, d in files)).hexdigest()
    agent_bundle.bundle = lambda: AgentBundle(sha256=digest, files=files)
"""


def _status_kb(pid: int, field: str) -> int:
    """A ``kB`` line of /proc/PID/status (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _vm_hwm_kb(pid: int) -> int:
    """The process's own peak RSS (VmHWM): unlike ru_maxrss it is reset by exec, so the
    parent's memory (pytest with TensorFlow loaded, seen through fork) does not count."""
    return _status_kb(pid, "VmHWM")


def _descendants(pid: int) -> list[int]:
    """Children, grandchildren, ... of ``pid``, from the parent pids in /proc/*/stat
    (/proc/PID/task/*/children needs CONFIG_PROC_CHILDREN, which not every kernel has)."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # after "(comm) state"
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


class _MemoryWatch:
    """Peaks of a process and its descendants, polled: the controller's own VmHWM (exact:
    it only grows, and the last reading comes just before exit), the largest VmHWM a child
    showed at a poll, and the largest sum of VmRSS over the whole tree at a poll (both
    lower bounds: what a child does after the last poll that saw it is missed)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.own_kb = self.child_kb = self.tree_kb = 0

    def poll(self, *, tree: bool = True) -> None:
        """One reading; ``tree`` scans /proc (tens of ms with the lab's few hundred
        processes on a busy box, so the caller does it less often than the own reading)."""
        self.own_kb = max(self.own_kb, _vm_hwm_kb(self.pid))  # VmHWM only grows
        if not tree:
            return
        total = _status_kb(self.pid, "VmRSS")
        for kid in _descendants(self.pid):
            self.child_kb = max(self.child_kb, _vm_hwm_kb(kid))
            total += _status_kb(kid, "VmRSS")
        self.tree_kb = max(self.tree_kb, total)


#: Raw latencies in the replayed result.  Timing for 0.05 s, as the suite does, gave
#: anywhere from ~2,000 to 13,135 runs of the MLP depending on how busy this 2-core box was
#: while recording, and the controller's memory follows the result's size (every job's
#: samples pass through it): the figures of two runs did not compare.  So the recording
#: times exactly this many runs -- about what 0.05 s gives on the idle box (13,135 seen).
REPLAY_RUNS = 13_000


def _record_real_agent(root: Path, model: Path) -> list[tuple[str, str]]:
    """Run the real agent once here (exactly REPLAY_RUNS timed runs); keep its info and
    result for the replay agent."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    spec = {"job_id": "template", "model_path": str(model), "format": "onnx", "threads": 1,
            "providers": ["CPUExecutionProvider"], "graph_optimization_level": "all",
            "tflite_runtime": "auto", "delegate_path": None, "delegate_options": {}, "use_xnnpack": True,
            "inputs": {"seed": 0, "npz_path": None, "shapes": {}, "default_dim": 1},
            "benchmark": {"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": REPLAY_RUNS, "min_duration_s": 0.0,
                          "max_duration_s": 10, "memory_sample_interval_s": 0.05},
            "eval": None, "probes": {"enabled": False}}
    rdir = root / "replay"
    (rdir / "edgebench_agent").mkdir(parents=True, exist_ok=True)
    (rdir / "spec.json").write_text(json.dumps(spec))
    subprocess.run([sys.executable, "-m", "edgebench.agent", "run", str(rdir / "spec.json"), "--out",
                    str(rdir / "edgebench_agent" / "result.json")], env=env, check=True, timeout=120)
    info = subprocess.run([sys.executable, "-m", "edgebench.agent", "info"], env=env, check=True,
                          capture_output=True, text=True, timeout=120).stdout
    (rdir / "edgebench_agent" / "info.json").write_text(info)
    (rdir / "edgebench_agent" / "__main__.py").write_text(REPLAY_MAIN)
    (rdir / "edgebench_agent" / "__init__.py").write_text("# replay agent\n")
    (rdir / "replay.sh").write_text(REPLAY_SH.replace('"${EDGEBENCH_REPLAY_PYTHON:-python3}"',
                                                      shlex.quote(sys.executable)))
    return [(f"edgebench_agent/{n}", str(rdir / "edgebench_agent" / n))
            for n in ("__init__.py", "__main__.py", "info.json", "result.json")]


def _start_cluster(root: Path, files: Optional[list[tuple[str, str]]]) -> Any:
    """Head + two worker nodes, w0 the lab host of room-a, w1 of room-b."""
    from tests.cluster.raycluster import RayCluster

    cluster = RayCluster()
    if files is not None:
        site = root / "replay-site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(REPLAY_SITECUSTOMIZE)
        cluster.env.update(PYTHONPATH=f"{site}{os.pathsep}{cluster.env['PYTHONPATH']}",
                           EDGEBENCH_REPLAY_FILES=json.dumps(files))
    try:
        cluster.start_head(), cluster.add_worker("w0", ["room-a"]), cluster.add_worker("w1", ["room-b"])
    except BaseException:
        cluster.close()
        raise
    return cluster


def _env(root: Path, cache: Optional[Path]) -> dict[str, str]:
    """The run's environment; with a shared ``cache``, its variants are built into it now,
    before the clock starts: the fleet is what is timed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEBENCH_CACHE": str(cache or root / "cache")}
    if cache is not None:
        subprocess.run([sys.executable, "-m", "edgebench", "compress", str(root / "suite.yaml")],
                       env=env, cwd=root, check=True, capture_output=True, timeout=600)
    return env


def _device_entries(lab: Any, names: list[str], root: Path, *, real_agent: bool,
                    on_cluster: bool) -> dict[str, dict[str, Any]]:
    """devices.yaml's entries for the sshd lab's devices ``names``."""
    entries: dict[str, dict[str, Any]] = {}
    for name in names:
        spec = lab.spec(name, connect_timeout_s=30.0)
        entries[name] = {k: v for k, v in vars(spec).items() if k != "name" and v not in (None, [], {})}
        # no energy probe and no idle baseline: simulated devices have neither, and the
        # 2 s idle measurement per job would only stretch the run
        entries[name].update(energy="none", idle_s=0.0)
        if not real_agent:  # answered by REPLAY_SH, not a Python start-up per job
            entries[name]["python"] = f"/bin/sh {shlex.quote(str(root / 'replay' / 'replay.sh'))}"
        if on_cluster:  # half the devices in each worker node's lab
            entries[name]["lab"] = "room-a" if len(entries) <= len(names) // 2 else "room-b"
    return entries


def run_scale(root: Path, *, devices: int, models: int, min_duration_s: float,
              python: Optional[str] = None, lab: Any = None, real_agent: bool = False,
              on_cluster: bool = False, driver_on_head: bool = False,
              cache: Optional[Path] = None) -> dict[str, Any]:
    import yaml

    from tests.conftest import make_mlp_onnx
    from tests.lab.sshd import SshdLab

    root.mkdir(parents=True, exist_ok=True)
    own_lab = lab is None
    lab = lab or SshdLab(root / "lab")
    names = [f"dev{i:02d}" for i in range(devices)]
    try:
        t0 = time.perf_counter()
        for name in names:
            if name not in lab.devices:
                lab.add(name, python=python or sys.executable)
        up_s = time.perf_counter() - t0
        entries = _device_entries(lab, names, root, real_agent=real_agent, on_cluster=on_cluster)
        (root / "devices.yaml").write_text(yaml.safe_dump({"devices": entries}))
        make_mlp_onnx(root / "mlp.onnx")
        (root / "suite.yaml").write_text(yaml.safe_dump({
            "name": "scale", "devices": names,
            "models": [{"name": f"m{i}", "path": "mlp.onnx"} for i in range(models)],
            "benchmark": {"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": 10,
                          "min_duration_s": min_duration_s, "max_duration_s": 10}}))
        env = _env(root, cache)
        argv = ["run", str(root / "suite.yaml"), "--devices", str(root / "devices.yaml"),
                "--out", str(root / "results"), "-q"]
        replay_latencies, cluster, node_watches = None, None, []
        files = None if real_agent else _record_real_agent(root, root / "mlp.onnx")
        if on_cluster:
            cluster = _start_cluster(root, files)
            argv += ["--cluster", cluster.gcs_address if driver_on_head else cluster.client_address]
            node_watches = [_MemoryWatch(n.proc.pid) for n in cluster.nodes if n.name != "head"]
        if real_agent:
            cmd = [sys.executable, "-m", "edgebench", *argv]
        else:
            replay = json.loads((root / "replay" / "edgebench_agent" / "result.json").read_text())
            replay_latencies = len(replay["timing"]["latencies_s"])
            cmd = [sys.executable, "-c", REPLAY_CLI, json.dumps(files), *argv]
        start = time.perf_counter()
        with open(root / "cli.log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
            watch = _MemoryWatch(proc.pid)
            polls = 0
            try:
                while True:  # VmHWM only grows: the last reading before exit is the peak
                    watch.poll(tree=polls % 4 == 0)  # the tree every 0.2 s
                    for node in node_watches if polls % 4 == 2 else []:
                        node.poll()
                    polls += 1
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        break
                    time.sleep(0.05)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall_s = time.perf_counter() - start
    finally:
        if cluster is not None:
            cluster.close()
        if own_lab:
            lab.close()
    run_dir = next(p for p in (root / "results").iterdir() if (p / "run.json").exists())
    records = [json.loads(ln) for ln in (run_dir / "results.jsonl").read_text().splitlines() if ln.strip()]
    per_device: dict[str, float] = {}
    for rec in records:
        took = _ts(rec["finished_at"]) - _ts(rec["started_at"])
        per_device[rec["device"]] = per_device.get(rec["device"], 0.0) + took
    slowest = max(per_device, key=per_device.get) if per_device else None
    con = sqlite3.connect(str(root / "results" / "edgebench.db"))
    stored = con.execute("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM jobs WHERE run_id = ?",
                         (run_dir.name,)).fetchone()
    con.close()
    statuses: dict[str, int] = {}
    for rec in records:
        statuses[rec["status"]] = statuses.get(rec["status"], 0) + 1
    return {
        "devices": devices, "models": models, "jobs_planned": devices * models,
        "journal_lines": len(records), "distinct_jobs": len({r["job_id"] for r in records}),
        "store_rows": stored[0], "store_distinct": stored[1], "statuses": statuses,
        "exit_code": proc.returncode, "controller_peak_rss_mb": round(watch.own_kb / 1024, 1),
        "children_peak_rss_mb": round(watch.child_kb / 1024, 1),
        "tree_peak_rss_mb": round(watch.tree_kb / 1024, 1),
        **({"lab_nodes_peak_rss_mb": [round(n.tree_kb / 1024, 1) for n in node_watches]} if on_cluster else {}),
        "jobs_per_s": round(len(records) / wall_s, 2),
        # CPU of the controller / driver process and its build and report children (rusage)
        "controller_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "controller_cpu_ms_per_job": round(1000 * (usage.ru_utime + usage.ru_stime) / max(len(records), 1), 1),
        "wall_s": round(wall_s, 2), "sshd_up_s": round(up_s, 2), "agent": "real" if real_agent else "replay",
        "replay_latencies_per_job": replay_latencies,
        "slowest_device": slowest, "slowest_device_job_s": round(per_device.get(slowest, 0.0), 2),
        "ratio_wall_to_ideal": round(wall_s / per_device[slowest], 2) if slowest else None,
        "errors": sorted({(r.get("error") or "")[:200] for r in records if r["status"] != "ok"})[:5],
        "run_dir": str(run_dir),
    }


def growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """How the controller's own peak RSS grew per added device between two runs."""
    added = large["devices"] - small["devices"]
    total_mb = large["controller_peak_rss_mb"] - small["controller_peak_rss_mb"]
    return {"from_devices": small["devices"], "to_devices": large["devices"],
            "controller_peak_rss_mb": [small["controller_peak_rss_mb"], large["controller_peak_rss_mb"]],
            "growth_mb": round(total_mb, 1),
            "growth_mb_per_device": round(total_mb / added, 2) if added else None}


def run_with_growth(root: Path, *, devices: int, growth_from: int, **kwargs: Any) -> dict[str, Any]:
    """``run_scale`` at ``devices``; first at ``growth_from`` on the same lab when that is
    smaller (and > 0), adding ``growth`` to the figures."""
    from tests.lab.sshd import SshdLab

    if not 0 < growth_from < devices:
        return run_scale(root, devices=devices, **kwargs)
    lab = kwargs.pop("lab", None)
    own_lab = lab is None
    lab = lab or SshdLab(root / "lab")
    try:
        small = run_scale(root / f"n{growth_from}", devices=growth_from, lab=lab, **kwargs)
        large = run_scale(root / f"n{devices}", devices=devices, lab=lab, **kwargs)
    finally:
        if own_lab:
            lab.close()
    small_keys = ("controller_peak_rss_mb", "children_peak_rss_mb", "tree_peak_rss_mb", "wall_s",
                  "statuses", "exit_code")
    return {**large, "growth": growth(small, large),
            "at_growth_from": {k: small[k] for k in ("devices", *small_keys)}}


def compare_cluster(root: Path, driver_on_head: bool = False, **kwargs: Any) -> int:
    """One controller, then the cluster, on the same sshd lab; both figures and the ratios."""
    from tests.lab.sshd import SshdLab

    lab = SshdLab(root / "lab")
    try:  # one variant cache, built before either is timed (bench_cluster_build.py times builds)
        one = run_scale(root / "single", lab=lab, cache=root / "cache", **kwargs)
        ray = run_scale(root / "cluster", lab=lab, on_cluster=True, driver_on_head=driver_on_head,
                        cache=root / "cache", **kwargs)
    finally:
        lab.close()
    keys = ("controller_peak_rss_mb", "ratio_wall_to_ideal", "jobs_per_s", "wall_s", "controller_cpu_s")
    side = {k: {"single": one[k], "cluster": ray[k]} for k in keys}
    # Each arm's ideal is its own slowest device's job time, and the lab nodes drive a
    # device's jobs faster than one controller's threads do: the same wall then gives the
    # cluster the larger ratio.  Against one ideal -- the shorter of the two, what these
    # devices showed they need for these jobs -- the ratios compare the orchestration alone.
    common = min(one["slowest_device_job_s"], ray["slowest_device_job_s"])
    side["ratio_wall_to_common_ideal"] = {"ideal_s": common, "single": round(one["wall_s"] / common, 2),
                                          "cluster": round(ray["wall_s"] / common, 2)}
    print(json.dumps({"single_controller": one, "cluster": ray, "side_by_side": side}, indent=1))
    ok = all(f["distinct_jobs"] == f["jobs_planned"] == f["store_distinct"] and f["exit_code"] == 0
             for f in (one, ray))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--min-duration-s", type=float, default=0.05)
    parser.add_argument("--python", help="the devices' interpreter (default: this one)")
    parser.add_argument("--real-agent", action="store_true", help="run the real agent on every device")
    parser.add_argument("--cluster", action="store_true",
                        help="the same devices on a local Ray cluster too (2 worker nodes), side by side")
    parser.add_argument("--driver-on-head", action="store_true", help="--cluster HOST:PORT, not ray://")
    parser.add_argument("--growth-from", type=int, default=16, metavar="M",
                        help="also run M devices first and print the growth per added device "
                             "(default 16; 0: off)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="eb-scale-"))
    if args.cluster:
        return compare_cluster(root, devices=args.devices, models=args.models,
                               min_duration_s=args.min_duration_s, python=args.python,
                               real_agent=args.real_agent, driver_on_head=args.driver_on_head)
    figures = run_with_growth(root, devices=args.devices, growth_from=args.growth_from, models=args.models,
                              min_duration_s=args.min_duration_s, python=args.python,
                              real_agent=args.real_agent)
    print(json.dumps(figures, indent=1))
    ok = figures["distinct_jobs"] == figures["jobs_planned"] == figures["store_distinct"]
    ok = ok and figures.get("at_growth_from", {}).get("exit_code", 0) == 0
    return 0 if ok and figures["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
