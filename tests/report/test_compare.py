"""compare: a change is reported only when it is larger than the factor and significant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgebench.report.compare import compare_runs, mann_whitney_p
from edgebench.store import Store
from tests.store.runfactory import RunSpec, make_run

SLOW = ("mobilenet_v2", "int8", "rpi4")


def _store(tmp_path: Path, *specs: RunSpec) -> Store:
    store = Store(tmp_path / "s.db")
    for spec in specs:
        store.ingest_dir(make_run(tmp_path, spec))
    return store


def _base(**kw: object) -> RunSpec:
    return RunSpec("a", seed=1, started_at="2026-11-20T02:00:00.000+00:00", **kw)  # type: ignore[arg-type]


def _new(**kw: object) -> RunSpec:
    return RunSpec("b", seed=2, started_at="2026-11-21T02:00:00.000+00:00", **kw)  # type: ignore[arg-type]


def test_slower_variant_is_the_only_regression(tmp_path: Path) -> None:
    cmp = compare_runs(_store(tmp_path, _base(), _new(slow={SLOW: 1.5})), "a", "b")
    assert [(p.model, p.variant, p.device) for p in cmp.regressions] == [SLOW]
    reg = cmp.regressions[0]
    assert reg.ratio == pytest.approx(1.5, rel=0.05) and reg.p_value < 1e-10
    assert reg.test == "mann-whitney" and reg.value_b_s > reg.value_a_s
    assert not cmp.improvements and not cmp.incomparable


def test_noise_is_not_a_regression(tmp_path: Path) -> None:
    cmp = compare_runs(_store(tmp_path, _base(), _new()), "a", "b")
    assert cmp.regressions == [] and cmp.improvements == []
    ratios = [p.ratio for p in cmp.pairs if p.ratio is not None]
    assert len(ratios) == 15 and all(0.95 < r < 1.05 for r in ratios)


def test_small_but_significant_shift_below_factor_is_not_reported(tmp_path: Path) -> None:
    cmp = compare_runs(_store(tmp_path, _base(), _new(slow={SLOW: 1.05})), "a", "b")
    pair = next(p for p in cmp.pairs if (p.model, p.variant, p.device) == SLOW)
    assert pair.significant and pair.state == "unchanged"
    assert compare_runs(tmp_path / "s.db", "a", "b", factor=1.02).regressions[0].variant == "int8"


def test_improvement(tmp_path: Path) -> None:
    cmp = compare_runs(_store(tmp_path, _base(), _new(slow={SLOW: 0.5})), "a", "b")
    assert [(p.model, p.variant, p.device, p.state) for p in cmp.improvements] == [
        (*SLOW, "improvement")]


def test_different_fingerprints_are_listed_not_compared(tmp_path: Path) -> None:
    store = _store(tmp_path, _base(), _new(slow={SLOW: 1.5},
                                           fingerprint_extra={"rpi4": {"threads": 4}}))
    cmp = compare_runs(store, "a", "b")
    assert cmp.regressions == []
    assert len(cmp.incomparable) == 8 and all(p.device == "rpi4" for p in cmp.incomparable)
    assert cmp.incomparable[0].fingerprint_diff == "threads: 1 | 4"
    forced = compare_runs(store, "a", "b", force=True)
    assert [(p.model, p.variant, p.device) for p in forced.regressions] == [SLOW]
    assert "forced across environments" in forced.regressions[0].note


def test_ci_overlap_fallback_without_samples(tmp_path: Path) -> None:
    a, b = make_run(tmp_path, _base()), make_run(tmp_path, _new(slow={SLOW: 1.5}))
    store = Store(tmp_path / "s.db")
    for run_dir in (a, b):  # an older agent that kept no raw samples
        lines = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
        for rec in lines:
            if rec["result"]:
                rec["result"]["timing"] = {}
        (run_dir / "results.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
        store.ingest_dir(run_dir)
    cmp = compare_runs(store, "a", "b")
    assert [(p.model, p.variant, p.device) for p in cmp.regressions] == [SLOW]
    assert cmp.regressions[0].test == "ci-overlap"
    assert all(p.test == "ci-overlap" for p in cmp.pairs if p.ratio is not None)


def test_broken_fixed_and_accuracy_changes(tmp_path: Path) -> None:
    a = make_run(tmp_path, _base())
    b = make_run(tmp_path, _new(failed={("resnet18", "int8", "rpi4"): "timeout: 600 s"}))
    lines = [json.loads(x) for x in (b / "results.jsonl").read_text().splitlines()]
    for rec in lines:  # a compressor change that costs 2.5 points on one job
        if rec["job_id"] == "mobilenet_v2.pruned50.onnx.jetson-nano":
            rec["summary"]["accuracy"] -= 2.5  # percent
    (b / "results.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    store = Store(tmp_path / "s.db")
    store.ingest_dir(a)
    store.ingest_dir(b)
    cmp = compare_runs(store, "a", "b")
    regs = {(p.model, p.variant, p.device): p for p in cmp.regressions}
    assert set(regs) == {("resnet18", "int8", "rpi4"), ("mobilenet_v2", "pruned50", "jetson-nano")}
    assert regs[("resnet18", "int8", "rpi4")].state == "broken"
    assert "timeout: 600 s" in regs[("resnet18", "int8", "rpi4")].message()
    acc = regs[("mobilenet_v2", "pruned50", "jetson-nano")]
    assert acc.accuracy_state == "regression" and acc.accuracy_change_pts == pytest.approx(-2.5)
    # failed in a (default fixture), ok in b: reported as fixed, not as a regression
    fixed = [(p.model, p.variant, p.device) for p in cmp.improvements if p.state == "fixed"]
    assert fixed == [("resnet18", "int8", "jetson-nano")]


def test_mann_whitney_matches_scipy() -> None:
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(3)
    for shift in (0.0, 0.01, 0.05):
        a, b = rng.lognormal(0, 0.04, 150), rng.lognormal(shift, 0.04, 90)
        assert mann_whitney_p(a, b) == pytest.approx(mannwhitneyu(a, b).pvalue, rel=1e-9)
    a, b = np.round(a, 2), np.round(b, 2)  # heavy ties
    assert mann_whitney_p(a, b) == pytest.approx(mannwhitneyu(a, b).pvalue, rel=1e-9)


def test_compare_command_prints_table(tmp_path: Path, capsys) -> None:
    from edgebench.cli import main

    _store(tmp_path, _base(), _new(slow={SLOW: 1.5}))
    rc = main(["compare", "a", "b", "--store", str(tmp_path / "s.db")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "b vs baseline a" in out and "regression" in out
    for variant in ("fp32", "int8", "pruned50", "fp16"):
        assert variant in out
    assert "1 regression(s)" in out
    assert main(["compare", "a", "zzz", "--store", str(tmp_path / "s.db")]) == 2
    capsys.readouterr()
    assert main(["compare", "a", "a", "--store", str(tmp_path / "s.db"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["regressions"] == [] and len(data["pairs"]) == 16
