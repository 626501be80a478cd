"""``edgebench tune`` vs an exhaustive run: device-seconds and winner agreement.

Tunes the quickstart model (digits-cnn, ONNX and TFLite) on ``local`` with budget
accuracy:1 and objective latency over the default search space, then runs every candidate
the tuning built with the suite's full stopping rule (``edgebench run`` on the tuning
run's own candidates.yaml).  Prints the device-seconds of both, counted alike
(edgebench/tuning/devicetime.py: every job's own seconds from its record -- push, start-up,
load, warm-up, timed loop and on-device evaluation -- plus the agent inventory; the
exhaustive run's inventory is not timed apart, so the tuning's is used, each pays one),
their ratio (goal <= 0.40), both winners, and whether they agree or are
statistically tied (their p50 99 % intervals overlap in the exhaustive run).  The
exhaustive winner is the fastest candidate within the same budget.  A benchmark that
prints figures, not a test: it never fails on a slow machine.

    python benchmarks/bench_tune.py [--suite suites/quickstart.yaml] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def exhaustive(candidates: Path, out: Path, keep: set[tuple[str, str, str]],
               inventory_s: float) -> tuple[float, Any, dict]:
    """Every candidate with the full rule; the fastest within the budget per (model, device)."""
    from edgebench.run import run_suite
    from edgebench.tuning.devicetime import job_seconds

    start = time.perf_counter()
    outcome = run_suite(candidates, out_dir=out)
    wall = time.perf_counter() - start
    device_s = sum(job_seconds(rec) for rec in outcome.records) + inventory_s
    fleet_wall_s = sum(d.wall_s for d in outcome.devices)
    best: dict[tuple[str, str], Any] = {}
    for rec in outcome.records:
        s = rec.summary or {}
        if rec.status != "ok" or (rec.model, rec.variant, rec.format) not in keep:
            continue
        key = (rec.model, rec.device)
        if key not in best or s["latency_p50_s"] < best[key].summary["latency_p50_s"]:
            best[key] = rec
    print(f"exhaustive: {len(outcome.records)} jobs, {device_s:.1f} device-s "
          f"(fleet device wall {fleet_wall_s:.1f} s; wall {wall:.1f} s), run {outcome.run_id}")
    return device_s, outcome, best


def _ci(rec: Any) -> tuple[float, float]:
    s = rec.summary
    return float(s["latency_p50_ci_low_s"]), float(s["latency_p50_ci_high_s"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default=str(ROOT / "suites" / "quickstart.yaml"))
    ap.add_argument("--out", default=None, help="results root (default: a temporary folder)")
    args = ap.parse_args()
    from edgebench.tuning.tuner import tune

    out = Path(args.out or tempfile.mkdtemp(prefix="bench-tune-"))
    suite = out / Path(args.suite).name  # the tuned suite is written next to this copy
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.suite, suite)
    start = time.perf_counter()
    tuned = tune(suite, device_names=["local"], budget="accuracy:1", objective="latency",
                 out_dir=out / "results", say=lambda m: print(f"  {m}", flush=True))
    wall = time.perf_counter() - start
    led = tuned.ledger
    print(f"tune: {sum(led.jobs_by_stage.values())} jobs, {led.total_s:.1f} device-s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in led.by_stage.items())}; of which agent "
          f"inventory {sum(led.inventory_s.values()):.1f}) (wall {wall:.1f} s incl. building), "
          f"run {tuned.run_id}")
    keep = {(c.model, c.variant, c.format) for c in tuned.candidates if c.status == "ok"}
    ex_s, ex, best = exhaustive(tuned.run_dir / "candidates.yaml", out / "results", keep,
                                sum(led.inventory_s.values()))
    print(f"device-seconds: tune {led.total_s:.1f} / exhaustive {ex_s:.1f} = "
          f"{led.total_s / ex_s:.3f} (goal <= 0.40); tune's own estimate of exhaustive "
          f"{tuned.exhaustive_estimate_s:.1f}")
    by_job = {(r.model, r.variant, r.format, r.device): r for r in ex.records if r.status == "ok"}
    for row in tuned.winners:
        ex_best = best.get((row["model"], row["device"]))
        win = row["winner"] or "-"
        variant, _, rest = win.partition("/")
        fmt = rest.split(":")[0]
        print(f"{row['model']} on {row['device']}: tune winner {win} "
              f"(ties: {', '.join(row['ties']) or 'none'}); exhaustive winner "
              f"{ex_best.variant + '/' + ex_best.format if ex_best else '-'}")
        if ex_best is None or not row["winner"]:
            print("  agreement: no winner to compare")
            continue
        same = (ex_best.variant, ex_best.format) == (variant, fmt)
        mine = by_job.get((row["model"], variant, fmt, row["device"]))
        tied = mine is not None and _overlap(_ci(mine), _ci(ex_best))
        ratio = (mine.summary["latency_p50_s"] / ex_best.summary["latency_p50_s"]) if mine else None
        print(f"  agreement: {'same winner' if same else ('statistically tied' if tied else 'DIFFERENT')}"
              + (f"; in the exhaustive run tune's winner p50 = {ratio:.4f}x the exhaustive "
                 f"winner's" if ratio else ""))
    return 0


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


if __name__ == "__main__":
    raise SystemExit(main())
