"""Compare two runs job by job, and call a change real only when it is.

A latency change is a regression (or improvement) only when it is larger than ``factor``
*and* statistically significant: Mann-Whitney U on the raw per-run samples with
p < 0.002 (asv's threshold), or -- when a run kept no samples -- non-overlapping ~99.8 %
confidence intervals from the summary's mean/std/runs.  Pairs measured in different
environments (fingerprints differ) are not compared unless forced; they are listed with
what differs.  Accuracy moves beyond ``accuracy_threshold_pts`` points are flagged too,
and a job that was ok and now fails is a regression ("broken").

When both runs carry the agent's 99 % order-statistic intervals of the metric (p50, p90),
overlapping intervals make the pair a **tie**, whatever the ratio and the U test say: the
measurement cannot tell the two apart, and saying "tie" is more honest than "unchanged".
Without raw samples, non-overlapping intervals are the significance test.  A pair in which
either job started hot or under foreign load (the run context) carries a warning.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.errors import UsageError
from edgebench.quality import LATENCY_FACTOR, MAX_ACCURACY_DROP_PTS, interval, intervals_overlap
from edgebench.report.tables import diff_fingerprints

if TYPE_CHECKING:
    from edgebench.store import Store

METRICS = {"p50": "latency_p50_s", "mean": "latency_mean_s", "p90": "latency_p90_s"}
#: The summary columns of each metric's 99 % interval (the mean has none).
CI_COLUMNS = {"p50": ("latency_p50_ci_low_s", "latency_p50_ci_high_s"),
              "p90": ("latency_p90_ci_low_s", "latency_p90_ci_high_s")}
#: standard error of the metric in units of std/sqrt(n) for normal-ish samples
_SE_FACTOR = {"p50": 1.2533, "mean": 1.0, "p90": 1.7094}
_Z_99_8 = 3.0902  # two-sided 99.8 % -> the same 0.002 as the U test
DEFAULT_FACTOR = LATENCY_FACTOR  # edgebench.quality: the same noise factor everywhere
DEFAULT_ALPHA = 0.002
DEFAULT_ACCURACY_THRESHOLD_PTS = MAX_ACCURACY_DROP_PTS
REGRESSION_STATES = ("regression", "broken")


@dataclass
class PairResult:
    """One (model, variant, format, device) in both runs."""

    model: str
    variant: str
    format: str
    device: str
    state: str  # regression improvement unchanged tie incomparable broken fixed failed missing new
    value_a_s: float | None = None
    value_b_s: float | None = None
    ratio: float | None = None  # b / a: > 1 is slower
    p_value: float | None = None
    test: str = ""  # mann-whitney | ci-overlap | factor-only
    significant: bool | None = None
    accuracy_a: float | None = None
    accuracy_b: float | None = None
    accuracy_change_pts: float | None = None
    accuracy_state: str = ""  # '' | regression | improvement
    fingerprint_diff: str = ""
    note: str = ""
    ci_a: list[float] | None = None  # [low, high] of the metric's 99 % interval
    ci_b: list[float] | None = None
    context_warning: str = ""  # a job started hot or under foreign load

    @property
    def ident(self) -> str:
        return f"{self.model}/{self.variant} ({self.format}) on {self.device}"

    @property
    def is_regression(self) -> bool:
        return self.state in REGRESSION_STATES or self.accuracy_state == "regression"

    def message(self) -> str:
        if self.state == "broken":
            return f"{self.ident}: was ok, now {self.note}"
        parts = []
        if self.state in ("regression", "improvement") and self.ratio is not None:
            parts.append(f"{self.state}: latency ×{self.ratio:.3f}"
                         + (f" (p={_fmt_p(self.p_value)}, {self.test})" if self.p_value is not None
                            else f" ({self.test})"))
        if self.accuracy_state:
            parts.append(f"accuracy {self.accuracy_state}: {self.accuracy_change_pts:+.2f} pts")
        if self.state == "incomparable":
            parts.append(f"incomparable: {self.fingerprint_diff}")
        if self.state == "tie" and self.ratio is not None:
            parts.append(f"tie: latency ×{self.ratio:.3f} but the 99 % intervals overlap")
        if self.context_warning:
            parts.append(f"warning: {self.context_warning}")
        return f"{self.ident}: " + ("; ".join(parts) or self.state)


@dataclass
class Comparison:
    run_a: str
    run_b: str
    metric: str
    factor: float
    alpha: float
    accuracy_threshold_pts: float
    forced: bool
    pairs: list[PairResult] = field(default_factory=list)

    @property
    def regressions(self) -> list[PairResult]:
        return [p for p in self.pairs if p.is_regression]

    @property
    def improvements(self) -> list[PairResult]:
        return [p for p in self.pairs if not p.is_regression and (
            p.state in ("improvement", "fixed") or p.accuracy_state == "improvement")]

    @property
    def incomparable(self) -> list[PairResult]:
        return [p for p in self.pairs if p.state == "incomparable"]

    @property
    def ties(self) -> list[PairResult]:
        return [p for p in self.pairs if p.state == "tie"]

    @property
    def context_warnings(self) -> list[PairResult]:
        return [p for p in self.pairs if p.context_warning]

    def to_dict(self) -> dict[str, Any]:
        def rows(items: list[PairResult]) -> list[dict[str, Any]]:
            return [dict(asdict(p), message=p.message()) for p in items]

        return {"run_a": self.run_a, "run_b": self.run_b, "metric": self.metric,
                "factor": self.factor, "alpha": self.alpha,
                "accuracy_threshold_pts": self.accuracy_threshold_pts, "forced": self.forced,
                "regressions": rows(self.regressions), "improvements": rows(self.improvements),
                "incomparable": rows(self.incomparable), "ties": rows(self.ties),
                "context_warnings": rows(self.context_warnings), "pairs": rows(self.pairs)}


def _f(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def mann_whitney_p(a: Any, b: Any) -> float:
    """Two-sided Mann-Whitney U p-value.

    Normal approximation with tie and continuity correction -- what scipy's
    ``mannwhitneyu`` does for samples this size -- in numpy, because importing
    ``scipy.stats`` costs seconds on small controllers; scipy's exact test for tiny samples.
    """
    import numpy as np

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = len(x), len(y)
    if min(n1, n2) <= 8:
        from scipy.stats import mannwhitneyu

        return float(mannwhitneyu(x, y, alternative="two-sided").pvalue)
    both = np.concatenate([x, y])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    sorted_vals = both[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    mu = n1 * n2 / 2.0
    tie_term = float((counts ** 3 - counts).sum())
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (abs(u1 - mu) - 0.5) / sigma
    return float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0))))


def _significance(a: Any, b: Any, ra: Any, rb: Any, metric: str, alpha: float
                  ) -> tuple[bool, float | None, str]:
    """(significant, p-value or None, test used)."""
    if a is not None and b is not None and len(a) >= 2 and len(b) >= 2:
        p = mann_whitney_p(a, b)
        return p < alpha, p, "mann-whitney"
    if metric in CI_COLUMNS:
        overlap = intervals_overlap(_interval(ra, metric), _interval(rb, metric))
        if overlap is not None:
            return not overlap, None, "ci-overlap (99 % order statistics)"
    sa, sb, na, nb = (_f(ra["latency_std_s"]), _f(rb["latency_std_s"]),
                      _f(ra["runs"]), _f(rb["runs"]))
    va, vb = _f(ra[METRICS[metric]]), _f(rb[METRICS[metric]])
    if None in (sa, sb, na, nb, va, vb) or not na or not nb:
        return True, None, "factor-only"
    half_a = _Z_99_8 * _SE_FACTOR[metric] * sa / math.sqrt(na)  # type: ignore[operator]
    half_b = _Z_99_8 * _SE_FACTOR[metric] * sb / math.sqrt(nb)  # type: ignore[operator]
    overlap = (va - half_a) <= (vb + half_b) and (vb - half_b) <= (va + half_a)  # type: ignore[operator]
    return not overlap, None, "ci-overlap"


def _interval(row: Any, metric: str) -> tuple[float, float] | None:
    if metric not in CI_COLUMNS:
        return None
    low, high = CI_COLUMNS[metric]
    return interval(row.get(low), row.get(high))


def context_warning(ra: Any, rb: Any) -> str:
    """Why a pair's latencies may differ for reasons outside the model: a job that started
    above the device's cool-down temperature, or with other processes busy."""
    parts = []
    for label, row in (("A", ra), ("B", rb)):
        if _flag(row.get("started_hot")):
            temp = _f(row.get("start_temp_c"))
            parts.append(f"{label} started hot" + (f" ({temp:.1f} °C)" if temp is not None else ""))
        if _flag(row.get("foreign_load")):
            cores = _f(row.get("foreign_cpu_cores"))
            parts.append(f"{label} ran under foreign load"
                         + (f" ({cores:.2f} cores busy)" if cores is not None else ""))
    return ", ".join(parts)


def _flag(value: Any) -> bool:
    """A boolean summary cell: True, 'True', numpy/pandas booleans; NA and '' are False."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    try:
        return value is not None and bool(value)
    except TypeError:  # pandas.NA
        return False


def _ident(row: Any, key: list[str]) -> tuple[Any, ...]:
    """(model, variant, format, device), the format as the job id spells it: ``onnx`` on
    the classic runtime (as in every run before runtimes were chosen), ``onnx:openvino``
    on another (docs/runtimes.md) -- two runtimes of one file are two configurations."""
    values = [row[k] for k in key]
    job_id = row.get("job_id") if hasattr(row, "get") else None
    if isinstance(job_id, str) and "@" in job_id:
        spelled = job_id.rsplit("@", 1)[0].rsplit("/", 1)[-1]
        if spelled.startswith(f"{values[2]}:"):
            values[2] = spelled
    return tuple(values)


def _compare_accuracy(pair: PairResult, ra: Any, rb: Any, threshold_pts: float) -> None:
    """Both runs' accuracy into ``pair``; a change beyond ``threshold_pts`` points is a
    regression or an improvement."""
    pair.accuracy_a = _acc(ra)
    pair.accuracy_b = _acc(rb)
    if pair.accuracy_a is not None and pair.accuracy_b is not None:
        pair.accuracy_change_pts = pair.accuracy_b - pair.accuracy_a  # percent -> points
        if pair.accuracy_change_pts < -threshold_pts:
            pair.accuracy_state = "regression"
        elif pair.accuracy_change_pts > threshold_pts:
            pair.accuracy_state = "improvement"


def compare_frames(frame_a: Any, frame_b: Any, samples_a: dict[str, Any],
                   samples_b: dict[str, Any], *, run_a: str, run_b: str, metric: str = "p50",
                   factor: float = DEFAULT_FACTOR, force: bool = False,
                   alpha: float = DEFAULT_ALPHA,
                   accuracy_threshold_pts: float = DEFAULT_ACCURACY_THRESHOLD_PTS) -> Comparison:
    """Pure comparison of two ``results.load`` frames (+ raw samples by job_id)."""
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}", hint=f"use one of {', '.join(METRICS)}")
    if factor < 1:
        raise UsageError(f"--factor {factor} must be >= 1 (1.1 = 10 % slower)")
    col = METRICS[metric]
    key = ["model", "variant", "format", "device"]
    a_rows = {_ident(r, key): r for _, r in frame_a.iterrows()}
    b_rows = {_ident(r, key): r for _, r in frame_b.iterrows()}
    out = Comparison(run_a, run_b, metric, factor, alpha, accuracy_threshold_pts, force)
    for ident in list(dict.fromkeys(list(a_rows) + list(b_rows))):
        model, variant, fmt, device = (str(x) for x in ident)
        pair = PairResult(model, variant, fmt, device, state="unchanged")
        out.pairs.append(pair)
        ra, rb = a_rows.get(ident), b_rows.get(ident)
        if ra is None or rb is None:
            pair.state = "new" if ra is None else "missing"
            continue
        ok_a, ok_b = ra["status"] == "ok", rb["status"] == "ok"
        if not ok_b:
            pair.note = f"{rb['status']}: {rb['error'] or '?'}"
            pair.state = "broken" if ok_a else "failed"
            continue
        if not ok_a:
            pair.state, pair.note = "fixed", f"was {ra['status']}: {ra['error'] or '?'}"
            continue
        _compare_accuracy(pair, ra, rb, accuracy_threshold_pts)
        pair.value_a_s, pair.value_b_s = _f(ra[col]), _f(rb[col])
        if ra["fingerprint"] != rb["fingerprint"]:
            pair.fingerprint_diff = diff_fingerprints(
                [json.loads(ra["fingerprint_json"] or "{}"),
                 json.loads(rb["fingerprint_json"] or "{}")]) or "fingerprint hashes differ"
            if not force:
                pair.state = "incomparable"
                continue
            pair.note = f"forced across environments: {pair.fingerprint_diff}"
        if pair.value_a_s is None or pair.value_b_s is None or pair.value_a_s <= 0:
            pair.note = (pair.note + "; " if pair.note else "") + f"no {metric} in one run"
            continue
        pair.ratio = pair.value_b_s / pair.value_a_s
        pair.context_warning = context_warning(ra, rb)
        sig, p, test = _significance(samples_a.get(ra["job_id"]), samples_b.get(rb["job_id"]),
                                     ra, rb, metric, alpha)
        pair.significant, pair.p_value, pair.test = sig, p, test
        ci_a, ci_b = _interval(ra, metric), _interval(rb, metric)
        pair.ci_a = list(ci_a) if ci_a else None
        pair.ci_b = list(ci_b) if ci_b else None
        if intervals_overlap(ci_a, ci_b):
            pair.state = "tie"
        elif sig and pair.ratio > factor:
            pair.state = "regression"
        elif sig and pair.ratio < 1.0 / factor:
            pair.state = "improvement"
    return out


def _acc(row: Any) -> float | None:
    dev = _f(row.get("device_accuracy"))
    return dev if dev is not None else _f(row.get("accuracy"))


def compare_runs(store: "Store | str | Path | None", run_a: str, run_b: str, *,
                 metric: str = "p50", factor: float = DEFAULT_FACTOR, force: bool = False,
                 alpha: float = DEFAULT_ALPHA,
                 accuracy_threshold_pts: float = DEFAULT_ACCURACY_THRESHOLD_PTS) -> Comparison:
    """Compare two stored runs (B against baseline A); UsageError for unknown run ids."""
    from edgebench import results
    from edgebench.store import open_store

    st = open_store(store)
    frame_a, frame_b = results.load(st, run=run_a), results.load(st, run=run_b)
    return compare_frames(frame_a, frame_b, st.samples(run_a), st.samples(run_b),
                          run_a=run_a, run_b=run_b, metric=metric, factor=factor,
                          force=force, alpha=alpha,
                          accuracy_threshold_pts=accuracy_threshold_pts)


def _fmt_p(p: float) -> str:
    return "<1e-300" if p == 0 else f"{p:.2g}"  # 0.0 is underflow, not certainty


_ORDER = {"broken": 0, "regression": 1, "incomparable": 2, "improvement": 3, "fixed": 4,
          "failed": 5, "missing": 6, "new": 7, "unchanged": 8, "tie": 9}


def render(cmp: Comparison, console: Any = None) -> None:
    """Print the per-pair table with rich (regressions first)."""
    from rich.console import Console
    from rich.table import Table

    from edgebench.textsafe import plain

    if console is None:
        import sys

        console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=f"{plain(cmp.run_b)} vs baseline {plain(cmp.run_a)} ({cmp.metric}, factor "
                        f"{cmp.factor:g}, p < {cmp.alpha:g})")
    for name in ("model", "variant", "format", "device", "A", "B", "ratio", "p", "state",
                 "Δ acc pts", "note"):
        table.add_column(name, overflow="fold")
    style = {"regression": "bold red", "broken": "bold red", "improvement": "green",
             "fixed": "green", "incomparable": "yellow", "tie": "dim"}
    pairs = sorted(cmp.pairs, key=lambda p: (0 if p.is_regression else 1, _ORDER.get(p.state, 9)))
    for p in pairs:
        state = p.state + (f" / accuracy {p.accuracy_state}" if p.accuracy_state else "")
        note = p.fingerprint_diff if p.state == "incomparable" else p.note
        if p.state == "tie":
            note = "99 % intervals overlap" + (f"; {note}" if note else "")
        if p.context_warning:
            note = f"⚠ {p.context_warning}" + (f"; {note}" if note else "")
        table.add_row(
            plain(p.model), plain(p.variant), plain(p.format), plain(p.device),
            _fmt_ci(p.value_a_s, p.ci_a), _fmt_ci(p.value_b_s, p.ci_b),
            f"{p.ratio:.3f}" if p.ratio is not None else "–",
            _fmt_p(p.p_value) if p.p_value is not None else (p.test or "–"), state,
            f"{p.accuracy_change_pts:+.2f}" if p.accuracy_change_pts is not None else "–",
            plain(note), style="bold red" if p.is_regression else style.get(p.state, ""))
    console.print(table)
    console.print(f"{len(cmp.regressions)} regression(s), {len(cmp.improvements)} "
                  f"improvement(s), {len(cmp.ties)} tie(s), {len(cmp.incomparable)} "
                  "incomparable", markup=False)
    if cmp.context_warnings:
        console.print(f"warning: {len(cmp.context_warnings)} pair(s) compare a job that started "
                      "hot or under foreign load (see note)", markup=False)


def _fmt_ci(value: float | None, ci: list[float] | None) -> str:
    from edgebench.units import fmt_pm, fmt_seconds

    return fmt_seconds(value) + (fmt_pm(value, ci[0], ci[1]) if ci else "")
