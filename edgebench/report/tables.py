"""What a run report says, computed once from the job rows and rendered by every format.

Every number here is derived from measured summary columns without rounding (display
formatting happens in :mod:`edgebench.report.view`).  Comparisons are only ever made on
the same device and format -- a speedup of an int8 model on a Jetson over an fp32 model on
a Raspberry Pi means nothing -- and every pair whose environment fingerprints differ is
reported as a warning rather than silently compared.

Accuracy columns are percent (``edgebench.compressors.evaluate``: 71.8 = 71.8 %), so
budgets and changes are in percentage points (``*_pts``), like ``accuracy_delta``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from edgebench.quality import MAX_ACCURACY_DROP_PTS
from edgebench.report.model import Recommendation as Recommendation
from edgebench.report.model import ReportData as ReportData
from edgebench.report.model import ReportWarning as ReportWarning
from edgebench.units import as_number

if TYPE_CHECKING:
    import pandas as pd

BASELINE_VARIANT = "fp32"
PERFORMANCE_GOVERNORS = frozenset({"performance"})
DEFAULT_MAX_ACCURACY_DROP_PTS = MAX_ACCURACY_DROP_PTS  # edgebench.quality
DEFAULT_TEMP_RISE_LIMIT_C = 10.0


def derive(frame: "pd.DataFrame") -> "pd.DataFrame":
    """Add baseline-relative columns: speedup_vs_fp32, size_ratio, accuracy_eff,
    accuracy_change_pts, baseline_fingerprint_differs, pareto_latency, pareto_size."""
    import numpy as np
    import pandas as pd

    rows = frame.copy()
    rows["is_ok"] = rows["status"].eq("ok")
    rows["is_noop"] = rows["noop"].fillna(False).astype(bool)
    rows["accuracy_eff"] = rows["device_accuracy"].where(rows["device_accuracy"].notna(),
                                                         rows["accuracy"])
    # the same file on two runtimes is two configurations: each is compared with fp32 on
    # its own runtime ('' for rows of runs from before runtimes were chosen)
    rows["runtime_key"] = rows["runtime"].fillna("").astype(str) if "runtime" in rows else ""
    # names say the runtime only in runs where some format ran on several runtimes, so
    # single-runtime reports read as they always did
    rows["runtime_label"] = rows["runtime_key"] if several_runtimes(rows) else ""
    key = ["model", "format", "runtime_key", "device"]
    base = rows[rows["variant"].eq(BASELINE_VARIANT) & rows["is_ok"]]
    base = base.drop_duplicates(key, keep="last")[
        key + ["latency_p50_s", "size_bytes", "accuracy_eff", "fingerprint",
               "latency_p50_ci_low_s", "latency_p50_ci_high_s"]
    ].rename(columns={"latency_p50_s": "_b_p50", "size_bytes": "_b_size",
                      "accuracy_eff": "_b_acc", "fingerprint": "_b_fp",
                      "latency_p50_ci_low_s": "fp32_p50_ci_low_s",
                      "latency_p50_ci_high_s": "fp32_p50_ci_high_s"})
    rows = rows.merge(base, on=key, how="left")
    # size does not depend on the device: fall back to the fp32 file on any device
    any_size = (rows[rows["variant"].eq(BASELINE_VARIANT)].dropna(subset=["size_bytes"])
                .drop_duplicates(["model", "format"])[["model", "format", "size_bytes"]]
                .rename(columns={"size_bytes": "_b_size_any"}))
    rows = rows.merge(any_size, on=["model", "format"], how="left")
    b_size = rows["_b_size"].astype("Float64").fillna(rows["_b_size_any"].astype("Float64"))
    ok = rows["is_ok"]
    rows["speedup_vs_fp32"] = (rows["_b_p50"] / rows["latency_p50_s"]).where(ok)
    rows["fp32_p50_s"] = rows["_b_p50"].where(ok)
    rows["size_ratio"] = (rows["size_bytes"].astype("Float64") / b_size).astype("float64")
    change = rows["accuracy_eff"] - rows["_b_acc"]
    rows["accuracy_change_pts"] = change.where(change.notna(), rows["accuracy_delta"])
    rows["baseline_fingerprint_differs"] = (
        ok & rows["_b_fp"].notna() & rows["fingerprint"].ne(rows["_b_fp"]))
    rows["pareto_latency"] = False
    rows["pareto_size"] = False
    for _, group in rows[ok & ~rows["is_noop"]].groupby(["model", "device"]):
        for metric, flag in (("latency_p50_s", "pareto_latency"), ("size_bytes", "pareto_size")):
            cand = group.dropna(subset=[metric, "accuracy_eff"])
            values = cand[metric].to_numpy(dtype=float)
            acc = cand["accuracy_eff"].to_numpy(dtype=float)
            for idx, v, a in zip(cand.index, values, acc, strict=False):
                dominated = np.any((values <= v) & (acc >= a) & ((values < v) | (acc > a)))
                rows.loc[idx, flag] = not bool(dominated)
    drop = [c for c in rows.columns if c.startswith("_b_")]
    return rows.drop(columns=drop).reset_index(drop=True).pipe(pd.DataFrame)


def several_runtimes(rows: "pd.DataFrame") -> bool:
    """Whether some (model, format) ran on more than one runtime in these rows."""
    if "runtime_key" not in rows or rows.empty:
        return False
    return bool(rows.groupby(["model", "format"])["runtime_key"].nunique().gt(1).any())


def recommend(rows: "pd.DataFrame", *, objective: str = "latency",
              max_accuracy_drop_pts: float = DEFAULT_MAX_ACCURACY_DROP_PTS
              ) -> list[Recommendation]:
    """Per (model, device): the fastest (or smallest) ok, non-noop variant whose accuracy
    is within the budget of fp32 on that device; fp32 itself is always eligible."""
    import pandas as pd

    from edgebench.quality import MIN_COSINE, within_fidelity_budget

    metric = "latency_p50_s" if objective == "latency" else "size_bytes"
    out: list[Recommendation] = []
    for (model, device), group in rows.groupby(["model", "device"], sort=False):
        ok = group[group["is_ok"] & ~group["is_noop"] & group[metric].notna()]
        # a model without labels has no accuracy to hold on to: its budget is fidelity to
        # fp32 (cosine of the outputs), or fp32 would win every night by default
        labelled = bool(ok["accuracy_change_pts"].notna().any())
        if labelled:
            within = ok["variant"].eq(BASELINE_VARIANT) | (
                ok["accuracy_change_pts"].notna()
                & (ok["accuracy_change_pts"] >= -max_accuracy_drop_pts))
            budget = f"within {max_accuracy_drop_pts:g} accuracy points"
        else:
            cosine = ok["cosine"] if "cosine" in ok else pd.Series(index=ok.index, dtype=float)
            within = ok["variant"].eq(BASELINE_VARIANT) | cosine.map(
                lambda c: within_fidelity_budget(as_number(c))).astype(bool)
            budget = f"within the fidelity budget (cosine to fp32 >= {MIN_COSINE:g}; no labels)"
        eligible = ok[within]
        if eligible.empty:
            out.append(Recommendation(str(model), str(device), None, None, objective,
                                      reason=f"no ok variant {budget}"))
            continue
        best = eligible.sort_values([metric, "variant"]).iloc[0]
        excluded = len(ok) - len(eligible)
        tied = _tied_with(best, eligible) if objective == "latency" else []
        out.append(Recommendation(
            model=str(model), device=str(device), variant=str(best["variant"]),
            format=str(best["format"]), objective=objective,
            runtime=str(best["runtime_key"]) or None,
            latency_p50_s=as_number(best["latency_p50_s"]), speedup_vs_fp32=as_number(best["speedup_vs_fp32"]),
            latency_p50_ci_low_s=as_number(best.get("latency_p50_ci_low_s")),
            latency_p50_ci_high_s=as_number(best.get("latency_p50_ci_high_s")),
            size_ratio=as_number(best["size_ratio"]), accuracy_change_pts=as_number(best["accuracy_change_pts"]),
            reason=(f"{'fastest' if objective == 'latency' else 'smallest'} of {len(eligible)} "
                    f"variants {budget}"
                    + (f"; {excluded} excluded by the budget or an unknown "
                       f"{'accuracy' if labelled else 'fidelity'}" if excluded else "")
                    + (f"; a tie with {', '.join(tied)} (99 % p50 intervals overlap)" if tied else "")),
            tied_with=tied))
    return out


def _tied_with(best: Any, eligible: "pd.DataFrame") -> list[str]:
    """The other eligible variants whose p50 interval overlaps the best one's."""
    from edgebench.quality import interval, intervals_overlap

    mine = interval(best.get("latency_p50_ci_low_s"), best.get("latency_p50_ci_high_s"))
    out = []
    for _, r in eligible.iterrows():
        if (r["variant"] == best["variant"] and r["format"] == best["format"]
                and r["runtime_key"] == best["runtime_key"]):
            continue
        other = interval(r.get("latency_p50_ci_low_s"), r.get("latency_p50_ci_high_s"))
        if intervals_overlap(mine, other):
            out.append(f"{r['variant']} ({_on(r['format'], r['runtime_label'])})")
    return out


def _on(fmt: Any, runtime: Any) -> str:
    """'onnx on openvino', or just the format where the runtime is unknown."""
    return f"{fmt} on {runtime}" if runtime else str(fmt)



def comparability_warnings(rows: "pd.DataFrame", *,
                           temp_rise_limit_c: float = DEFAULT_TEMP_RISE_LIMIT_C
                           ) -> list[ReportWarning]:
    """Everything that makes a number in this report less trustworthy than it looks."""
    out: list[ReportWarning] = []
    # formats run on different runtimes, so fingerprints are only compared within one
    for (device, fmt, _rt), group in rows[rows["is_ok"]].groupby(["device", "format", "runtime_key"],
                                                                  sort=False):
        prints = group["fingerprint"].dropna().unique()
        if len(prints) > 1:
            out.append(ReportWarning(
                "fingerprint", f"{len(prints)} different environment fingerprints for {fmt} "
                f"on {device} in this run: {_fingerprint_diff(group)}", device=str(device)))
    for _, r in rows.iterrows():
        ident = dict(model=str(r["model"]), variant=str(r["variant"]), device=str(r["device"]))
        name = f"{r['model']}/{r['variant']} ({_on(r['format'], r.get('runtime_label'))}) on {r['device']}"
        if r["is_noop"]:
            out.append(ReportWarning("noop", f"NOOP: {name}: the compressor changed nothing; "
                                     "this variant is the baseline under another name", **ident))
        if not r["is_ok"]:
            continue
        if bool(r["baseline_fingerprint_differs"]):
            out.append(ReportWarning("fingerprint", f"{name}: environment differs from the "
                                     "fp32 job it is compared with", **ident))
        if r["throttled"] is True or (r["throttled"] is not None and str(r["throttled"]) == "True"):
            out.append(ReportWarning("throttled", f"{name}: CPU throttled during timing",
                                     **ident))
        gov = r["governor"]
        if isinstance(gov, str) and gov and gov not in PERFORMANCE_GOVERNORS:
            out.append(ReportWarning("governor", f"{name}: CPU governor {gov!r} "
                                     "(not 'performance'): frequency may vary", **ident))
        rise = as_number(r["temp_rise_c"])
        if rise is not None and rise > temp_rise_limit_c:
            out.append(ReportWarning("temperature", f"{name}: temperature rose {rise:g} °C "
                                     f"(> {temp_rise_limit_c:g}) during timing", **ident))
        if _true(r.get("started_hot")):
            temp = as_number(r.get("start_temp_c"))
            out.append(ReportWarning("started_hot", f"{name}: started hot"
                                     + (f" ({temp:.1f} °C)" if temp is not None else "")
                                     + ", above the device's cooldown_below_c", **ident))
        if _true(r.get("foreign_load")):
            cores = as_number(r.get("foreign_cpu_cores"))
            out.append(ReportWarning("foreign_load", f"{name}: ran under foreign load"
                                     + (f" (other processes used {cores:.2f} cores)"
                                        if cores is not None else ""), **ident))
        target = as_number(r.get("target_precision"))
        if target is not None and _false(r.get("precision_reached")):
            out.append(ReportWarning("precision", f"{name}: target precision ±{target * 100:g} % "
                                     "not reached before max_duration_s", **ident))
    return out


def _true(value: Any) -> bool:
    """A boolean cell that is True (None, NaN and pandas' NA are unknown, not True)."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    try:
        return bool(value) and value == value
    except TypeError:  # pandas.NA
        return False


def _false(value: Any) -> bool:
    """A boolean cell that is False (unknown is not False)."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("false", "0")
    try:
        return not bool(value)
    except TypeError:  # pandas.NA
        return False


def loss_warnings(rows: "pd.DataFrame", max_accuracy_drop_pts: float,
                  profiles: dict[str, Any] | None = None) -> list[ReportWarning]:
    """Variants worse than fp32 (rules: :mod:`edgebench.quality`, shared with the terminal
    and the manifest): compression that made things worse is shouted in the report, not
    left for a reader to spot in a ratio column."""
    from edgebench import quality

    out: list[ReportWarning] = []
    for _, r in rows[rows["is_ok"] & rows["variant"].ne(BASELINE_VARIANT)].iterrows():
        ident = dict(model=str(r["model"]), variant=str(r["variant"]), device=str(r["device"]))
        name = f"{r['model']}/{r['variant']} ({_on(r['format'], r.get('runtime_label'))}) on {r['device']}"
        change, cosine = as_number(r["accuracy_change_pts"]), as_number(r.get("cosine"))
        if quality.accuracy_lost(change, max_accuracy_drop_pts):
            out.append(ReportWarning("quality", f"QUALITY LOSS: {name}: accuracy {change:+.2f} "
                                     f"points vs fp32 (budget {max_accuracy_drop_pts:g})", **ident))
        elif quality.fidelity_lost(as_number(r["accuracy_eff"]), cosine):
            out.append(ReportWarning("quality", f"QUALITY LOSS: {name}: outputs' cosine to fp32 "
                                     f"{cosine:.4f} (< {quality.MIN_COSINE:g})", **ident))
        # same device: a slowdown only beyond the factor and outside the 99 % intervals
        ratio = quality.slowdown(
            as_number(r["latency_p50_s"]), as_number(r.get("fp32_p50_s")),
            ci=quality.interval(r.get("latency_p50_ci_low_s"), r.get("latency_p50_ci_high_s")),
            fp32_ci=quality.interval(r.get("fp32_p50_ci_low_s"), r.get("fp32_p50_ci_high_s")))
        if ratio is not None:
            why = _slower_why(rows, r, profiles or {})
            out.append(ReportWarning("slower", f"SLOWER THAN FP32: {name}: p50 {ratio:.2f}x "
                                     "fp32's" + (f" -- why (operator profile): {why}" if why else ""),
                                     **ident))
    return out


def _slower_why(rows: "pd.DataFrame", r: Any, profiles: dict[str, Any]) -> str | None:
    """The op types that account for a slowdown (edgebench.explain), when both the variant
    and fp32 on that device and runtime carry an operator profile."""
    from edgebench.explain import explain

    if not profiles:
        return None
    base = rows[rows["model"].eq(r["model"]) & rows["format"].eq(r["format"])
                & rows["device"].eq(r["device"]) & rows["variant"].eq(BASELINE_VARIANT)]
    if base.empty:
        return None
    result = explain(profiles.get(str(r["job_id"])), profiles.get(str(base.iloc[0]["job_id"])))
    return result.text() if result is not None else None


def _fingerprint_diff(group: "pd.DataFrame") -> str:
    """'key: a | b' for every fingerprint key whose value differs within ``group``."""
    dicts = [json.loads(s or "{}") for s in group["fingerprint_json"].dropna().unique()]
    return diff_fingerprints(dicts) or "fingerprint hashes differ"


def diff_fingerprints(dicts: list[dict[str, Any]]) -> str:
    keys = sorted(set().union(*dicts)) if dicts else []
    parts = []
    for k in keys:
        values = [json.dumps(d.get(k), default=str) for d in dicts]
        if len(set(values)) > 1:
            parts.append(f"{k}: {' | '.join(dict.fromkeys(values))}")
    return "; ".join(parts)


def environment(rows: "pd.DataFrame", machines: dict[str, dict[str, Any]]
                ) -> dict[str, dict[str, Any]]:
    """device -> machine info plus the fingerprint hash(es) seen on it."""
    env: dict[str, dict[str, Any]] = {}
    for device in rows["device"].dropna().unique():
        info = {k: v for k, v in (machines.get(device) or {}).items()
                if isinstance(v, (str, int, float, bool)) or v is None}
        flags = (machines.get(device) or {}).get("int8_bf16_flags")
        if isinstance(flags, list):  # what decides whether int8 / bf16 can beat fp32
            info["int8_bf16_flags"] = " ".join(str(f) for f in flags) or "none"
        prints = [p for p in rows.loc[rows["device"].eq(device), "fingerprint"].dropna().unique() if p]
        info["fingerprint"] = ", ".join(str(p) for p in prints)
        env[str(device)] = info
    return env


def build_report(frame: "pd.DataFrame", run_meta: dict[str, Any], *,
                 machines: dict[str, dict[str, Any]] | None = None,
                 history: "pd.DataFrame | None" = None,
                 samples: dict[str, Any] | None = None,
                 sustained: dict[str, Any] | None = None,
                 profiles: dict[str, Any] | None = None,
                 objective: str = "latency",
                 max_accuracy_drop_pts: float = DEFAULT_MAX_ACCURACY_DROP_PTS,
                 extra_warnings: list[ReportWarning] | None = None) -> ReportData:
    """Compute a whole report from :func:`edgebench.results.load`-shaped rows."""
    if objective not in ("latency", "size"):
        from edgebench.errors import UsageError

        raise UsageError(f"unknown objective {objective!r}", hint="use latency or size")
    rows = derive(frame)
    warnings = list(extra_warnings or [])
    if not run_meta.get("complete", True) or run_meta.get("finished_at") is None:
        warnings.insert(0, ReportWarning("incomplete", "this run is not complete (still running "
                                         "or the controller stopped early)"))
    warnings += comparability_warnings(rows)
    warnings += loss_warnings(rows, max_accuracy_drop_pts, profiles)
    return ReportData(run_meta=run_meta, rows=rows,
                      recommendations=recommend(rows, objective=objective,
                                                max_accuracy_drop_pts=max_accuracy_drop_pts),
                      warnings=warnings, environment=environment(rows, machines or {}),
                      objective=objective, max_accuracy_drop_pts=max_accuracy_drop_pts,
                      history=history, samples=dict(samples or {}),
                      combinations=_combinations(rows), sustained=dict(sustained or {}),
                      profiles=dict(profiles or {}))


def _combinations(rows: "pd.DataFrame") -> list[Any]:
    from edgebench.report.synergy import combinations, rows_from_frame

    return combinations(rows_from_frame(rows))


def as_jsonable(report: ReportData) -> dict[str, Any]:
    """The report as plain JSON types (NaN -> null), for the json format and the site."""
    rows = report.rows.drop(columns=["fingerprint_json"], errors="ignore")
    records = json.loads(rows.to_json(orient="records", double_precision=15))
    return {
        "run": report.run_meta,
        "objective": report.objective,
        "max_accuracy_drop_pts": report.max_accuracy_drop_pts,
        "jobs": records,
        "recommendations": [asdict(r) for r in report.recommendations],
        "warnings": [asdict(w) for w in report.warnings],
        "environment": report.environment,
        "regressions": report.regressions,
    }
