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
  inference.  Two figures per node: its kernel time, and its *span* (its kernel plus the
  dispatch gap before it: executor bookkeeping and the profiler's own recording between
  kernels, about 3 µs per node -- half of a tiny model's profiled inference).  Spans add
  up to the inference minus the run's work after its last kernel, which is its own line;
  the kernel sum and the time outside kernels stay too.  The profiled calls are timed
  like the headline loop's, so the profiler's cost is measured next to the figures.
* LiteRT: ai_edge_litert 2.x has no per-op profiler reachable from Python (the
  Interpreter cannot install one; libLiteRt's C profiler is not exposed by the
  CompiledModel wrapper; per-op times need ``benchmark_model --enable_op_profiling``).
  What Python does expose is the node list, ``_get_ops_details()``, where the ops a
  delegate took stay listed and the delegate adds one ``DELEGATE`` node per partition:
  walking back from a partition's outputs to its inputs gives exactly the ops XNNPACK
  runs; the rest run on LiteRT's builtin kernels.
* OpenVINO: per-layer performance counters (agent/profile_openvino.py).

Standard library + numpy + the runtime only (this file is copied to devices).
"""

from __future__ import annotations

import bisect
import json
import os
import tempfile
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

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
    outside the counted ones (warm-up).  Times are means per profiled inference, in
    seconds; ``share`` is of the profiled mean inference time (``model_run``).  Two figures
    per node: ``mean_s``, its kernel alone, and ``span_mean_s``, the wall time from the end
    of the kernel before it (the run's start for the first) to the end of its own -- the
    kernel plus the executor's dispatch gap in front of it.  The spans of a run partition
    it up to its last kernel's end, so the span totals plus ``after_last_kernel_mean_s``
    are the whole profiled inference.
    """
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e.get("ts", 0))
    runs = runs[skip_runs:]
    if not runs:
        raise ValueError("the profile holds no model_run event")
    # a run the OS preempted (2 shared cores: one 12 ms stall in 100 runs of 40 us) would
    # dominate every mean; runs over SLOW_RUN_FACTOR x the median are left out, and counted
    median_us = _median(sorted(r["dur"] for r in runs))
    kept = [r for r in runs if r["dur"] <= SLOW_RUN_FACTOR * median_us]
    n_runs = len(kept)
    inference_mean_s = sum(r["dur"] for r in kept) / n_runs / 1e6
    kernels = sorted((e for e in events if e.get("cat") == "Node"
                      and str(e.get("name", "")).endswith("_kernel_time")),
                     key=lambda e: e.get("ts", 0))  # fence_before/after are not kernel time
    starts = [e.get("ts", 0) for e in kernels]
    nodes: Dict[str, Dict[str, Any]] = {}
    edges = {"before_us": 0.0, "after_us": 0.0}
    for run in kept:
        lo, hi = run["ts"], run["ts"] + run["dur"]
        in_run = kernels[bisect.bisect_left(starts, lo):bisect.bisect_right(starts, hi)]
        _add_run(in_run, lo, hi, nodes, edges)
    node_rows = [_node_row(node, n_runs, inference_mean_s) for node in nodes.values()]
    node_rows.sort(key=lambda r: -r["mean_s"])
    kernel_sum_s = sum(r["mean_s"] for r in node_rows)
    span_sum_s = sum(r["span_mean_s"] for r in node_rows)
    arena = [int((e.get("args") or {}).get("mem_arena_held", 0) or 0)
             for e in events if e.get("cat") == "Node"]
    return {
        # the mean is what the op-type means add up to; the median is of every profiled run
        "runs": n_runs, "runs_excluded_slow": len(runs) - n_runs, "slow_run_factor": SLOW_RUN_FACTOR,
        "inference_mean_s": inference_mean_s, "inference_p50_s": median_us / 1e6,
        "kernel_sum_mean_s": kernel_sum_s,
        "kernel_coverage": kernel_sum_s / inference_mean_s,
        "outside_kernels_mean_s": inference_mean_s - kernel_sum_s,
        "span_sum_mean_s": span_sum_s,
        "span_coverage": span_sum_s / inference_mean_s,
        "dispatch_gaps_mean_s": span_sum_s - kernel_sum_s,
        "before_first_kernel_mean_s": edges["before_us"] / n_runs / 1e6,
        "after_last_kernel_mean_s": edges["after_us"] / n_runs / 1e6,
        "by_op_type": by_op_type(node_rows, inference_mean_s), "nodes": node_rows,
        "arena_held_bytes": max(arena) if arena else None,
    }


def _add_run(in_run: Sequence[Dict[str, Any]], lo: float, hi: float,
             nodes: Dict[str, Dict[str, Any]], edges: Dict[str, float]) -> None:
    """Add one profiled run's kernels to the node totals: kernel time and span (ordered by
    end, so overlapping kernels of a parallel executor never count the same wall time
    twice)."""
    if not in_run:
        edges["after_us"] += hi - lo
        return
    edges["before_us"] += max(0.0, float(min(e.get("ts", 0) for e in in_run) - lo))
    prev_end = float(lo)
    for e in sorted(in_run, key=lambda e: e.get("ts", 0) + e.get("dur", 0)):
        args = e.get("args") or {}
        name = e["name"][: -len("_kernel_time")]
        node = nodes.setdefault(name, {"name": name, "op_type": args.get("op_name") or "?",
                                       "provider": args.get("provider") or "?",
                                       "calls": 0, "total_us": 0.0, "span_us": 0.0})
        end = float(e.get("ts", 0) + e.get("dur", 0))
        node["calls"] += 1
        node["total_us"] += float(e.get("dur", 0))
        node["span_us"] += max(0.0, end - prev_end)
        prev_end = max(prev_end, end)
    edges["after_us"] += max(0.0, hi - prev_end)


def _node_row(node: Dict[str, Any], n_runs: int, inference_mean_s: float) -> Dict[str, Any]:
    mean_s = node["total_us"] / n_runs / 1e6
    span_s = node["span_us"] / n_runs / 1e6
    return {"name": node["name"], "op_type": node["op_type"], "provider": node["provider"],
            "calls": node["calls"], "mean_s": mean_s, "share": mean_s / inference_mean_s,
            "span_mean_s": span_s, "span_share": span_s / inference_mean_s}


def by_op_type(node_rows: Iterable[Dict[str, Any]], inference_mean_s: float,
               times: Tuple[str, ...] = ("mean_s", "span_mean_s")) -> List[Dict[str, Any]]:
    """Node rows summed per op type, slowest first: ``nodes``, each figure of ``times`` and
    its share of the inference (``mean_s`` -> ``share``, ``span_mean_s`` -> ``span_share``),
    and the providers that ran them.  OpenVINO's layers have no span: ``times=("mean_s",)``."""
    types: Dict[str, Dict[str, Any]] = {}
    for r in node_rows:
        t = types.setdefault(r["op_type"], {"op_type": r["op_type"], "nodes": 0,
                                            **{k: 0.0 for k in times}, "providers": []})
        t["nodes"] += 1
        for k in times:
            t[k] += r[k]
        if r["provider"] not in t["providers"]:
            t["providers"].append(r["provider"])
    rows = sorted(types.values(), key=lambda t: -t["mean_s"])
    for t in rows:
        for k in times:
            t[k[: -len("mean_s")] + "share"] = t[k] / inference_mean_s
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
        run = session.run
        for _ in range(PROFILE_WARMUP_RUNS):
            run(output_names, feed)
        calls_ns = []
        for _ in range(runs):  # timed as the headline loop times the unprofiled session
            t0 = time.perf_counter_ns()
            run(output_names, feed)
            calls_ns.append(time.perf_counter_ns() - t0)
        path = session.end_profiling()
        with open(path) as fh:
            events = json.load(fh)
    out = parse_ort_profile(events, skip_runs=PROFILE_WARMUP_RUNS)
    calls_ns.sort()
    out.update(runtime="onnxruntime", method="SessionOptions.enable_profiling",
               providers=session.get_providers(),
               profiled_call_mean_s=sum(calls_ns) / len(calls_ns) / 1e9,
               profiled_call_p50_s=_median(calls_ns) / 1e9)
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
                model_path: str, stats: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The runner's one call: the backend's ``profile`` method, failures captured.

    ``stats``: the timed (unprofiled) loop's statistics; where the profiler timed its
    calls the same way, both are put side by side, so the profiler's own cost is measured,
    not assumed."""
    from .backends.base import summarize_exception

    method = getattr(backend, "profile", None)
    if method is None:
        return {"error": f"backend {getattr(backend, 'name', '?')} has no profiler"}
    try:
        out = method(feed, runs or DEFAULT_PROFILE_RUNS, model_path)
    except Exception as exc:  # noqa: BLE001 - the profile must never cost the job's figures
        return {"error": summarize_exception(exc)}
    if stats and out.get("profiled_call_p50_s") and stats.get("p50_s"):
        out.update(unprofiled_call_mean_s=stats.get("mean_s"), unprofiled_call_p50_s=stats["p50_s"],
                   profiler_slowdown_p50=out["profiled_call_p50_s"] / stats["p50_s"])
    return out
