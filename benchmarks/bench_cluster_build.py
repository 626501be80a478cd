"""Variant builds here vs as Ray tasks (``--cluster``): the build stage's wall time, measured.

Builds the same suite -- M ONNX models (a MatMul+Relu MLP of width W each) x fp32,
int8-dynamic, fp16 -- into a fresh cache twice: with :func:`edgebench.variants.build_variants`
as a run without ``--cluster`` does (each model's group in a build child process, one group
after another), then with the groups as Ray tasks (:mod:`edgebench.cluster.build`) on a
loopback cluster of a head without CPUs and K one-CPU worker nodes, the cache being the
same disk.  Prints both walls (the cluster's with its connect and disconnect), and checks
the two caches hold the same files.  A throwaway build first loads the toolchain into this
process (loading a source to check the cache happens here in both), so neither wall pays
for those imports.  Run from the repository root:

    python benchmarks/bench_cluster_build.py [--models 4] [--width 512] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def manifests(cache: Path) -> dict[tuple[str, str], tuple[str, str]]:
    out = {}
    for path in (cache / "variants").rglob("*.manifest.json"):
        m = json.loads(path.read_text())
        out[(m["model"], m["variant"])] = (m["cache_key"], m["sha256"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2, help="one-CPU worker nodes")
    args = ap.parse_args()

    from edgebench.cluster.build import cluster_builder
    from edgebench.recipes import ModelSpec, VariantSpec
    from edgebench.variants import build_variants
    from tests.cluster.raycluster import RayCluster
    from tests.conftest import make_mlp_onnx

    root = Path(tempfile.mkdtemp(prefix="ebbuild"))
    models = [ModelSpec(name=f"mlp{i}", path=str(make_mlp_onnx(root / f"mlp{i}.onnx", n=args.width + i)))
              for i in range(args.models)]
    variants = [VariantSpec(name="fp32"), VariantSpec(name="int8-dynamic", steps=[{"quantize": {"mode": "dynamic"}}]),
                VariantSpec(name="fp16", steps=[{"quantize": {"mode": "fp16"}}])]
    suite = SimpleNamespace(name="bench", models=models, variants=variants)

    warm = SimpleNamespace(name="warm", models=models[:1], variants=variants[:1])
    build_variants(warm, cache_dir=root / "warm")  # this process's imports, paid before either is timed
    t0 = time.perf_counter()
    local = build_variants(suite, cache_dir=root / "local")
    local_s = time.perf_counter() - t0

    cluster = RayCluster()
    try:
        cluster.start_head()
        for k in range(args.workers):
            cluster.add_worker(f"w{k}", [])
        os.environ.update({k: v for k, v in cluster.env.items() if k.startswith("RAY_")})
        t0 = time.perf_counter()
        remote = build_variants(suite, cache_dir=root / "cluster", build_groups=cluster_builder(cluster.gcs_address))
        cluster_s = time.perf_counter() - t0
    finally:
        cluster.close()
    nodes = {a.manifest.get("built_on") for a in remote}
    failed = [a for a in [*local, *remote] if a.error]
    print(json.dumps({
        "models": args.models, "width": args.width, "variants": len(local), "worker_nodes": args.workers,
        "cpus_here": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "local_build_s": round(local_s, 2), "cluster_build_s": round(cluster_s, 2),
        "cluster_nodes_used": len(nodes - {None}),
        "same_files": manifests(root / "local") == manifests(root / "cluster"), "failed": len(failed),
    }, indent=2))


if __name__ == "__main__":
    main()
