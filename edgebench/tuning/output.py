"""What a tuning run hands back: per device the winner against fp32, the Pareto front
(objective vs quality) as a table and an SVG, the synergy of combinations, and
``suites/<suite>-tuned.yaml`` with the winners, which ``edgebench run`` takes as is.

Every figure comes from a journaled measurement: the winner's and fp32's from the final
(the suite's full stopping rule); the Pareto front's and synergy's from the first stage
that measured every candidate of the device alike (the first rung, or the final when no
rung was needed), and each row says which stage it is from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml

from edgebench.tuning.space import OBJECTIVES
from edgebench.tuning.strategy import FINAL, GroupResult, Measurement


def fmt_value(objective: str, value: Optional[float]) -> str:
    """An objective's figure in the one unit system (:mod:`edgebench.units`)."""
    from edgebench.units import fmt_bytes, fmt_joules, fmt_seconds

    unit = OBJECTIVES[objective][1]
    show = {"s": fmt_seconds, "B": fmt_bytes, "J": fmt_joules}[unit]
    return show(value, missing="-")


def ratio(base: Optional[Measurement], win: Optional[Measurement]) -> Optional[float]:
    """fp32 / winner (2.0 = twice as good); None where either was not measured."""
    if base is None or win is None or not base.value or not win.value:
        return None
    return base.value / win.value


def winner_rows(results: dict[Any, GroupResult], candidates: list[Any], objective: str
                ) -> list[dict[str, Any]]:
    """One row per (model, device): the winner, its final figure, its gain over fp32."""
    by_name = {(c.model, c.variant, c.format): c for c in candidates}
    rows = []
    for (model, device), res in results.items():
        win = res.final(res.winner) if res.winner else None
        base = res.final(res.baseline) if res.baseline else None
        row: dict[str, Any] = {"model": model, "device": device, "winner": res.winner,
                               "ties": list(res.ties), "baseline": res.baseline,
                               "value": win.value if win else None,
                               "ci": [win.low, win.high] if win else None,
                               "fp32_value": base.value if base else None,
                               "gain_vs_fp32": ratio(base, win)}
        if res.winner:
            variant, _, rest = res.winner.partition("/")
            cand = by_name.get((model, variant, rest.split(":")[0]))
            fp32 = by_name.get((model, "fp32", rest.split(":")[0]))
            row["quality"] = cand.quality if cand else None
            if cand and fp32 and cand.size_bytes and fp32.size_bytes:
                row["size_ratio"] = fp32.size_bytes / cand.size_bytes
        rows.append(row)
    return rows


def first_full_stage(res: GroupResult) -> Optional[str]:
    """The first stage that measured every candidate that reached the device."""
    stages = [stage for hist in res.history.values() for stage, _m in hist]
    return stages[0] if stages else None


def pareto_rows(res: GroupResult, candidates: list[Any], objective: str) -> list[dict[str, Any]]:
    """Each measured candidate's objective (first stage) and quality; front = not dominated."""
    stage = first_full_stage(res)
    quality = {(c.variant, c.format): c for c in candidates if c.model == res.group[0]}
    rows = []
    for key, hist in res.history.items():
        m = next((m for s, m in hist if s == stage), None)
        variant, _, rest = key.partition("/")
        cand = quality.get((variant, rest.split(":")[0]))
        if m is None or m.value is None or cand is None:
            continue
        rows.append({"candidate": key, "stage": stage, "value": m.value,
                     "quality": quality_number(cand.quality), "quality_text": cand.quality})
    for row in rows:
        row["front"] = row["quality"] is not None and not any(
            o is not row and o["quality"] is not None and o["value"] <= row["value"]
            and o["quality"] >= row["quality"]
            and (o["value"] < row["value"] or o["quality"] > row["quality"]) for o in rows)
    return sorted(rows, key=lambda r: r["value"])


def quality_number(text: str) -> Optional[float]:
    """'accuracy -0.56 pts vs fp32' -> -0.56; 'cosine 0.9987 to fp32' -> 0.9987; baseline -> 0."""
    if text == "baseline":
        return 0.0
    for word in text.split():
        try:
            return float(word)
        except ValueError:
            continue
    return None


def pareto_svg(res: GroupResult, rows: list[dict[str, Any]], objective: str) -> str:
    from edgebench.report.svg import scatter

    unit = OBJECTIVES[objective][1]
    scale, label = {"s": (1e3, f"{objective} p50 (ms)"), "B": (1e-3, f"{objective} (kB)")
                    }.get(unit, (1.0, f"{objective} ({unit})"))
    points = [(r["candidate"], r["value"], r["quality"], r["front"]) for r in rows
              if r["quality"] is not None]
    return scatter(f"{res.group[0]} on {res.group[1]}: Pareto front ({rows[0]['stage'] if rows else '-'})",
                   points, x_label=label, y_label="quality change vs fp32", x_scale=scale)


def synergy_lines(records: list[Any]) -> list[str]:
    """Combinations vs the product of their steps alone (report/synergy.py), per device."""
    from edgebench.report.synergy import combinations, rows_from_records

    out = []
    for combo in combinations(rows_from_records(records)):
        out.append(f"{combo.device} {combo.format}:{combo.runtime} {combo.variant}: "
                   f"{combo.text('latency')}")
    return out


def write_tuned_suite(suite: Any, cand_suite: Any, rows: list[dict[str, Any]], devices: list[str],
                      dest: Path) -> Path:
    """The original suite with ``variants:`` = fp32 + each device's winner (in its format),
    on the tuned devices; model paths stay valid wherever the file is written."""
    from edgebench.agent.backends import CLASSIC_RUNTIME
    from edgebench.config import load_suite

    data = yaml.safe_load(Path(suite.path).read_text(encoding="utf-8"))
    data.pop("search", None)
    data["name"] = f"{suite.name}-tuned"
    data["devices"] = devices
    specs = {v.name: v for v in cand_suite.variants}
    winners: dict[str, set[str]] = {}
    runtimes: set[str] = set()
    for row in rows:
        if row.get("winner"):
            variant, _, rest = row["winner"].partition("/")
            fmt, _, runtime = rest.partition(":")
            winners.setdefault(variant, set()).add(fmt)
            runtimes.add(runtime)
    formats = sorted({f for fs in winners.values() for f in fs})
    variants = [{"name": "fp32", "steps": [], "formats": formats}]
    for name, fmts in winners.items():
        if name != "fp32":
            variants.append({"name": name, "steps": specs[name].steps, "formats": sorted(fmts)})
    data["variants"] = variants
    if any(r != CLASSIC_RUNTIME.get(f) for r in runtimes for f in formats if r):
        data["runtimes"] = sorted(runtimes | {CLASSIC_RUNTIME[f] for f in formats})
    if dest.resolve().parent != Path(suite.path).resolve().parent:
        _absolute_paths(data, suite)
    for model in data.get("models") or []:
        if "runtimes" in data:
            model.pop("runtimes", None)
        model["formats"] = [f for f in (model.get("formats") or formats) if f in formats] or formats
    head = "".join(f"# {r['device']}: {r['model']} -> {r.get('winner') or 'no winner'}\n" for r in rows)
    dest.write_text("# written by edgebench tune from " + Path(suite.path).name + "\n" + head
                    + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load_suite(dest)  # it must load as is
    return dest


def default_tuned_path(suite: Any) -> Path:
    """``suites/quickstart.yaml`` -> ``suites/quickstart-tuned.yaml``."""
    path = Path(suite.path)
    return path.with_name(f"{path.stem}-tuned.yaml")


def _absolute_paths(data: dict[str, Any], suite: Any) -> None:
    """Relative model paths resolve against the suite's folder: use the resolved ones."""
    by_name = {m.name: m for m in suite.models}
    for model in data.get("models") or []:
        spec = by_name.get(model.get("name"))
        for key in ("path", "state_dict", "data"):
            if spec is not None and key in model and not (key == "path" and spec.package):
                model[key] = getattr(spec, key)
    if data.get("input_npz"):
        data["input_npz"] = suite.input_npz


def stage_line(res: GroupResult, key: str) -> str:
    hist = res.history.get(key, [])
    return ", ".join(f"{s}={m.value:.4g}" if m.value is not None else f"{s}=failed" for s, m in hist)


__all__ = ["FINAL", "default_tuned_path", "fmt_value", "pareto_rows", "pareto_svg", "stage_line", "synergy_lines",
           "winner_rows", "write_tuned_suite"]
