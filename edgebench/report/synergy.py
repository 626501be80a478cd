"""Combination synergy: does ``prune -> int8`` give more, or less, than its parts promise?

For a variant of two or more steps (a *combination*) on one device and runtime, each
figure's measured gain over fp32 is set against what the steps promise on their own:

* size, latency, energy: gain = fp32 value / variant value (2.0 = half the bytes, twice
  as fast, half the joules); *expected* = the product of each step's gain measured alone
  (the single-step variant with exactly that step, same model, device, format, runtime);
  *synergy* = measured / expected: > 1 the combination does better than independent
  effects would, < 1 the steps overlap (e.g. pruning a model that distillation then
  replaces anyway).
* accuracy: change in points vs fp32; *expected* = the sum of the single steps' changes;
  *synergy* = measured - expected points (negative: the losses compound).

A step matches its single-step variant when both validate to the same parameters with
defaults filled in (``edgebench.compressors.params``), so ``{quantize: {mode: static}}``
and ``{quantize: {mode: static, calibration_samples: 100}}`` are the same step.  A gain
stays None (shown as "–") when either side was not measured -- energy without a meter,
accuracy without labels: nothing is guessed.  Missing single steps are built
automatically by :func:`auto_single_step_variants` (``variants.build_variants``).
Unit tests on hand-made rows: ``tests/report/test_synergy.py``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from edgebench.units import as_number

#: figure -> (row column, kind): 'ratio' gains multiply, 'points' changes add
METRICS: dict[str, tuple[str, str]] = {
    "size": ("size_bytes", "ratio"),
    "latency": ("latency_p50_s", "ratio"),
    "energy": ("energy_per_inference_j", "ratio"),
    "accuracy": ("accuracy_pct", "points"),
}
AUTO_PREFIX = "auto-"  # names of variants added for the single steps a suite lacked


@dataclass
class Row:
    """One measured job, as synergy needs it (units in the field names)."""

    model: str
    variant: str
    device: str
    format: str
    runtime: str
    steps: list[dict[str, Any]]
    size_bytes: Optional[float] = None
    latency_p50_s: Optional[float] = None
    energy_per_inference_j: Optional[float] = None
    accuracy_pct: Optional[float] = None
    auto_added: bool = False


@dataclass
class MetricSynergy:
    """One figure of one combination: measured vs expected, and their ratio (or difference)."""

    metric: str
    kind: str  # 'ratio' | 'points'
    measured: Optional[float]
    parts: list[Optional[float]]  # each step alone, in recipe order
    expected: Optional[float]
    synergy: Optional[float]  # measured / expected, or measured - expected (points)


@dataclass
class Combination:
    model: str
    device: str
    format: str
    runtime: str
    variant: str
    step_names: list[str]
    part_variants: list[Optional[str]]  # the single-step variant used for each step
    metrics: dict[str, MetricSynergy] = field(default_factory=dict)
    accuracy_pct: Optional[float] = None

    def text(self, metric: str) -> str:
        """'prune → int8: 5.1× faster measured vs 1.4 × 2.6 = 3.6× expected → synergy 1.42'."""
        m = self.metrics[metric]
        name = " → ".join(self.step_names)
        if m.measured is None or m.expected is None:
            return f"{name}: {metric} not measured for every part"
        if m.kind == "points":
            parts = " + ".join(f"{p:+.2f}" for p in m.parts if p is not None)
            return (f"{name}: accuracy {m.measured:+.2f} pts measured vs {parts} = "
                    f"{m.expected:+.2f} pts expected → synergy {m.synergy:+.2f} pts")
        word = {"size": "smaller", "latency": "faster", "energy": "less energy"}[metric]
        parts = " × ".join(f"{p:.3g}" for p in m.parts if p is not None)
        return (f"{name}: {m.measured:.3g}× {word} measured vs {parts} = {m.expected:.3g}× "
                f"expected → synergy {m.synergy:.3g}")



def normalize_step(step: dict[str, Any]) -> str:
    """A step as canonical JSON with its defaults filled in (unknown steps kept as written)."""
    (name, params), = step.items()
    params = dict(params or {})
    try:
        from edgebench.compressors.params import STEP_PARAMS

        params = STEP_PARAMS[name](**params).model_dump()
    except Exception:  # noqa: BLE001 - an invalid step only matches itself
        pass
    return json.dumps({name: params}, sort_keys=True, default=str)


def step_label(step: dict[str, Any]) -> str:
    """Short name of a step for tables: 'int8' for static quantization, else the step name."""
    (name, params), = step.items()
    if name == "quantize":
        mode = (params or {}).get("mode", "dynamic")
        return {"static": "int8", "dynamic": "int8-dyn", "fp16": "fp16",
                "int16x8": "int16x8"}.get(mode, f"quantize-{mode}")
    return name


def gain(kind: str, baseline: Optional[float], value: Optional[float]) -> Optional[float]:
    """fp32 / variant for ratios (bigger = better), variant - fp32 for points."""
    if baseline is None or value is None:
        return None
    if kind == "points":
        return value - baseline
    if value <= 0 or baseline <= 0:
        return None
    return baseline / value


def combinations(rows: Iterable[Row]) -> list[Combination]:
    """Every combination row with its measured, expected and synergy figures."""
    groups: dict[tuple[str, str, str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.model, r.device, r.format, r.runtime), []).append(r)
    out: list[Combination] = []
    for (model, device, fmt, runtime), group in groups.items():
        base = _baseline(group)
        if base is None:
            continue
        singles: dict[str, Row] = {}
        for r in group:
            if len(r.steps) == 1:
                key = normalize_step(r.steps[0])
                if key not in singles or (singles[key].auto_added and not r.auto_added):
                    singles[key] = r  # a suite's own single-step variant wins over an auto one
        for r in group:
            if len(r.steps) < 2:
                continue
            parts = [singles.get(normalize_step(s)) for s in r.steps]
            combo = Combination(model, device, fmt, runtime, r.variant,
                                [step_label(s) for s in r.steps],
                                [p.variant if p else None for p in parts],
                                accuracy_pct=r.accuracy_pct)
            for metric, (column, kind) in METRICS.items():
                b = getattr(base, column)
                measured = gain(kind, b, getattr(r, column))
                part_gains = [gain(kind, b, getattr(p, column)) if p else None for p in parts]
                expected = synergy = None
                known = [g for g in part_gains if g is not None]
                if len(known) == len(part_gains):
                    expected = sum(known) if kind == "points" else math.prod(known)
                if measured is not None and expected is not None:
                    synergy = (measured - expected if kind == "points"
                               else (measured / expected if expected else None))
                combo.metrics[metric] = MetricSynergy(metric, kind, measured, part_gains,
                                                      expected, synergy)
            out.append(combo)
    return out


def _baseline(group: Sequence[Row]) -> Optional[Row]:
    empty = [r for r in group if not r.steps]
    named = [r for r in empty if r.variant == "fp32"]
    return (named or empty)[0] if named or empty else None


def best_combination(combos: Sequence[Combination], *, max_accuracy_drop_pts: float
                     ) -> Optional[Combination]:
    """The fastest combination (largest measured latency gain; ties: smaller file) whose
    accuracy change is known and within the budget -- or, for models without labels,
    any measured one.  None when no combination qualifies."""
    def eligible(c: Combination) -> bool:
        lat = c.metrics.get("latency")
        acc = c.metrics.get("accuracy")
        if lat is None or lat.measured is None:
            return False
        if acc is not None and acc.measured is not None:
            return acc.measured >= -max_accuracy_drop_pts
        return c.accuracy_pct is None
    pool = [c for c in combos if eligible(c)]
    if not pool:
        return None
    return max(pool, key=lambda c: (c.metrics["latency"].measured,
                                    c.metrics["size"].measured or 0.0, c.variant))


# --- adapters: the report's DataFrame rows and the run's job records -----------------------

def _steps(recipe: Any) -> Optional[list[dict[str, Any]]]:
    """The recipe column as a list of one-key step mappings; None for anything else
    (not recorded, or written by a tool that records recipes differently)."""
    value = recipe
    if isinstance(recipe, str):
        try:
            value = json.loads(recipe) if recipe.strip() else None
        except ValueError:
            return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(s, dict) and len(s) == 1 for s in value):
        return None
    return value


def rows_from_frame(frame: Any) -> list[Row]:
    """:class:`Row`s from report rows (``tables.derive`` columns; ok jobs only)."""
    out: list[Row] = []
    for _, r in frame.iterrows():
        steps = _steps(r.get("recipe"))
        if not bool(r.get("is_ok", r.get("status") == "ok")) or steps is None:
            continue
        out.append(Row(str(r["model"]), str(r["variant"]), str(r["device"]), str(r["format"]),
                       str(r.get("runtime") or ""), steps, as_number(r.get("size_bytes")),
                       as_number(r.get("latency_p50_s")), as_number(r.get("energy_per_inference_j")),
                       as_number(r.get("accuracy_eff", r.get("accuracy"))),
                       bool(r.get("auto_added") is True or str(r.get("auto_added")) == "True")))
    return out


def rows_from_records(records: Iterable[Any]) -> list[Row]:
    """:class:`Row`s from the run's :class:`~edgebench.results.record.JobRecord`s (ok jobs only);
    accuracy is the device's own when it measured one, as in the report."""
    out: list[Row] = []
    for rec in records:
        s = rec.summary or {}
        steps = _steps(s.get("recipe"))
        if rec.status != "ok" or steps is None:
            continue
        acc = as_number(s.get("device_accuracy"))
        out.append(Row(rec.model, rec.variant, rec.device, rec.format, str(s.get("runtime") or ""),
                       steps, as_number(s.get("size_bytes")), as_number(s.get("latency_p50_s")),
                       as_number(s.get("energy_per_inference_j")),
                       acc if acc is not None else as_number(s.get("accuracy")),
                       bool(s.get("auto_added"))))
    return out


def best_combination_lines(records: Iterable[Any], *, max_accuracy_drop_pts: Optional[float] = None
                           ) -> list[str]:
    """One line per (model, device, format) naming the best combination, for the terminal."""
    from edgebench.quality import MAX_ACCURACY_DROP_PTS

    budget = MAX_ACCURACY_DROP_PTS if max_accuracy_drop_pts is None else max_accuracy_drop_pts
    combos = combinations(rows_from_records(records))
    lines = []
    keys = list(dict.fromkeys((c.model, c.device, c.format) for c in combos))
    for model, device, fmt in keys:
        group = [c for c in combos if (c.model, c.device, c.format) == (model, device, fmt)]
        best = best_combination(group, max_accuracy_drop_pts=budget)
        if best is None:
            lines.append(f"{model} ({fmt}) on {device}: no combination within "
                         f"{budget:g} accuracy points of fp32")
            continue
        line = f"{model} ({fmt}) on {device}: best combination {best.variant} -- {best.text('latency')}"
        size = best.metrics["size"]
        if size.measured is not None:
            line += f"; {size.measured:.3g}× smaller"
            if size.synergy is not None:
                line += f" (size synergy {size.synergy:.3g})"
        lines.append(line)
    return lines


# --- auto-added single steps --------------------------------------------------------------

def auto_single_step_variants(variants: Sequence[Any]) -> list[Any]:
    """Single-step variants the combinations need and the suite lacks, named
    ``auto-<step>`` (``auto-<step>-2``... when one step appears with other parameters),
    restricted to the formats of the combinations that need them."""
    from edgebench.recipes import Format, VariantSpec

    have = {normalize_step(v.steps[0]) for v in variants if len(v.steps) == 1 and not v.formats}
    have_fmt = {(normalize_step(v.steps[0]), f) for v in variants if len(v.steps) == 1
                for f in (v.formats or ())}
    names = {v.name for v in variants}
    needed: dict[str, tuple[dict[str, Any], set[Format] | None]] = {}
    for v in variants:
        if len(v.steps) < 2:
            continue
        for step in v.steps:
            key = normalize_step(step)
            if key in have:
                continue
            formats = set(v.formats) if v.formats else None
            if formats is not None and all((key, f) in have_fmt for f in formats):
                continue
            if key in needed:  # needed by several combinations: all their formats
                prev = needed[key][1]
                formats = None if prev is None or formats is None else prev | formats
            needed[key] = (step, formats)
    out = []
    for step, formats in needed.values():
        base = f"{AUTO_PREFIX}{step_label(step)}"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        out.append(VariantSpec(name=name, steps=[step],
                               formats=sorted(formats) if formats else None))
    return out
