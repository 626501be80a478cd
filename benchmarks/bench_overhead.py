"""Harness overhead: the agent's timed loop vs a bare ``for`` loop on the same session.

Goal: agent p50 / bare-loop p50 <= 1.02 on a model of about 1 ms.  Both loops call the
same ONNX Runtime session on the same inputs in the same process; blocks of each are
interleaved (ABAB...) so CPU-frequency drift and noisy neighbours hit both alike.  A
second figure runs the agent the way a job really runs -- a fresh process via the local
target -- against the bare loop.  This is a benchmark that prints ratios, not a test:
it never fails on a slow machine.

    python benchmarks/bench_overhead.py [--blocks 10] [--runs 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build_model(path: Path, batch: int, width: int) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((width, width)).astype(np.float32) / 32, f"W{i}")
             for i in range(2)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, width])
    nodes = [helper.make_node("MatMul", ["x", "W0"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "W1"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "bench", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def bare_loop(session, feed, names, runs: int) -> list[int]:  # noqa: ANN001
    lat = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        session.run(names, feed)
        t1 = time.perf_counter_ns()
        lat.append(t1 - t0)
    return lat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=300, help="runs per block")
    parser.add_argument("--batch", type=int, default=14)
    parser.add_argument("--width", type=int, default=1024)
    args = parser.parse_args()

    from edgebench.agent.backends.ort import OrtBackend
    from edgebench.agent.inputs import make_feed
    from edgebench.agent.runner import timed_loop
    from edgebench.agent.schema import BenchmarkSettings

    tmp = Path(tempfile.mkdtemp(prefix="eb-overhead-"))
    model = tmp / "bench.onnx"
    build_model(model, args.batch, args.width)
    backend = OrtBackend(threads=1)
    loaded = backend.load(str(model))
    feed = make_feed(loaded.inputs, seed=0, shapes={}, default_dim=1)
    infer = backend.bind(feed)
    session, names = backend.session, backend.output_names
    settings = BenchmarkSettings(min_runs=args.runs, min_duration_s=0.0, max_duration_s=600)
    bare_loop(session, feed, names, 50)  # warm both paths
    timed_loop(infer, BenchmarkSettings(min_runs=50, min_duration_s=0.0))

    agent_all: list[int] = []
    bare_all: list[int] = []
    for _ in range(args.blocks):
        bare_all += bare_loop(session, feed, names, args.runs)
        agent_all += timed_loop(infer, settings)
    bare_p50 = statistics.median(bare_all) / 1e9
    agent_p50 = statistics.median(agent_all) / 1e9
    print(f"model: MatMul {args.batch}x{args.width}x{args.width} x2, ONNX Runtime 1 thread; "
          f"{args.blocks} interleaved blocks of {args.runs} runs each")
    print(f"bare for-loop p50:        {bare_p50 * 1e3:.4f} ms")
    print(f"agent timed_loop p50:     {agent_p50 * 1e3:.4f} ms")
    print(f"ratio (in process):       {agent_p50 / bare_p50:.4f}   (goal <= 1.02)")

    # The agent as a job really runs: fresh process, staged bundle, JSON in and out.
    from edgebench.config import LOCAL_DEVICE
    from edgebench.targets.local import LocalTarget

    spec = {"job_id": "overhead", "model_path": str(model), "format": "onnx", "threads": 1,
            "benchmark": {"warmup_runs": 50, "warmup_min_s": 0.5, "min_runs": args.runs * args.blocks,
                          "min_duration_s": 1.0, "max_duration_s": 600},
            "probes": {"enabled": False}}
    with LocalTarget(LOCAL_DEVICE) as target:
        outcome = target.run_job(spec, timeout_s=900)
    if not outcome.result or outcome.result.get("status") != "ok":
        print(f"agent job failed: {outcome.result and outcome.result.get('error')} {outcome.stderr_tail}")
        return 1
    job_p50 = outcome.result["stats"]["p50_s"]
    bare_after = statistics.median(bare_loop(session, feed, names, args.runs * 2)) / 1e9
    print(f"agent job (subprocess) p50: {job_p50 * 1e3:.4f} ms; bare loop re-measured: "
          f"{bare_after * 1e3:.4f} ms")
    print(f"ratio (agent job / bare):   {job_p50 / bare_after:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
