"""How much of a profiled ONNX Runtime inference the op-type times explain.

For every ONNX file of a run (paths from its ``results.jsonl``), at batch 1 and 64: the
profiled mean inference (``model_run``), the sum of the op-type kernel times and of the
node spans (kernel + the dispatch gap before it) with their ratios to it, the run's work
before the first and after the last kernel, and the profiler's cost (profiled vs
unprofiled call p50, timed alike) -- the figures in docs/profile.md.  Kernels alone leave
out the executor's and the profiler's own time between kernels (about 3 µs per node), so
their ratio is low for models whose kernels take microseconds.  A benchmark that prints,
not a test.

    python benchmarks/bench_profile_coverage.py results/RUN_ID/results.jsonl [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgebench.agent.runner import run_job
from edgebench.agent.schema import JobSpec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("journal", help="a run's results.jsonl")
    parser.add_argument("--runs", type=int, default=200, help="profiled inferences per line")
    args = parser.parse_args()
    paths = sorted({rec["result"]["model"]["path"]
                    for rec in map(json.loads, Path(args.journal).read_text().splitlines())
                    if rec.get("format") == "onnx" and rec.get("status") == "ok"})
    for path in paths:
        for dim in (1, 64):
            res = run_job(JobSpec.from_dict({
                "job_id": "coverage", "model_path": path, "format": "onnx",
                "inputs": {"default_dim": dim}, "probes": {"enabled": False},
                "benchmark": {"warmup_runs": 5, "warmup_min_s": 0, "min_runs": 20,
                              "min_duration_s": 0, "profile": True, "profile_runs": args.runs}}))
            prof = res.get("profile") or {}
            if "kernel_coverage" not in prof:
                print(f"{Path(path).name} batch {dim}: {res.get('error') or prof.get('error')}")
                continue
            print(f"{Path(path).name[:24]:24} batch {dim:2}: profiled mean "
                  f"{prof['inference_mean_s'] * 1e6:9.1f} µs, median {prof['inference_p50_s'] * 1e6:9.1f} µs; "
                  f"kernels {prof['kernel_sum_mean_s'] * 1e6:9.1f} µs = {prof['kernel_coverage'] * 100:5.1f} %; "
                  f"spans {prof['span_sum_mean_s'] * 1e6:9.1f} µs = {prof['span_coverage'] * 100:5.1f} %; "
                  f"before/after {prof['before_first_kernel_mean_s'] * 1e6:4.1f}/"
                  f"{prof['after_last_kernel_mean_s'] * 1e6:4.1f} µs; call p50 profiled "
                  f"{prof['profiled_call_p50_s'] * 1e6:8.1f} vs unprofiled "
                  f"{prof['unprofiled_call_p50_s'] * 1e6:8.1f} µs ({prof['profiler_slowdown_p50']:.2f}x); "
                  f"{prof['runs_excluded_slow']} slow runs left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
