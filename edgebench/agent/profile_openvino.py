"""OpenVINO's per-layer performance counters as an operator profile (agent/profile.py).

``PERF_COUNT: YES`` makes the CPU plugin time every executed layer of the *compiled*
graph (after OpenVINO's own fusions: a node is what really ran, e.g. a ``Convolution``
with its bias and ReLU fused), and ``InferRequest.get_profiling_info()`` reports, per
layer, its type, the kernel that ran it (``exec_type``, e.g. ``brgconv_avx512_bf16``: the
precision it really computed in) and its time.  Measured with OpenVINO 2026.4: that time
is the layer's **running mean over every inference of the request so far, in whole
microseconds** -- the first, cold inference included.  So the counters are read twice,
after the warm-up inferences and after the counted ones, and each layer's mean over the
counted ones is ``(mean_after * (W + N) - mean_before * W) / N``; the whole-microsecond
resolution of both readings (rounded or cut off) bounds its error by ``(1 + 2 W / N)`` µs
per layer (``counter_error_bound_s``).

There are no per-layer timestamps, so no spans: the layers' sum is compared with the
profiled call (``infer()`` timed with ``perf_counter_ns``, as the headline loop times
it), and the rest (the plugin's own work between layers, the Python call) is
``outside_kernels_mean_s``.

Standard library + numpy + the runtime only (this file is copied to devices).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Tuple

from .profile import by_op_type

#: Inferences before the counted ones (cold caches, first-run allocations).
WARMUP_RUNS = 5

Reading = Dict[str, Tuple[str, str, float]]  # layer -> (type, exec_type, running mean in µs)


def read_counters(request: Any) -> Reading:
    """Every layer's (type, kernel, running mean µs) from ``get_profiling_info()``."""
    return {str(p.node_name): (str(p.node_type), str(p.exec_type), p.real_time.total_seconds() * 1e6)
            for p in request.get_profiling_info()}


def counted_means(before: Reading, after: Reading, warmup: int, runs: int) -> Dict[str, float]:
    """Each layer's mean time (µs) over the ``runs`` inferences between two readings of
    running means (``warmup`` inferences before the first); never below zero (rounding)."""
    out = {}
    for name, (_t, _k, mean_after) in after.items():
        mean_before = before.get(name, ("", "", 0.0))[2]
        out[name] = max(0.0, (mean_after * (warmup + runs) - mean_before * warmup) / runs)
    return out


def parse_counters(before: Reading, after: Reading, warmup: int, calls_ns: List[int]) -> Dict[str, Any]:
    """The profile block: per layer and per layer type, like ONNX Runtime's, from two
    readings and the counted calls' wall times."""
    runs = len(calls_ns)
    means_us = counted_means(before, after, warmup, runs)
    inference_mean_s = sum(calls_ns) / runs / 1e9
    nodes: List[Dict[str, Any]] = [
        {"name": name, "op_type": after[name][0], "provider": after[name][1], "calls": runs,
         "mean_s": us / 1e6, "share": us / 1e6 / inference_mean_s}
        for name, us in means_us.items() if us > 0]
    nodes.sort(key=lambda r: -r["mean_s"])
    by_type = by_op_type(nodes, inference_mean_s, times=("mean_s",))
    kernel_sum_s = sum(r["mean_s"] for r in nodes)
    ordered = sorted(calls_ns)
    mid = runs // 2
    p50_ns = ordered[mid] if runs % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {
        "runs": runs, "runs_excluded_slow": 0, "warmup_runs": warmup,
        "inference_mean_s": inference_mean_s, "inference_p50_s": p50_ns / 1e9,
        "profiled_call_mean_s": inference_mean_s, "profiled_call_p50_s": p50_ns / 1e9,
        "kernel_sum_mean_s": kernel_sum_s, "kernel_coverage": kernel_sum_s / inference_mean_s,
        "outside_kernels_mean_s": inference_mean_s - kernel_sum_s,
        "layers_not_run": sum(1 for name in after if means_us.get(name, 0.0) <= 0),
        "counter_error_bound_s": 1e-6 * (1 + 2 * warmup / runs),
        "by_op_type": by_type, "nodes": nodes,
    }


def profile_openvino(compile_profiled: Callable[[], Any], set_inputs: Callable[[Any], None],
                     runs: int) -> Dict[str, Any]:
    """A second compiled model with ``PERF_COUNT`` on (``compile_profiled``), fed by
    ``set_inputs(request)``; the timed one never has the counters on."""
    compiled = compile_profiled()
    request = compiled.create_infer_request()
    set_inputs(request)
    for _ in range(WARMUP_RUNS):
        request.infer()
    before = read_counters(request)
    calls_ns = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        request.infer()
        calls_ns.append(time.perf_counter_ns() - t0)
    out = parse_counters(before, read_counters(request), WARMUP_RUNS, calls_ns)
    out.update(runtime="openvino", method="PERF_COUNT (InferRequest.get_profiling_info)")
    return out
