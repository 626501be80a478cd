"""Per-operator profile of a job, taken AFTER the timed loop so it never perturbs it.

Why a separate pass: a runtime's profiler costs time per node (ONNX Runtime records a
timestamp pair and memory statistics around every kernel), so profiled inferences are
slower than unprofiled ones.  The headline latency therefore always comes from the
unprofiled loop; this module opens a *second* session / interpreter with profiling on,
runs ``profile_runs`` inferences and says where the time of those inferences went.

* ONNX Runtime: ``SessionOptions.enable_profiling`` and ``end_profiling()``'s Chrome-trace
  JSON.  Node events (``cat == "Node"``, name ending ``_kernel_time``) carry
  ``args.op_name`` and ``args.provider``; session events (``model_loading_uri``,
  ``session_initialization``) are excluded, and each ``model_run`` event is one profiled
  inference.  The part of an inference outside every kernel (executor bookkeeping and the
  profiler's own recording between kernels) is reported as its own line, never spread
  over the ops.
* LiteRT: ai_edge_litert 2.x has no public per-op profiler in Python
  (``experimental_force_delegate_node_profiling`` only feeds the C++ profiler; per-op times
  need ``benchmark_model --enable_op_profiling``).  What Python does expose is the node
  list, ``_get_ops_details()``, where the ops a delegate took stay listed and the delegate
  adds one ``DELEGATE`` node per partition: walking back from a partition's outputs to its
  inputs gives exactly the ops XNNPACK runs; the rest run on LiteRT's builtin kernels.

Standard library + numpy + the runtime only (this file is copied to devices).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

#: Profiled inferences per job when the suite does not say (benchmark.profile_runs).
DEFAULT_PROFILE_RUNS = 100
#: Inferences run with profiling on before the counted ones (cold caches, first-run
#: allocations): their events are dropped.
PROFILE_WARMUP_RUNS = 5
#: A profiled run slower than this many times the median profiled run was preempted or
#: stalled: it is left out of the means (and counted in ``runs_excluded_slow``).
SLOW_RUN_FACTOR = 3.0


def _median(sorted_values: Sequence[float]) -> float:
    n = len(sorted_values)
    mid = n // 2
    return float(sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2)


def parse_ort_profile(events: Sequence[Dict[str, Any]], skip_runs: int = 0) -> Dict[str, Any]:
    """Per-node and per-op-type figures from ONNX Runtime's profile events.

    ``skip_runs``: drop the first ``skip_runs`` ``model_run`` events and every node event
    before the first counted one (warm-up).  Times are means per profiled inference, in
    seconds; ``share`` is of the profiled mean inference time (``model_run``).
    """
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e.get("ts", 0))
    runs = runs[skip_runs:]
    if not runs:
        raise ValueError("the profile holds no model_run event")
    # a run the OS preempted (2 shared cores: one 12 ms stall in 100 runs of 40 us) would
    # dominate every mean; runs over SLOW_RUN_FACTOR x the median are left out, and counted
    all_durs = sorted(r["dur"] for r in runs)
    median_us = _median(all_durs)
    kept = [r for r in runs if r["dur"] <= SLOW_RUN_FACTOR * median_us]
    excluded = len(runs) - len(kept)
    runs = kept
    t_first = runs[0]["ts"]
    windows = [(r["ts"], r["ts"] + r["dur"]) for r in runs]
    n_runs = len(runs)
    inference_mean_s = sum(r["dur"] for r in runs) / n_runs / 1e6
    nodes: Dict[str, Dict[str, Any]] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue  # fence_before / fence_after and session events are not kernel time
        ts = e.get("ts", 0)
        if ts < t_first or not any(lo <= ts <= hi for lo, hi in windows):
            continue
        args = e.get("args") or {}
        name = e["name"][: -len("_kernel_time")]
        node = nodes.setdefault(name, {"name": name, "op_type": args.get("op_name") or "?",
                                       "provider": args.get("provider") or "?",
                                       "calls": 0, "total_us": 0.0})
        node["calls"] += 1
        node["total_us"] += float(e.get("dur", 0))
    node_rows = []
    for node in nodes.values():
        mean_s = node["total_us"] / n_runs / 1e6
        node_rows.append({"name": node["name"], "op_type": node["op_type"],
                          "provider": node["provider"], "calls": node["calls"],
                          "mean_s": mean_s, "share": mean_s / inference_mean_s})
    node_rows.sort(key=lambda r: -r["mean_s"])
    by_type = _by_op_type(node_rows, inference_mean_s)
    kernel_sum_s = sum(r["mean_s"] for r in node_rows)
    outside_s = inference_mean_s - kernel_sum_s
    arena = [int((e.get("args") or {}).get("mem_arena_held", 0) or 0)
             for e in events if e.get("cat") == "Node"]
    return {
        # the mean is what the op-type means add up to; the median is of every profiled run
        "runs": n_runs, "runs_excluded_slow": excluded, "slow_run_factor": SLOW_RUN_FACTOR,
        "inference_mean_s": inference_mean_s, "inference_p50_s": median_us / 1e6,
        "kernel_sum_mean_s": kernel_sum_s,
        "kernel_coverage": kernel_sum_s / inference_mean_s,
        "outside_kernels_mean_s": outside_s,
        "by_op_type": by_type, "nodes": node_rows,
        "arena_held_bytes": max(arena) if arena else None,
    }


def _by_op_type(node_rows: Iterable[Dict[str, Any]], inference_mean_s: float) -> List[Dict[str, Any]]:
    types: Dict[str, Dict[str, Any]] = {}
    for r in node_rows:
        t = types.setdefault(r["op_type"], {"op_type": r["op_type"], "nodes": 0, "mean_s": 0.0,
                                            "providers": []})
        t["nodes"] += 1
        t["mean_s"] += r["mean_s"]
        if r["provider"] not in t["providers"]:
            t["providers"].append(r["provider"])
    rows = sorted(types.values(), key=lambda t: -t["mean_s"])
    for t in rows:
        t["share"] = t["mean_s"] / inference_mean_s
    return rows


def profile_ort(model_path: str, session_options: Any, providers: List[str],
                feed: Dict[str, Any], output_names: List[str], runs: int) -> Dict[str, Any]:
    """A fresh profiling session on the same file, options and feed; the trace file goes
    to a temporary directory and is deleted once parsed."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgebench-prof-") as tmp:
        session_options.enable_profiling = True
        session_options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(model_path, sess_options=session_options, providers=providers)
        for _ in range(PROFILE_WARMUP_RUNS + runs):
            session.run(output_names, feed)
        path = session.end_profiling()
        with open(path) as fh:
            events = json.load(fh)
    out = parse_ort_profile(events, skip_runs=PROFILE_WARMUP_RUNS)
    out.update(runtime="onnxruntime", method="SessionOptions.enable_profiling",
               providers=session.get_providers())
    return out


def delegated_ops(ops: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Which ops each ``DELEGATE`` node took, from ``_get_ops_details()``.

    A delegate node's outputs are its partition's outputs and its inputs the partition's
    inputs (tensors and weights); walking producers back from the outputs, stopping at the
    inputs, visits exactly the partition's ops.
    """
    producer: Dict[int, Dict[str, Any]] = {}
    for op in ops:
        if op["op_name"] != "DELEGATE":
            for t in op["outputs"]:
                producer[int(t)] = op
    taken: Set[int] = set()
    for deleg in (op for op in ops if op["op_name"] == "DELEGATE"):
        stop = {int(t) for t in deleg["inputs"]}
        todo = [int(t) for t in deleg["outputs"]]
        seen: Set[int] = set()
        while todo:
            t = todo.pop()
            if t in seen or t in stop or t not in producer:
                continue
            seen.add(t)
            op = producer[t]
            if op["index"] not in taken:
                taken.add(op["index"])
                todo.extend(int(i) for i in op["inputs"] if int(i) >= 0)
    model_ops = [op for op in ops if op["op_name"] != "DELEGATE"]
    rows = [{"index": op["index"], "op_type": op["op_name"],
             "delegated": op["index"] in taken} for op in model_ops]
    by_type: Dict[str, Dict[str, Any]] = {}
    for r in rows:
        t = by_type.setdefault(r["op_type"], {"op_type": r["op_type"], "nodes": 0, "delegated": 0})
        t["nodes"] += 1
        t["delegated"] += int(r["delegated"])
    return {"nodes": rows, "by_op_type": list(by_type.values()),
            "delegate_partitions": sum(1 for op in ops if op["op_name"] == "DELEGATE"),
            "delegated_nodes": len(taken), "model_nodes": len(model_ops)}


def profile_tflite(interp: Any, delegate: str) -> Dict[str, Any]:
    """Delegation of the loaded interpreter; per-op times are not exposed in Python."""
    details = interp._get_ops_details()  # the only node list Python has
    ops = [{"index": int(d["index"]), "op_name": str(d["op_name"]),
            "inputs": [int(i) for i in d["inputs"]], "outputs": [int(o) for o in d["outputs"]]}
           for d in details]
    out = delegated_ops(ops)
    out.update(runtime="litert", delegate=delegate, method="Interpreter._get_ops_details",
               timing=None,
               timing_note="per-op times are not exposed by the LiteRT Python Interpreter; "
                           "use benchmark_model --enable_op_profiling=true on the device")
    return out


def run_profile(backend: Any, feed: Dict[str, Any], runs: Optional[int],
                model_path: str) -> Dict[str, Any]:
    """The runner's one call: the backend's ``profile`` method, failures captured."""
    from .backends.base import summarize_exception

    method = getattr(backend, "profile", None)
    if method is None:
        return {"error": f"backend {getattr(backend, 'name', '?')} has no profiler"}
    try:
        return method(feed, runs or DEFAULT_PROFILE_RUNS, model_path)
    except Exception as exc:  # noqa: BLE001 - the profile must never cost the job's figures
        return {"error": summarize_exception(exc)}
