"""The end of a tuning run: the run's own bookkeeping (summary.csv, run.json, report.md --
as ``edgebench run`` writes them, so ``report``, ``compare`` and the store read a tuning
run like any other) and the tuning outputs (tune.md, tune.json, pareto-*.svg, the tuned
suite), then the summary lines the CLI prints."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from edgebench.results.journal import RunDir, write_atomic
from edgebench.results.record import utc_now
from edgebench.tuning.output import (
    default_tuned_path,
    fmt_value,
    pareto_rows,
    pareto_svg,
    synergy_lines,
    winner_rows,
    write_tuned_suite,
)
from edgebench.tuning.session import Candidate, FleetMeasure, Ledger, TuneOutcome
from edgebench.tuning.strategy import FINAL, GroupResult


def exhaustive_estimate_s(results: dict[Any, GroupResult], ledger: Ledger,
                          exhaustive: dict[Any, dict[str, Any]]) -> float:
    """Every built candidate measured with the full rule, from what was measured: per
    candidate its first-stage job seconds (the stage's median where it was not measured)
    plus what a full measurement cost over that on the candidates measured both ways (same
    runtime where there is one), plus each device's one inventory."""
    total = sum(ledger.inventory_s.values())
    for group, jobs in exhaustive.items():
        res = results.get(group)
        if res is None:
            continue
        first = {k: h[0][1].device_s for k, h in res.history.items() if h and h[0][0] != FINAL}
        finals = {k: m.device_s for k in res.history if (m := res.final(k)) is not None}
        if not first:  # no rung was needed: the measured candidates had the full rule
            total += len(jobs) * statistics.median(finals.values()) if finals else 0.0
            continue
        extra = {k: finals[k] - first[k] for k in finals if k in first}
        typical = statistics.median(first.values())
        for key in jobs:
            runtime = key.partition(":")[2]
            same = [v for k, v in extra.items() if k.partition(":")[2] == runtime] or list(extra.values())
            total += first.get(key, typical) + (statistics.median(same) if same else 0.0)
    return total


def finish(suite: Any, cand_suite: Any, devices: list[Any], run_dir: RunDir,
           meta: dict[str, Any], objective: str, budgets: dict[str, Any],
           candidates: list[Candidate], results: dict[Any, GroupResult], measure: FleetMeasure,
           exhaustive: dict[Any, dict[str, Any]], tuned_suite: "str | Path | None",
           say: Any) -> TuneOutcome:
    from edgebench.child import write_run_report
    from edgebench.results.rows import summary_csv

    finals = measure.records.get(FINAL, [])
    write_atomic(run_dir.path / "summary.csv", summary_csv(r.summary for r in finals))
    counts = {s: sum(r.status == s for r in finals) for s in ("ok", "failed", "skipped")}
    rows = winner_rows(results, candidates, objective)
    exit_code = 0 if rows and all(r["winner"] for r in rows) else 1
    estimate = exhaustive_estimate_s(results, measure.ledger, exhaustive)
    dest = Path(tuned_suite) if tuned_suite else default_tuned_path(suite)
    tuned = (write_tuned_suite(suite, cand_suite, rows, [d.name for d in devices], dest)
             if any(r["winner"] for r in rows) else None)
    outcome = TuneOutcome(meta["run_id"], run_dir.path, exit_code, objective,
                          {m: b.text() for m, b in budgets.items()}, candidates, results,
                          measure.ledger, estimate, rows, tuned, finals)
    outcome.lines = summary_lines(outcome)
    _write_pareto(run_dir.path, results, candidates, objective)
    synergy = synergy_lines(_first_stage_records(measure))
    write_atomic(run_dir.path / "tune.json", json.dumps(_payload(outcome, synergy), indent=1,
                                                        default=str) + "\n")
    write_atomic(run_dir.path / "tune.md", tune_markdown(outcome, synergy))
    meta.update(finished_at=utc_now(), complete=True, counts=counts, jobs_planned=len(finals),
                interrupted=False, tune=_payload(outcome, synergy)["device_seconds"])
    run_dir.write_run_json(meta)
    if finals:
        write_run_report(run_dir.path)
        _extend_report(run_dir.path, outcome, synergy)
    say(f"tune {meta['run_id']} done")
    return outcome


def _extend_report(run_dir: Path, outcome: TuneOutcome, synergy: list[str]) -> None:
    """The run's report.md and report.html get the tuning's own section: winners, device
    time, each device's Pareto front (table and SVG) and the synergy lines."""
    from html import escape

    md = tune_markdown(outcome, synergy).split("\n", 1)[1]
    path = run_dir / "report.md"
    if path.exists():
        write_atomic(path, path.read_text(encoding="utf-8") + "\n# Tuning\n" + md)
    path = run_dir / "report.html"
    if not path.exists():
        return
    parts = ['<h2 id="tuning">Tuning</h2><ul>']
    parts += [f"<li>{escape(line)}</li>" for line in outcome.lines]
    parts.append("</ul>")
    for (model, device), res in outcome.results.items():
        svg = run_dir / f"pareto-{_safe(model)}-{_safe(device)}.svg"
        parts.append(f"<h3>{escape(model)} on {escape(device)}: Pareto front</h3>")
        if svg.exists():
            parts.append(svg.read_text(encoding="utf-8"))
        rows = pareto_rows(res, outcome.candidates, outcome.objective)
        parts.append("<table><thead><tr><th>candidate</th><th>stage</th><th>"
                     f"{escape(outcome.objective)}</th><th>quality</th><th>front</th></tr></thead><tbody>")
        parts += [f"<tr><td>{escape(r['candidate'])}</td><td>{escape(str(r['stage']))}</td><td>"
                  f"{escape(fmt_value(outcome.objective, r['value']))}</td><td>"
                  f"{escape(r['quality_text'])}</td><td>{'yes' if r['front'] else ''}</td></tr>"
                  for r in rows]
        parts.append("</tbody></table>")
    parts.append("<h3>Synergy of combinations</h3><ul>")
    parts += [f"<li>{escape(line)}</li>" for line in synergy] or ["<li>none measured</li>"]
    parts.append("</ul>")
    html = path.read_text(encoding="utf-8")
    cut = html.rfind("</body>")
    cut = cut if cut >= 0 else len(html)
    write_atomic(path, html[:cut] + "".join(parts) + html[cut:])


def _first_stage_records(measure: FleetMeasure) -> list[Any]:
    """Synergy needs every part measured alike: the first stage that ran."""
    for stage in list(measure.rungs) + [FINAL]:
        if measure.records.get(stage):
            return measure.records[stage]
    return []


def _write_pareto(run_dir: Path, results: dict[Any, GroupResult], candidates: list[Candidate],
                  objective: str) -> None:
    for (model, device), res in results.items():
        rows = pareto_rows(res, candidates, objective)
        name = f"pareto-{_safe(model)}-{_safe(device)}.svg"
        write_atomic(run_dir / name, pareto_svg(res, rows, objective))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]


def summary_lines(outcome: TuneOutcome) -> list[str]:
    """Per device the winner against fp32 (and its ties), then what the tuning cost."""
    from edgebench.units import fmt_ratio

    lines = []
    for row in outcome.winners:
        where = f"{row['model']} on {row['device']}"
        if not row["winner"]:
            lines.append(f"{where}: no winner (every candidate failed or was over the budget)")
            continue
        text = f"{where}: {row['winner']} {fmt_value(outcome.objective, row['value'])}"
        if row["gain_vs_fp32"]:
            text += f", {fmt_ratio(row['gain_vs_fp32'])} better than {row['baseline']}"
        if row.get("size_ratio"):
            text += f", {fmt_ratio(row['size_ratio'])} smaller"
        if row.get("quality"):
            text += f", {row['quality']}"
        if row["ties"]:
            text += f"; TIED with {', '.join(row['ties'])} (intervals overlap)"
        lines.append(text)
    led = outcome.ledger
    stages = ", ".join(f"{s} {led.by_stage[s]:.1f} s ({led.jobs_by_stage.get(s, 0)} jobs)"
                       for s in led.by_stage)
    saved = outcome.exhaustive_estimate_s - led.total_s
    lines.append(f"device time: {led.total_s:.1f} device-s ({stages}); exhaustive estimate "
                 f"{outcome.exhaustive_estimate_s:.1f} device-s, saved {saved:.1f}")
    if outcome.tuned_suite:
        lines.append(f"tuned suite: {outcome.tuned_suite}")
    lines.append(f"details: {outcome.run_dir / 'tune.md'}")
    return lines


def _payload(outcome: TuneOutcome, synergy: list[str]) -> dict[str, Any]:
    led = outcome.ledger
    groups = {}
    for (model, device), res in outcome.results.items():
        groups[f"{model}@{device}"] = {
            "winner": res.winner, "ties": res.ties, "finalists": res.finalists, "cut": res.cut,
            "baseline": res.baseline, "dropped": res.dropped,
            "history": {k: [{"stage": s, "value": m.value, "low": m.low, "high": m.high,
                             "error": m.error, "device_s": m.device_s} for s, m in h]
                        for k, h in res.history.items()}}
    return {"run_id": outcome.run_id, "objective": outcome.objective, "budgets": outcome.budgets,
            "winners": outcome.winners, "groups": groups, "synergy": synergy,
            "candidates": [vars(c) for c in outcome.candidates],
            "tuned_suite": str(outcome.tuned_suite) if outcome.tuned_suite else None,
            "device_seconds": {"total": led.total_s, "by_stage": led.by_stage,
                               "by_device": led.by_device, "jobs_by_stage": led.jobs_by_stage,
                               "exhaustive_estimate": outcome.exhaustive_estimate_s}}


def tune_markdown(outcome: TuneOutcome, synergy: list[str]) -> str:
    out = [f"# Tuning run {outcome.run_id}", "",
           f"objective: {outcome.objective}; budget: "
           + ", ".join(f"{m} {b}" for m, b in outcome.budgets.items()), "", "## Winners", ""]
    out += [f"- {line}" for line in outcome.lines]
    out += ["", "## Candidates", "", "| model | variant | format | status | quality | why |",
            "|---|---|---|---|---|---|"]
    out += [f"| {c.model} | {c.variant} | {c.format} | {c.status} | {c.quality} | {c.reason} |"
            for c in outcome.candidates]
    for (model, device), res in outcome.results.items():
        out += ["", f"## {model} on {device}", "",
                f"![Pareto front](pareto-{_safe(model)}-{_safe(device)}.svg)", "",
                "| candidate | stage | " + outcome.objective + " | quality | Pareto front | fate |",
                "|---|---|---|---|---|---|"]
        for row in pareto_rows(res, outcome.candidates, outcome.objective):
            fate = _fate(res, row["candidate"])
            out.append(f"| {row['candidate']} | {row['stage']} | "
                       f"{fmt_value(outcome.objective, row['value'])} | {row['quality_text']} | "
                       f"{'yes' if row['front'] else ''} | {fate} |")
    out += ["", "## Synergy of combinations (first stage, every part measured alike)", ""]
    out += [f"- {line}" for line in synergy] or ["- no combination measured"]
    return "\n".join(out) + "\n"


def _fate(res: GroupResult, key: str) -> str:
    if key == res.winner:
        return "winner"
    if key in res.ties:
        return "tied with the winner"
    return res.dropped.get(key, "finalist" if key in res.finalists else "")


__all__ = ["exhaustive_estimate_s", "finish", "summary_lines", "tune_markdown"]
