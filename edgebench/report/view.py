"""Report sections as display tables (text cells), shared by Markdown and HTML.

Formatting only: values are shown with units and sensible digits, but the underlying
numbers in :class:`ReportData.rows` are never changed (csv/json/parquet carry them whole).
"""

from __future__ import annotations

from typing import Any

from edgebench.report.cells import Cell as Cell
from edgebench.report.cells import Section as Section
from edgebench.report.cells import Table as Table
from edgebench.report.cells import fmt_accuracy, fmt_p50, variant_order
from edgebench.report.tables import ReportData, several_runtimes
from edgebench.units import fmt_bytes, fmt_joules, fmt_pm, fmt_ratio, fmt_seconds
from edgebench.units import is_number as _isnum


def model_table(report: ReportData, model: str) -> Table:
    """Rows = variants (and format), column group per device."""
    rows = report.rows[report.rows["model"].eq(model)]
    devices = [d for d in report.devices if d in set(rows["device"])]
    # a runtime column only where some format ran on several runtimes: single-runtime
    # reports look as they always did
    several = several_runtimes(rows)
    headers = ["variant", "format"] + (["runtime"] if several else [])
    for d in devices:
        headers += [f"{d} p50", f"{d} speedup", f"{d} size", f"{d} accuracy (Δ pts)",
                    f"{d} peak RSS", f"{d} energy/inf"]
    out: list[list[Cell]] = []
    for variant in variant_order(list(rows["variant"])):
        mine = rows["variant"].eq(variant)
        for fmt, rt in dict.fromkeys(zip(rows.loc[mine, "format"], rows.loc[mine, "runtime_key"], strict=True)):
            sub = rows[mine & rows["format"].eq(fmt) & rows["runtime_key"].eq(rt)]
            noop = bool(sub["is_noop"].any())
            line = [Cell(f"{variant}  ⚠ NOOP" if noop else variant, "noop" if noop else ""),
                    Cell(str(fmt))] + ([Cell(str(rt) or "–")] if several else [])
            for d in devices:
                r = sub[sub["device"].eq(d)]
                if r.empty:
                    line += [Cell("not run")] + [Cell("")] * 5
                    continue
                r = r.iloc[-1]
                if not r["is_ok"]:
                    line += [Cell(str(r["status"]).upper(), "bad")] + [Cell("")] * 5
                    continue
                marks = ("★" if r["pareto_latency"] else "")
                p50 = Cell(fmt_p50(r) + (" ★" if marks else ""),
                           "pareto" if marks else "")
                line += [p50, Cell(fmt_ratio(r["speedup_vs_fp32"])),
                         Cell(fmt_ratio(r["size_ratio"]) + (" ◆" if r["pareto_size"] else "")),
                         Cell(fmt_accuracy(r["accuracy_eff"], r["accuracy_change_pts"],
                                           r["accuracy"] if _isnum(r["device_accuracy"]) else None)),
                         Cell(fmt_bytes(r["peak_rss_bytes"])),
                         Cell(fmt_joules(r["energy_per_inference_j"]))]
            out.append(line)
    return Table(headers, out, table_id=f"model-{model}",
                 caption="★ on the latency/accuracy Pareto front of its device; "
                         "◆ on the size/accuracy front; speedup and size vs fp32, same "
                         "device, format and runtime; ± is half the p50's 99 % confidence interval")


def _ident_cells(r: Any) -> list[Cell]:
    return [Cell(str(r["model"])), Cell(str(r["variant"])), Cell(str(r["format"])),
            Cell(str(r["device"]))]


def _pct_cell(v: Any) -> Cell:
    return Cell(f"{float(v) * 100:.3g} %" if _isnum(v) else "–")


def spread_table(report: ReportData) -> Table:
    """Jobs run in more than one process: pooled p50, within- and between-process spread."""
    rows = report.rows
    out = []
    if "processes" in rows.columns:
        for _, r in rows[rows["is_ok"]].iterrows():
            if not _isnum(r.get("processes")) or float(r["processes"]) <= 1:
                continue
            out.append(_ident_cells(r) + [Cell(str(int(r["processes"]))), Cell(fmt_p50(r)),
                                          _pct_cell(r.get("within_process_rel_mad")),
                                          _pct_cell(r.get("between_process_cv"))])
    return Table(["model", "variant", "format", "device", "processes", "pooled p50",
                  "within (MAD/median)", "between (CV of medians)"], out, table_id="spread")


def sustained_table(report: ReportData) -> Table:
    """Sustained-mode jobs: burst and sustained p50, their ratio, the onset, the flags."""
    rows = report.rows
    out = []
    if "burst_p50_s" in rows.columns:
        for _, r in rows[rows["is_ok"]].iterrows():
            if not _isnum(r.get("burst_p50_s")):
                continue
            block = report.sustained.get(str(r["job_id"])) or {}
            burst, sus = r["burst_p50_s"], r.get("sustained_p50_s")
            ratio = float(sus) / float(burst) if _isnum(sus) and float(burst) else None
            onset = r.get("slowdown_onset_s")
            flags = "; ".join(block.get("throttle_flags") or []) or ("–" if block else "")
            out.append(_ident_cells(r) + [
                Cell(fmt_seconds(burst) + fmt_pm(burst, block.get("burst_p50_ci_low_s"),
                                                  block.get("burst_p50_ci_high_s"))),
                Cell(fmt_seconds(sus) + fmt_pm(sus, block.get("sustained_p50_ci_low_s"),
                                               block.get("sustained_p50_ci_high_s"))),
                Cell(fmt_ratio(ratio), "warn" if ratio and ratio > 1.1 else ""),
                Cell(f"{float(onset):.3g} s" if _isnum(onset) else "never"),
                Cell(flags, "warn" if block.get("throttle_flags") else "")])
    return Table(["model", "variant", "format", "device", "burst p50", "sustained p50",
                  "sustained / burst", "latency +10 % from", "throttling seen"], out,
                 table_id="sustained")


def profile_tables(report: ReportData) -> tuple[Table, Table]:
    """The operator profiles (agent/profile.py): per job, how the profiled inference splits
    into kernels, spans and the rest, and what the profiler cost; per job and op type, the
    kernel time, kernel and span shares, and provider.
    LiteRT jobs: which ops the delegate took (its Python API has no per-op timer)."""
    from edgebench.explain import delegation_text, has_timings

    rows = report.rows
    jobs: list[list[Cell]] = []
    ops: list[list[Cell]] = []
    for _, r in rows[rows["is_ok"]].iterrows():
        prof = report.profiles.get(str(r["job_id"]))
        if not isinstance(prof, dict):
            continue
        ident = _ident_cells(r)
        if "error" in prof:
            jobs.append(ident + [Cell(f"profile failed: {prof['error']}", "bad")] + [Cell("")] * 6)
        elif has_timings(prof):
            jobs.append(ident + [Cell(f"{prof.get('runs')} runs"
                                      + (f" (+{prof['runs_excluded_slow']} slow left out)"
                                         if prof.get("runs_excluded_slow") else "")
                                      + f", {fmt_seconds(prof['inference_mean_s'])}"),
                                 Cell(fmt_seconds(prof.get("kernel_sum_mean_s"))),
                                 _pct_cell(prof.get("kernel_coverage")),
                                 Cell(fmt_seconds(prof.get("outside_kernels_mean_s"))),
                                 _pct_cell(prof.get("span_coverage")),
                                 Cell(f"{prof['profiler_slowdown_p50']:.2f}×"
                                      if prof.get("profiler_slowdown_p50") else "–"),
                                 Cell(fmt_bytes(prof.get("arena_held_bytes")))])
            for t in prof["by_op_type"]:
                ops.append(ident + [Cell(str(t["op_type"])), Cell(str(t.get("nodes"))),
                                    Cell(fmt_seconds(t.get("mean_s"))), _pct_cell(t.get("share")),
                                    _pct_cell(t.get("span_share")),
                                    Cell(", ".join(t.get("providers") or []))])
        else:
            text = delegation_text(prof) or ""
            jobs.append(ident + [Cell(text)] + [Cell("–")] * 6)
    return (Table(["model", "variant", "format", "device", "profiled inference (mean)",
                   "Σ kernels", "kernels / inference", "outside kernels", "spans / inference",
                   "profiler cost (p50)", "runtime arena"], jobs, table_id="profile-jobs"),
            Table(["model", "variant", "format", "device", "op type", "nodes", "kernel / inference",
                   "kernel share", "span share", "ran on"], ops, table_id="profile-ops"))


def compat_table(report: ReportData) -> Table:
    rows = report.rows
    devices = report.devices
    out = []
    for model in report.models:
        sub = rows[rows["model"].eq(model)]
        for variant in variant_order(list(sub["variant"])):
            mine = sub["variant"].eq(variant)
            for fmt, rt in dict.fromkeys(zip(sub.loc[mine, "format"], sub.loc[mine, "runtime_key"], strict=True)):
                label = f"{fmt} on {rt}" if rt and several_runtimes(rows) else str(fmt)
                line = [Cell(model), Cell(variant), Cell(label)]
                for d in devices:
                    r = sub[mine & sub["format"].eq(fmt) & sub["runtime_key"].eq(rt) & sub["device"].eq(d)]
                    if r.empty:
                        line.append(Cell("–"))
                        continue
                    r = r.iloc[-1]
                    reason = r["error"] if isinstance(r["error"], str) and r["error"] else ""
                    if r["is_ok"] and r["is_noop"]:
                        line.append(Cell("⚠ NOOP", "noop"))
                    elif r["is_ok"]:
                        line.append(Cell("ok", "ok"))
                    else:
                        line.append(Cell(f"{r['status']}: {reason}" if reason else str(r["status"]),
                                         "bad" if r["status"] == "failed" else "warn"))
                out.append(line)
    return Table(["model", "variant", "format"] + devices, out, table_id="compat")


def sections(report: ReportData) -> list[Section]:
    """The report, top to bottom: what a reader needs first comes first."""
    meta = report.run_meta
    suite = meta.get("suite") or {}
    counts = meta.get("counts") or {}
    head = Section("Run", "run", paragraphs=[
        f"run {report.run_id} · suite {suite.get('name', '?') if isinstance(suite, dict) else suite}"
        f" · started {meta.get('started_at') or '?'} · finished {meta.get('finished_at') or 'not finished'}"
        f" · ok {counts.get('ok', '?')}, failed {counts.get('failed', '?')}, "
        f"skipped {counts.get('skipped', '?')}"])
    out = [head]
    if report.regressions:
        out.append(Section("Regressions", "regressions", bullets=[
            Cell(r.get("message", str(r)), "bad") for r in report.regressions]))
    noops = [w for w in report.warnings if w.kind == "noop"]
    losses = [w for w in report.warnings if w.kind in ("quality", "slower")]
    others = [w for w in report.warnings if w.kind not in ("noop", "quality", "slower")]
    if noops:
        out.append(Section("⚠ NOOP variants (compressor changed nothing)", "noop",
                           bullets=[Cell(w.message, "noop") for w in noops]))
    if losses:
        out.append(Section("⚠ Worse than fp32 (accuracy beyond the budget, or slower)", "losses",
                           bullets=[Cell(w.message, "bad") for w in losses]))
    rec_rows = []
    for r in report.recommendations:
        rec_rows.append([Cell(r.model), Cell(r.device),
                         Cell(f"{r.variant} ({r.format} on {r.runtime})"
                              if r.variant and r.runtime and several_runtimes(report.rows)
                              else f"{r.variant} ({r.format})" if r.variant else "none",
                              "best" if r.variant else "bad"),
                         Cell(fmt_seconds(r.latency_p50_s)
                              + fmt_pm(r.latency_p50_s, r.latency_p50_ci_low_s, r.latency_p50_ci_high_s)),
                         Cell(fmt_ratio(r.speedup_vs_fp32)),
                         Cell(fmt_ratio(r.size_ratio)),
                         Cell(f"{r.accuracy_change_pts:+.2f}" if r.accuracy_change_pts is not None
                              else "–"), Cell(r.reason)])
    out.append(Section(
        f"Recommendation per device ({report.objective}, accuracy budget "
        f"{report.max_accuracy_drop_pts:g} points)", "recommendations",
        tables=[Table(["model", "device", "ship", "p50", "speedup", "size", "Δ accuracy pts",
                       "why"], rec_rows, table_id="main")]))
    for model in report.models:
        out.append(Section(f"Model {model}", f"m-{model}", tables=[model_table(report, model)],
                           plot_key="model", plot_arg=model))
    spread = spread_table(report)
    if spread.rows:
        out.append(Section("Process-to-process spread", "spread", tables=[spread], paragraphs=[
            "Each job ran in several fresh processes, samples pooled.  Within: the median over "
            "processes of MAD / median; between: the CV of the per-process medians.  A between "
            "CV above the standard error one process's p50 interval implies (its ± / 2.58) "
            "is spread a single process would have hidden (docs/timing.md)."]))
    sustained = sustained_table(report)
    if sustained.rows:
        out.append(Section("Sustained versus burst", "sustained", tables=[sustained],
                           plot_key="sustained", paragraphs=[
                               "Burst: the first bin; sustained: the last minute (the last "
                               "quarter of a shorter run); onset: when a bin's p50 first "
                               "exceeded burst by 10 % and stayed there."]))
    profile_jobs, profile_ops = profile_tables(report)
    if profile_jobs.rows:
        out.append(Section("Operator profile", "profile", tables=[profile_jobs, profile_ops],
                           paragraphs=[
                               "Taken after the timed loop in a separate session with the "
                               "runtime's profiler on, so the headline figures never include "
                               "it; profiled inferences are slower than unprofiled ones.  "
                               "Shares are of the profiled mean inference (ONNX Runtime's "
                               "model_run); 'outside kernels' is the executor's and the "
                               "profiler's own time between kernels.  A node's span is its "
                               "kernel plus the gap before it (from the previous kernel's "
                               "end); spans leave out only the run's work after its last "
                               "kernel.  Profiler cost: profiled / unprofiled call p50 "
                               "(docs/profile.md)."]))
    out += synergy_sections(report) + mcu_sections(report)
    out.append(Section("Compatibility (variant × device)", "compat", tables=[compat_table(report)]))
    env_keys = list(dict.fromkeys(k for info in report.environment.values() for k in info))
    env_devices = list(report.environment)
    out.append(Section("Environment", "environment", tables=[Table(
        ["key"] + env_devices,
        [[Cell(k)] + [Cell("" if report.environment[d].get(k) is None
                           else str(report.environment[d].get(k))) for d in env_devices]
         for k in env_keys], table_id="environment")]))
    out.append(Section("Comparability warnings", "warnings",
                       paragraphs=[] if others else ["none"],
                       bullets=[Cell(w.message, "warn") for w in others]))
    if report.history is not None and not report.history.empty:
        out.append(Section("History (p50 per run)", "history", plot_key="history"))
    return out


def _synergy_cell(m: Any) -> Cell:
    """'5.1× vs 1.4 × 2.6 = 3.6× → 1.42' (ratios) or '-1.0 vs -0.5 + -0.2 = -0.7 → -0.3' (pts)."""
    if m is None or m.measured is None:
        return Cell("–")
    if m.kind == "points":
        text = f"{m.measured:+.2f}"
        if m.expected is not None:
            parts = " + ".join(f"{p:+.2f}" for p in m.parts)
            text += f" vs {parts} = {m.expected:+.2f} → {m.synergy:+.2f} pts"
        return Cell(text, "" if m.synergy is None else ("ok" if m.synergy >= 0 else "warn"))
    text = f"{m.measured:.3g}×"
    if m.expected is not None:
        parts = " × ".join(f"{p:.3g}" for p in m.parts)
        text += f" vs {parts} = {m.expected:.3g}× → synergy {m.synergy:.3g}"
    else:
        text += " (a part not measured)"
    return Cell(text, "" if m.synergy is None else ("ok" if m.synergy >= 1 else "warn"))


def synergy_sections(report: ReportData) -> list[Section]:
    """One table per model per device: every combination's measured gain against the
    product (accuracy: the sum) of its steps' gains alone, same device and runtime."""
    combos = report.combinations
    if not combos:
        return []
    auto = sorted(set(report.rows.loc[report.rows["auto_added"].fillna(False).astype(bool),
                                      "variant"])) if "auto_added" in report.rows else []
    out = []
    for model in report.models:
        for device in report.devices:
            group = [c for c in combos if c.model == model and c.device == device]
            if not group:
                continue
            rows = []
            for c in group:
                parts = ", ".join(f"{label}: {v or 'not built'}"
                                  + (" (auto-added)" if v in auto else "")
                                  for label, v in zip(c.step_names, c.part_variants, strict=False))
                rows.append([Cell(c.variant), Cell(str(c.format)), Cell(c.runtime or "–"),
                             Cell(" → ".join(c.step_names)), Cell(parts)]
                            + [_synergy_cell(c.metrics.get(k))
                               for k in ("size", "latency", "energy", "accuracy")])
            paragraphs = ["Gain = fp32 ÷ variant (size, p50 latency, energy per inference); "
                          "expected = product of each step's gain alone; synergy = measured ÷ "
                          "expected (> 1: the steps help each other).  Accuracy: change in "
                          "points vs fp32, expected = sum of the steps' changes, synergy = "
                          "measured − expected."]
            if auto:
                paragraphs.append("auto-added (built because the suite lacked the step "
                                  f"alone): {', '.join(auto)}")
            out.append(Section(f"Combination synergy: {model} on {device}",
                               f"syn-{model}-{device}", paragraphs=paragraphs, tables=[Table(
                                   ["combination", "format", "runtime", "steps", "each step alone",
                                    "size gain", "speedup", "energy gain", "accuracy Δ pts"],
                                   rows, table_id=f"synergy-{model}-{device}")]))
    return out


def mcu_sections(report: ReportData) -> list[Section]:
    """Flash, weights and tensor-arena estimate of every .tflite variant, and which
    microcontroller budgets it fits (edgebench.compressors.mcu)."""
    rows = report.rows
    if "arena_bytes" not in rows:
        return []
    tfl = rows[rows["format"].eq("tflite") & rows["arena_bytes"].notna()]
    if tfl.empty:
        return []
    out_rows = []
    for model in report.models:
        sub = tfl[tfl["model"].eq(model)]
        for variant in variant_order(list(sub["variant"])):
            r = sub[sub["variant"].eq(variant)].iloc[-1]
            fit = str(r.get("mcu_fit") or "")
            out_rows.append([Cell(model), Cell(variant), Cell(f"{int(r['flash_bytes']):,} B"),
                             Cell(f"{int(r['weights_bytes']):,} B") if _isnum(r["weights_bytes"])
                             else Cell("–"),
                             Cell(f"{int(r['arena_bytes']):,} B"),
                             Cell(fit or "–", "ok" if fit and ": no" not in fit else
                                  ("warn" if fit else ""))])
    return [Section("Microcontroller budgets (.tflite)", "mcu", paragraphs=[
        "flash = the file (TFLite Micro runs it in place); arena = peak of TFLite Micro's "
        "greedy memory plan of the activation tensors (16-byte aligned), without TFLM's "
        "persistent structures and kernel scratch buffers: a lower bound (docs/wearables.md)."],
        tables=[Table(["model", "variant", "flash", "weights", "arena estimate", "fits"],
                      out_rows, table_id="mcu")])]
