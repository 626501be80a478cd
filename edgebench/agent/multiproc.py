"""``benchmark.processes: N``: one job timed in N fresh processes, samples pooled.

A process fixes its address-space layout, allocator state and the runtime's memory plan
once; every run inside it shares them, so the spread *inside* one process understates how
much another process would differ.  pyperf runs each benchmark in several worker
processes for this reason.  Here the agent starts N sequential children of itself
(``python -m <agent> run-part SPEC --out PART.json``), each doing load + warm-up + timed
loop exactly as a one-process job does; this parent pools their latencies and reports the
within-process and between-process spread (:func:`.stats.process_spread`).

The parent keeps the probes that make sense across children (cool-down, thermal, run
context); energy is not measured, because its window would span N loads and start-ups.
Children run in sequence, never at once: concurrent children would measure each other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import replace
from typing import Any, Dict, List, Optional

from .backends.base import summarize_exception
from .schema import AGENT_VERSION, SCHEMA_VERSION, JobSpec
from .stats import process_spread, summarize
from .sysinfo import machine_info

#: Memory figures that are peaks: the job's figure is the highest of any one process.
_PEAK_KEYS = ("vmhwm_bytes", "ru_maxrss_bytes", "peak_rss_sampled_bytes")
#: Seconds a child may take beyond its warm-up and timed-loop caps (load, evaluation).
CHILD_SLACK_S = 300.0
_STDERR_TAIL = 2000


def agent_command() -> List[str]:
    """argv prefix that starts this very agent package again (``edgebench_agent`` on a
    device, ``edgebench.agent`` in the repository)."""
    return [sys.executable, "-m", __package__ or "edgebench_agent"]


def _child_env() -> Dict[str, str]:
    """The parent's environment with the directory holding the top-level package first on
    PYTHONPATH, so the child imports the same agent whatever its working directory."""
    depth = len((__package__ or "edgebench_agent").split("."))
    root = os.path.abspath(__file__)
    for _ in range(depth + 1):
        root = os.path.dirname(root)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def part_spec(spec: JobSpec, index: int) -> Dict[str, Any]:
    """The child's spec: one process, no probes (the parent has them), evaluation only in
    the first child (accuracy does not depend on the process), the operator profile too."""
    bench = replace(spec.benchmark, processes=1,  # the operator profile, like evaluation: once
                    profile=spec.benchmark.profile and index == 0)
    data = replace(spec, job_id=f"{spec.job_id}#{index + 1}", benchmark=bench,
                   probes={"enabled": False}, eval=spec.eval if index == 0 else None).to_dict()
    return data


def run_part(spec: JobSpec, index: int, workdir: str, timeout_s: float) -> Dict[str, Any]:
    """Run one child to completion; a child that writes no result becomes a failed part."""
    spec_path = os.path.join(workdir, f"part-{index + 1}.json")
    out_path = os.path.join(workdir, f"part-{index + 1}.result.json")
    with open(spec_path, "w") as fh:
        json.dump(part_spec(spec, index), fh)
    cmd = agent_command() + ["run-part", spec_path, "--out", out_path]
    try:
        proc = subprocess.run(cmd, env=_child_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": {"kind": "timeout", "message":
                f"process {index + 1} took longer than {timeout_s:g} s"}}
    except OSError as exc:
        return {"status": "failed", "error": {"kind": "agent_error", "message":
                f"cannot start process {index + 1}: {exc}"}}
    try:
        with open(out_path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        tail = proc.stderr.decode("utf-8", "replace")[-_STDERR_TAIL:].strip()
        return {"status": "failed", "error": {"kind": "agent_crashed", "message":
                f"process {index + 1} exited {proc.returncode} without a result: {tail}"}}


def pool(parts: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Merge ok parts into one result's timing/stats/memory/processes blocks."""
    lat_parts = [p["timing"]["latencies_s"] for p in parts]
    pooled = [v for values in lat_parts for v in values]
    first = parts[0]
    timing = {
        "load_s": first["timing"]["load_s"],  # the first process: cold file cache, like N=1
        "first_inference_s": first["timing"]["first_inference_s"],
        "warmup_runs": sum(p["timing"]["warmup_runs"] for p in parts),
        "warmup_s": sum(p["timing"]["warmup_s"] for p in parts),
        "timed_s": sum(p["timing"]["timed_s"] for p in parts),
        "latencies_s": pooled,
        "clock": first["timing"].get("clock"),
        "process_counts": [len(v) for v in lat_parts],
    }
    stops = [p["timing"].get("stop") for p in parts]
    if all(isinstance(s, dict) for s in stops):
        target = stops[0].get("target_precision")
        timing["stop"] = {"reason": "processes", "target_precision": target,
                          "reached": (all(bool(s.get("reached")) for s in stops)
                                      if target is not None else None),
                          "per_process": stops}
    memory = dict(first.get("memory") or {})
    for key in _PEAK_KEYS:
        values = [p["memory"].get(key) for p in parts if isinstance(p.get("memory"), dict)]
        values = [v for v in values if isinstance(v, (int, float))]
        if values:
            memory[key] = max(values)
    spread = process_spread(lat_parts)
    for info, part in zip(spread["per_process"], parts):  # type: ignore[call-overload]
        t = part["timing"]
        info.update(pid=part.get("pid"), load_s=t["load_s"],
                    first_inference_s=t["first_inference_s"], warmup_s=t["warmup_s"],
                    timed_s=t["timed_s"], vmhwm_bytes=(part.get("memory") or {}).get("vmhwm_bytes"))
    return {"timing": timing, "stats": summarize(pooled), "memory": memory, "processes": spread}


def _probe_session(spec: JobSpec, result: Dict[str, Any]) -> Any:
    """The parent's probes (thermal, clocks; no energy: the window would span N loads), or
    None; a bad probe setting goes to ``result["probe_errors"]``, never costs the latency."""
    if spec.probes.get("enabled") is False:
        return None
    from .probes import ProbeSession

    keep = {k: v for k, v in spec.probes.items() if k not in ("enabled", "energy_command")}
    keep.update(energy="none", idle_s=0.0)
    try:
        return ProbeSession(keep, n_threads_hint=spec.threads)
    except (ImportError, ValueError) as exc:
        result["probe_errors"] = [summarize_exception(exc)]
        return None


def run_processes(spec: JobSpec, *, context_fn: Any = None) -> Dict[str, Any]:
    """The whole job in ``spec.benchmark.processes`` children; never raises."""
    settings = spec.benchmark
    n = settings.processes
    result: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "agent_version": AGENT_VERSION, "job_id": spec.job_id,
        "status": "failed", "error": None, "machine": machine_info(), "pid": os.getpid(),
    }
    probes = None
    context = None
    workdir: Optional[str] = None
    try:
        probes = _probe_session(spec, result)
        if probes is not None:
            probes.before_job()
        if context_fn is not None:
            context = context_fn(spec)
            context.start()
        timeout_s = 2.0 * settings.max_duration_s + CHILD_SLACK_S
        workdir = tempfile.mkdtemp(prefix="edgebench-parts-")
        parts: List[Dict[str, Any]] = []
        for index in range(n):
            part = run_part(spec, index, workdir, timeout_s)
            if part.get("status") != "ok":
                err = part.get("error") or {}
                result["error"] = {"kind": err.get("kind", "agent_error"),
                                   "message": f"process {index + 1}/{n}: {err.get('message', '?')}"}
                if "traceback" in err:
                    result["error"]["traceback"] = err["traceback"]
                return result
            parts.append(part)
        if probes is not None:
            probes.after_job()
        first = parts[0]
        result["runtime"] = first["runtime"]
        result["model"] = first["model"]
        result.update(pool(parts))
        if "accuracy" in first:
            result["accuracy"] = first["accuracy"]
        if "profile" in first:
            result["profile"] = first["profile"]
        result["processes"]["energy"] = "not measured with processes > 1: the window would span N loads"
        result["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - a bug must still produce a result
        result["error"] = {"kind": "agent_error", "message": summarize_exception(exc),
                           "traceback": traceback.format_exc()[-4000:]}
    finally:
        if context is not None:
            try:
                result["context"] = context.finish()
            except Exception as exc:  # noqa: BLE001
                result.setdefault("probe_errors", []).append(f"context: {summarize_exception(exc)}")
        if probes is not None:
            try:
                probe_result = probes.result()
                probe_result.pop("energy", None)
                result.update(probe_result)
            except Exception as exc:  # noqa: BLE001
                result["probe_errors"] = [summarize_exception(exc)]
            probes.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return result
