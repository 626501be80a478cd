"""Successive halving on every device: spend device time only on candidates that can still win.

Each (model, device) pair is a *group* with its own candidates.  A rung measures every
surviving candidate of every group briefly (one fleet pass: devices in parallel); a
candidate whose objective interval lies wholly above the best one's -- it cannot beat it
-- is dropped, and so is one that failed (recorded with its reason, never retried).  Rungs
stop once a group has no more survivors than ``finalists``; the survivors (at most
``finalists``, lowest first) then get the suite's full stopping rule, together with the
group's baseline (fp32 of the leader's format and runtime) so the winner has honest
figures to be set against.  After the final, the lowest value wins; every finalist whose
interval overlaps the winner's is reported as *tied*: the measurement cannot separate them.

Pure logic: :func:`successive_halving` takes a ``measure`` callable, so it is tested on
synthetic samples (tests/tune/test_strategy.py) and driven by the fleet in
:mod:`edgebench.tuning.session`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

#: an objective without a measured interval (energy, peak memory) counts as this uncertain
NO_INTERVAL_REL = 0.05
FINAL = "final"

Group = tuple[str, str]  # (model, device)


@dataclass
class Measurement:
    """One candidate's objective at one stage; ``value`` None = the job failed."""

    value: Optional[float]
    low: Optional[float] = None  # 99 % interval; None where the figure has none
    high: Optional[float] = None
    error: Optional[str] = None
    device_s: float = 0.0

    def interval(self) -> tuple[float, float]:
        assert self.value is not None
        if self.low is not None and self.high is not None:
            return self.low, self.high
        return self.value * (1 - NO_INTERVAL_REL), self.value * (1 + NO_INTERVAL_REL)


@dataclass
class GroupResult:
    group: Group
    candidates: list[str]
    history: dict[str, list[tuple[str, Measurement]]] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)  # key -> why, at which stage
    finalists: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)  # still tied with the leader, over the cap
    winner: Optional[str] = None
    ties: list[str] = field(default_factory=list)
    baseline: Optional[str] = None

    def last(self, key: str) -> Optional[Measurement]:
        seen = self.history.get(key)
        return seen[-1][1] if seen else None

    def final(self, key: str) -> Optional[Measurement]:
        return next((m for stage, m in self.history.get(key, []) if stage == FINAL), None)


#: measure(stage, {group: [candidate keys]}) -> {group: {key: Measurement}}
Measure = Callable[[str, dict[Group, list[str]]], dict[Group, dict[str, Measurement]]]


def overlaps(a: Measurement, b: Measurement) -> bool:
    (alo, ahi), (blo, bhi) = a.interval(), b.interval()
    return alo <= bhi and blo <= ahi


def judge(stage: str, got: dict[str, Measurement], result: GroupResult) -> list[str]:
    """Record a stage; return the survivors, best first: every candidate whose interval
    reaches down to the best one's (it could still be the best)."""
    ok: list[tuple[float, str]] = []
    for key, m in got.items():
        result.history.setdefault(key, []).append((stage, m))
        if m.value is None:
            why = m.error or "no value"
            why = why if why.startswith(("failed:", "skipped:")) else f"failed: {why}"
            result.dropped[key] = f"{stage}: {why}"
        else:
            ok.append((m.value, key))
    ok.sort()
    if not ok:
        return []
    best_key = ok[0][1]
    best = got[best_key]
    kept = []
    for _value, key in ok:
        if key == best_key or got[key].interval()[0] <= best.interval()[1]:
            kept.append(key)
        else:
            lo = got[key].interval()[0]
            result.dropped[key] = (f"{stage}: cannot beat {best_key} (interval from {lo:.4g} "
                                   f"above its {best.interval()[1]:.4g})")
    return kept


def successive_halving(groups: dict[Group, list[str]], rungs: list[str], measure: Measure, *,
                       finalists: int, baseline_of: Callable[[str], Optional[str]],
                       may_continue: Callable[[dict[Group, list[str]]], bool] = lambda _j: True,
                       say: Callable[[str], None] = lambda _m: None) -> dict[Group, GroupResult]:
    """Run the rungs, then the final; ``may_continue(next_jobs)`` False (the device-time
    budget) skips the remaining rungs and keeps only one finalist per group."""
    results = {g: GroupResult(g, list(keys)) for g, keys in groups.items()}
    alive = {g: list(keys) for g, keys in groups.items()}
    cap = finalists
    for stage in rungs:
        jobs = {g: keys for g, keys in alive.items() if len(keys) > cap}
        if not jobs:
            break
        if not may_continue(jobs):
            say(f"{stage}: device-time budget reached; one finalist per device")
            cap = 1
            break
        got = measure(stage, jobs)
        for g in jobs:
            before = len(alive[g])
            alive[g] = judge(stage, got.get(g, {}), results[g])
            say(f"{stage} on {g[1]} ({g[0]}): kept {len(alive[g])} of {before}")
    final_jobs: dict[Group, list[str]] = {}
    for g, keys in alive.items():
        res = results[g]
        res.finalists, res.cut = keys[:cap], keys[cap:]
        for key in res.cut:
            res.dropped[key] = (f"cut: still tied with {keys[0]} after the last rung, over the "
                                f"finalists cap ({cap})")
        res.baseline = baseline_of(keys[0]) if keys else None
        extra = [res.baseline] if res.baseline and res.baseline not in res.finalists else []
        if res.finalists:
            final_jobs[g] = res.finalists + extra
    got = measure(FINAL, final_jobs) if final_jobs else {}
    for g in final_jobs:
        res = results[g]
        measured = got.get(g, {})
        if res.baseline and res.baseline not in res.finalists and res.baseline in measured:
            res.history.setdefault(res.baseline, []).append((FINAL, measured[res.baseline]))
        ranked = judge(FINAL, {k: measured[k] for k in res.finalists if k in measured}, res)
        if ranked:
            res.winner = ranked[0]
            win = measured[ranked[0]]
            res.ties = [k for k in ranked[1:] if overlaps(measured[k], win)]
    return results
