"""The table a person reads at the end of a run (terminal), grouped by model."""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

from .progress import _fmt_s, fmt_pm


def _mb(value: Optional[float]) -> str:
    return "-" if value in (None, "") else f"{float(value) / 2**20:.1f}"


def _kb(value: Optional[float]) -> str:
    return "-" if value in (None, "") else f"{float(value) / 1024:.1f}"


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
    from .quality import slowdown

    from .quality import interval

    p50 = {(r.model, r.format, r.device, r.variant): (r.summary or {}).get("latency_p50_s")
           for r in records if r.status == "ok"}
    ci = {(r.model, r.format, r.device, r.variant): interval(
        (r.summary or {}).get("latency_p50_ci_low_s"), (r.summary or {}).get("latency_p50_ci_high_s"))
        for r in records if r.status == "ok"}
    out = []
    for (model, fmt, device, variant), value in sorted(p50.items()):
        base = p50.get((model, fmt, device, "fp32"))
        ratio = None if variant == "fp32" else slowdown(
            value, base, ci=ci.get((model, fmt, device, variant)), fp32_ci=ci.get((model, fmt, device, "fp32")))
        if ratio is not None:
            out.append(f"{model}/{variant}/{fmt}@{device}: SLOWER THAN FP32 -- p50 "
                       f"{_fmt_s(value)} vs {_fmt_s(base)} ({ratio:.2f}x)")
    return out


def print_run_summary(outcome: Any, stream: TextIO = sys.stdout) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, width=max(140, Console(file=stream).width))
    table = Table(title=f"run {outcome.run_id}", show_lines=False)
    for col, justify in (("model", "left"), ("variant", "left"), ("format", "left"),
                         ("device", "left"), ("status", "left"), ("p50", "right"),
                         ("mean", "right"), ("runs", "right"), ("size KiB", "right"),
                         ("peak RSS MiB", "right"), ("accuracy", "right"), ("fidelity", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    table.add_column("note", overflow="fold")
    for rec in sorted(outcome.records, key=lambda r: (r.model, r.format, r.variant, r.device)):
        s = rec.summary
        status = {"ok": "[green]ok", "failed": "[red]failed", "skipped": "[yellow]skipped"}[rec.status]
        note = rec.error or ""
        if s.get("noop"):
            note = "[bold yellow]NOOP: compression changed nothing[/] " + note
        table.add_row(rec.model, rec.variant, rec.format, rec.device, status,
                      _fmt_s(s.get("latency_p50_s")) + fmt_pm(s), _fmt_s(s.get("latency_mean_s")),
                      str(s.get("runs") or "-"), _kb(s.get("size_bytes")),
                      _mb(s.get("peak_rss_bytes")), _pct(s.get("accuracy")), _fidelity(s),
                      note[:160])
    console.print(table)
    counts = outcome.counts
    pushed = ", ".join(f"{d.name}: {d.bytes_pushed} B" for d in outcome.devices) or "none"
    console.print(f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped; "
                  f"bytes pushed: {pushed}")
    for warning in outcome.warnings + measurement_warnings(outcome.records):
        console.print(f"[yellow]warning:[/] {warning}", markup=True, highlight=False)
    console.print(f"results: {outcome.run_dir} (summary.csv, report.md, results.jsonl)")
