"""int8 vs fp32 on this CPU: median latency ratio of static-int8 variants of the MLPerf Tiny
references (ResNet-8, DS-CNN) against their fp32 files, ONNX Runtime, one thread.

Why a script and not a test: whether int8 is faster depends on the CPU (x86 needs VNNI --
``avx512_vnni`` / ``avx_vnni`` -- for ONNX Runtime's u8s8 kernels to beat fp32 by ~2x;
Arm needs ``asimddp`` / ``i8mm``), so the figure is printed with the CPU's int8 features,
never asserted.  Variants are built by edgebench itself (``build_variants``, cached) with
the recipes of ``suites/mlperf-tiny.yaml`` plus two alternatives; sessions are timed in
interleaved blocks (ABC ABC ...) so frequency drift and noisy neighbours hit all alike.

    python benchmarks/bench_int8_speedup.py [--blocks 8] [--runs 150] [--model resnet8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "fp32": [],
    "int8-static": [{"quantize": {"mode": "static"}}],  # QOperator u8s8 per tensor (default)
    "int8-static-qdq-pc": [{"quantize": {"mode": "static", "quant_format": "qdq",
                                         "per_channel": True}}],
    "int8-static-reduce-range": [{"quantize": {"mode": "static", "reduce_range": True}}],
}


def int8_features() -> list[str]:
    from edgebench.agent.sysinfo import cpu_flags

    wanted = ("vnni", "amx_int8", "asimddp", "i8mm", "avx512bw")
    return [f for f in cpu_flags() if any(w in f for w in wanted)]


def build(model: str, cache: Path) -> dict[str, Path]:
    from edgebench.recipes import ModelSpec, VariantSpec
    from edgebench.variants import build_variants

    suite = SimpleNamespace(name="bench-int8", models=[ModelSpec(name=model, builtin=model, formats=["onnx"])],
                            variants=[VariantSpec(name=k, steps=v) for k, v in VARIANTS.items()])
    paths = {}
    for art in build_variants(suite, cache_dir=cache):
        if art.error:
            print(f"  {art.variant}: not built: {art.error}")
        else:
            paths[art.variant] = art.path
    return paths


def time_sessions(paths: dict[str, Path], blocks: int, runs: int) -> dict[str, list[float]]:
    import onnxruntime as ort

    sessions, feeds = {}, {}
    for name, path in paths.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in inp.shape]
        sessions[name] = sess
        feeds[name] = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    samples: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(blocks):
        for name, sess in sessions.items():
            for _ in range(20):
                sess.run(None, feeds[name])
            for _ in range(runs):
                start = time.perf_counter()
                sess.run(None, feeds[name])
                samples[name].append(time.perf_counter() - start)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", choices=["resnet8", "ds-cnn"],
                        help="default: both")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgebench")
    args = parser.parse_args()
    import onnxruntime as ort

    print(f"onnxruntime {ort.__version__}; CPU int8 features: {', '.join(int8_features()) or 'none'}")
    for model in args.model or ["resnet8", "ds-cnn"]:
        print(f"{model}:")
        samples = time_sessions(build(model, args.cache), args.blocks, args.runs)
        base = statistics.median(samples["fp32"])
        for name, values in samples.items():
            p50 = statistics.median(values)
            print(f"  {name:26s} p50 {p50 * 1e6:9.1f} us   fp32/this = {base / p50:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
