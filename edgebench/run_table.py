"""The table a person reads at the end of a run (terminal), grouped by model."""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

from .progress import fmt_pm
from .report.synergy import best_combination_lines
from .units import bytes_in, terminal_seconds


def _pct(value: Optional[float]) -> str:
    """Accuracy is stored in percent (points), like its delta."""
    return "-" if value in (None, "") else f"{float(value):.2f}%"


def _fidelity(s: dict) -> str:
    """Agreement with the fp32 variant's outputs: top-1 for classifiers, else cosine."""
    top1, cos = s.get("top1_agreement"), s.get("cosine")
    if top1 not in (None, ""):
        return f"top1 {float(top1) * 100:.1f}%"
    if cos not in (None, ""):
        return f"cos {float(cos):.4f}"
    return "-"


def measurement_warnings(records: list) -> list[str]:
    """Throttling, powersave governors and heat: they silently double latencies."""
    out = []
    seen: set = set()
    for rec in records:
        manifest = rec.artifact.get("manifest") or {}
        key = (rec.model, rec.variant, rec.format)
        if key not in seen:
            seen.add(key)
            for text in manifest.get("warnings") or []:
                out.append(f"{rec.model}/{rec.variant}/{rec.format}: {text}")
        thermal = (rec.result or {}).get("thermal") if rec.status == "ok" else None
        for text in (thermal or {}).get("warnings") or []:
            out.append(f"{rec.job_id}: {text}")
        if (rec.artifact.get("manifest") or {}).get("noop"):
            reason = rec.artifact["manifest"].get("noop_reason") or "nothing changed"
            out.append(f"{rec.job_id}: NOOP variant -- {reason}")
    return out + slower_than_fp32(records)


def slower_than_fp32(records: list) -> list[str]:
    """Compressed variants whose median latency is above fp32's on the same device and
    runtime by more than the noise factor (:mod:`edgebench.quality`): the night a runtime
    upgrade makes int8 slower than fp32 must not pass quietly (it is also real on CPUs
    without int8 dot-product instructions)."""
    from .explain import explain
    from .quality import interval, slowdown

    p50 = {(r.model, r.format, r.device, r.variant): (r.summary or {}).get("latency_p50_s")
           for r in records if r.status == "ok"}
    ci = {(r.model, r.format, r.device, r.variant): interval(
        (r.summary or {}).get("latency_p50_ci_low_s"), (r.summary or {}).get("latency_p50_ci_high_s"))
        for r in records if r.status == "ok"}
    # with benchmark.profile, the op types that account for the slowdown (edgebench.explain)
    profiles = {(r.model, r.format, r.device, r.variant): (r.result or {}).get("profile")
                for r in records if r.status == "ok" and isinstance(r.result, dict)}
    out = []
    for (model, fmt, device, variant), value in sorted(p50.items()):
        base = p50.get((model, fmt, device, "fp32"))
        ratio = None if variant == "fp32" else slowdown(
            value, base, ci=ci.get((model, fmt, device, variant)), fp32_ci=ci.get((model, fmt, device, "fp32")))
        if ratio is not None:
            why = explain(profiles.get((model, fmt, device, variant)),
                          profiles.get((model, fmt, device, "fp32")))
            out.append(f"{model}/{variant}/{fmt}@{device}: SLOWER THAN FP32 -- p50 "
                       f"{terminal_seconds(value)} vs {terminal_seconds(base)} ({ratio:.2f}x)"
                       + (f"; why (operator profile): {why.text()}" if why is not None else ""))
    return out


def _quality_cell(s: dict) -> str:
    """Accuracy where labels exist, else agreement with fp32: one column, so the table fits."""
    acc = s.get("accuracy")
    return _pct(acc) if acc not in (None, "") else _fidelity(s)


def _notes(records: list) -> list[tuple[list[str], str]]:
    """([job, ...], reason) for every job a person must read about (failed, skipped, NOOP);
    jobs with the same reason -- every job of an unreachable device -- share one note."""
    grouped: dict[str, list[str]] = {}
    for rec in records:
        reason = rec.error or ""
        if (rec.summary or {}).get("noop"):
            reason = "NOOP: compression changed nothing" + (f"; {reason}" if reason else "")
        if rec.status != "ok":
            reason = f"{rec.status}: {reason}"
        if rec.status != "ok" or reason:
            grouped.setdefault(reason, []).append(rec.job_id)
    return [(jobs, reason) for reason, jobs in grouped.items()]


def _jobs_text(jobs: list[str]) -> str:
    return jobs[0] if len(jobs) == 1 else f"{len(jobs)} jobs ({', '.join(jobs)})"


_STATUS = {"ok": ("ok", "green"), "failed": ("FAIL", "red"), "skipped": ("SKIP", "yellow")}


def print_run_summary(outcome: Any, stream: TextIO = sys.stdout) -> None:
    """One table per model that fits an 80-column terminal, then every failed, skipped or
    NOOP job's reason in full: squeezed into a table column, the reason was cut to nothing
    on a narrow terminal or in a pipe -- exactly where a nightly log is read."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .textsafe import plain, printable

    console = Console(file=stream, highlight=False)
    records = sorted(outcome.records, key=lambda r: (r.model, r.format, r.variant, r.device))
    devices = sorted({r.device for r in records})
    one_device = len(devices) == 1
    notes = _notes(records)
    ref = {job_id: i for i, (jobs, _) in enumerate(notes, 1) for job_id in jobs}
    console.print(f"run {plain(outcome.run_id)}")
    for model in sorted({r.model for r in records}):
        title = f"{plain(model)}" + (f" on {plain(devices[0])}" if one_device else "")
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      collapse_padding=True, padding=(0, 1))
        mine = [r for r in records if r.model == model]
        # several runtimes for a format: the runtime names the row (each implies its
        # format), in the column the format had, so the table still fits 80 columns
        several = len({(r.format, r.runtime) for r in mine}) > len({r.format for r in mine})
        table.add_column("variant", overflow="fold")
        table.add_column("runtime" if several else "fmt", no_wrap=True)
        if not one_device:
            table.add_column("device", overflow="fold")
        for col in ("status", "p50", "±%", "kB", "RSS MB", "quality"):
            table.add_column(col, justify="left" if col == "status" else "right", no_wrap=True)
        for rec in (r for r in records if r.model == model):
            s = rec.summary or {}
            word, style = _STATUS[rec.status]
            status = Text(word, style=style)
            if rec.job_id in ref:
                status.append(f" [{ref[rec.job_id]}]")
            kind = (rec.runtime or rec.format) if several else rec.format
            cells = [plain(rec.variant), plain(kind)] + ([] if one_device else [plain(rec.device)])
            table.add_row(*cells, status, terminal_seconds(s.get("latency_p50_s")),
                          fmt_pm(s).strip(" ±%") or "-", bytes_in(s.get("size_bytes"), "kB", missing="-"),
                          bytes_in(s.get("peak_rss_bytes"), "MB", missing="-"), _quality_cell(s))
        console.print(table)
    if notes:
        console.print("notes:")
        for i, (jobs, reason) in enumerate(notes, 1):
            console.print(f"  [{i}] {printable(_jobs_text(jobs))}: {printable(reason)}", markup=False,
                          soft_wrap=True)
    counts = outcome.counts
    pushed = ", ".join(f"{plain(d.name)}: {d.bytes_pushed} B" for d in outcome.devices) or "none"
    console.print(f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped; "
                  f"bytes pushed: {pushed}", markup=False)
    for warning in outcome.warnings + measurement_warnings(outcome.records):
        console.print(f"[yellow]warning:[/] {plain(warning)}", soft_wrap=True)
    for line in best_combination_lines(outcome.records):  # edgebench.report.synergy
        console.print(f"[bold]combination:[/] {plain(line)}", soft_wrap=True)
    console.print(f"results: {outcome.run_dir} (summary.csv, report.md, results.jsonl)",
                  markup=False, soft_wrap=True)
