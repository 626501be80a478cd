"""Fleet parallelism: wall time of a run on N simulated devices vs the slowest device.

Starts N real sshd devices on loopback (the test lab), runs M jobs on each, and prints
wall time / the slowest device's total job time (sum of its jobs' durations).  The ideal
is 1.0: devices run in parallel, so the run should take as long as its busiest device.
Goal <= 1.3 with 16 devices.  Note this machine has few cores: N agents at once compete
for them, which lengthens every job but not the ratio.

    python benchmarks/bench_fleet.py [--devices 16] [--jobs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _ts(value: str) -> float:
    return dt.datetime.fromisoformat(value).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=3, help="jobs per device")
    parser.add_argument("--min-duration-s", type=float, default=0.5)
    args = parser.parse_args()

    import yaml

    from edgebench.run import run_suite
    from tests.conftest import make_mlp_onnx
    from tests.lab.sshd import SshdLab

    root = Path(tempfile.mkdtemp(prefix="eb-fleet-"))
    lab = SshdLab(root / "lab")
    try:
        t0 = time.perf_counter()
        names = [f"dev{i:02d}" for i in range(args.devices)]
        for name in names:
            lab.add(name, python=sys.executable)
        print(f"{args.devices} sshd devices up in {time.perf_counter() - t0:.2f} s")
        entries = {}
        for name in names:
            spec = lab.spec(name)
            entries[name] = {k: v for k, v in vars(spec).items() if k != "name" and v not in (None, [], {})}
        devices = root / "devices.yaml"
        devices.write_text(yaml.safe_dump({"devices": entries}))
        make_mlp_onnx(root / "mlp.onnx")
        suite = root / "suite.yaml"
        suite.write_text(yaml.safe_dump({
            "name": "fleet-bench", "devices": names,
            "models": [{"name": f"m{i}", "path": "mlp.onnx"} for i in range(args.jobs)],
            "benchmark": {"warmup_runs": 2, "warmup_min_s": 0.0, "min_runs": 20,
                          "min_duration_s": args.min_duration_s, "max_duration_s": 30}}))
        start = time.perf_counter()
        out = run_suite(suite, devices_path=devices, out_dir=root / "results", cache_dir=root / "cache")
        wall_s = time.perf_counter() - start
    finally:
        lab.close()
    per_device: dict[str, float] = {}
    for rec in out.records:
        per_device[rec.device] = per_device.get(rec.device, 0.0) + _ts(rec.finished_at) - _ts(rec.started_at)
    slowest = max(per_device, key=per_device.get)
    print(f"jobs: {len(out.records)} ({out.counts}); wall time of run_suite: {wall_s:.2f} s "
          f"(includes variant build and inventory)")
    print(f"slowest device {slowest}: total job time {per_device[slowest]:.2f} s")
    print(f"ratio wall / slowest device's total job time: {wall_s / per_device[slowest]:.3f}   (goal <= 1.3)")
    return 0 if out.counts["ok"] == len(out.records) else 1


if __name__ == "__main__":
    sys.exit(main())
