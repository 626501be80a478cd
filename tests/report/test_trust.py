"""Intervals in compare, the recommendation and the worse-than-fp32 rule; the report's
±, spread and sustained sections; context warnings.

Runs come from tests/store/runfactory (seeded lognormal samples); the agent's own
``summarize`` then adds the 99 % interval columns exactly as a real run would, so these
tests see what a store of new results holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from edgebench.agent.stats import summarize
from edgebench.report import report_from_dir
from edgebench.report.compare import compare_runs
from edgebench.report.formats import to_markdown
from edgebench.report.html import report_html
from edgebench.store import Store
from tests.store.runfactory import RunSpec, make_run

SLOW = ("mobilenet_v2", "int8", "rpi4")


def _edit(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    recs = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    for rec in recs:
        change(rec)
    (run_dir / "results.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return run_dir


def with_intervals(rec: dict[str, Any]) -> None:
    """What the agent reports since the intervals: p50/p90 CI columns from the samples."""
    lat = ((rec.get("result") or {}).get("timing") or {}).get("latencies_s")
    if not lat:
        return
    s = summarize(lat)
    for q in (50, 90):
        rec["summary"][f"latency_p{q}_ci_low_s"] = s[f"p{q}_ci_low_s"]
        rec["summary"][f"latency_p{q}_ci_high_s"] = s[f"p{q}_ci_high_s"]


def _runs(tmp_path: Path, b: RunSpec, *, edit_b: Callable[[dict[str, Any]], None] = with_intervals
          ) -> Store:
    store = Store(tmp_path / "s.db")
    a = RunSpec("a", seed=1, started_at="2026-11-20T02:00:00.000+00:00")
    store.ingest_dir(_edit(make_run(tmp_path, a), with_intervals))
    store.ingest_dir(_edit(make_run(tmp_path, b), edit_b))
    return store


def _b(**kw: object) -> RunSpec:
    return RunSpec("b", seed=2, started_at="2026-11-21T02:00:00.000+00:00", **kw)  # type: ignore[arg-type]


def test_identical_runs_are_ties_not_regressions(tmp_path: Path) -> None:
    cmp = compare_runs(_runs(tmp_path, _b()), "a", "b")
    compared = [p for p in cmp.pairs if p.ratio is not None]
    assert len(compared) == 15 and cmp.regressions == [] and cmp.improvements == []
    assert all(p.state == "tie" for p in compared), [(p.ident, p.state) for p in compared]
    assert all(p.ci_a and p.ci_b for p in compared)
    assert "99 % intervals overlap" in compared[0].message()
    assert len(cmp.to_dict()["ties"]) == 15


def test_a_1_5x_slower_job_is_still_caught(tmp_path: Path) -> None:
    cmp = compare_runs(_runs(tmp_path, _b(slow={SLOW: 1.5})), "a", "b")
    assert [(p.model, p.variant, p.device) for p in cmp.regressions] == [SLOW]
    reg = cmp.regressions[0]
    assert reg.ci_b[0] > reg.ci_a[1]  # B's interval lies wholly above A's
    assert reg.test == "mann-whitney" and reg.p_value < 1e-10
    assert len(cmp.ties) == 14


def test_without_samples_the_intervals_are_the_test(tmp_path: Path) -> None:
    def no_samples(rec: dict[str, Any]) -> None:
        with_intervals(rec)
        if rec["result"]:
            rec["result"]["timing"] = {}

    store = Store(tmp_path / "s.db")
    store.ingest_dir(_edit(make_run(tmp_path, RunSpec("a", seed=1)), no_samples))
    store.ingest_dir(_edit(make_run(tmp_path, _b(slow={SLOW: 1.5})), no_samples))
    cmp = compare_runs(store, "a", "b")
    assert [(p.model, p.variant, p.device) for p in cmp.regressions] == [SLOW]
    assert cmp.regressions[0].test == "ci-overlap (99 % order statistics)"


def test_older_results_without_intervals_keep_the_old_rules(tmp_path: Path) -> None:
    cmp = compare_runs(_runs(tmp_path, _b(slow={SLOW: 1.5}), edit_b=lambda rec: None), "a", "b")
    assert [(p.model, p.variant, p.device) for p in cmp.regressions] == [SLOW]
    assert cmp.ties == []  # one side has no interval: no tie can be claimed


def test_a_hot_or_loaded_job_warns_the_comparison(tmp_path: Path, capsys) -> None:
    def hot(rec: dict[str, Any]) -> None:
        with_intervals(rec)
        if rec["job_id"] == "resnet18.fp32.onnx.rpi4":
            rec["summary"].update(started_hot=True, start_temp_c=71.5, foreign_load=True,
                                  foreign_cpu_cores=1.25)

    cmp = compare_runs(_runs(tmp_path, _b(), edit_b=hot), "a", "b")
    warned = cmp.context_warnings
    assert [p.ident for p in warned] == ["resnet18/fp32 (onnx) on rpi4"]
    assert warned[0].context_warning == ("B started hot (71.5 °C), B ran under foreign load "
                                         "(1.25 cores busy)")
    assert "warning: B started hot" in warned[0].message()
    from edgebench.cli import main

    main(["compare", "a", "b", "--store", str(tmp_path / "s.db")])
    out = capsys.readouterr().out
    assert "15 tie(s)" in out and "started hot or under foreign load" in out


# -- report and terminal ----------------------------------------------------------------

def _report_dir(tmp_path: Path, change: Callable[[dict[str, Any]], None] = with_intervals) -> Path:
    return _edit(make_run(tmp_path, RunSpec("r", seed=4)), change)


def test_report_shows_the_precision_and_calls_ties(tmp_path: Path) -> None:
    report = report_from_dir(_report_dir(tmp_path))
    md = to_markdown(report)
    assert " ±" in md and "99 % confidence interval" in md
    # runfactory: pruned50 is 0.8x fp32 and int8 0.45x, never tied; noop fp16 is excluded
    recs = {(r.model, r.device): r for r in report.recommendations}
    assert all(r.tied_with == [] for r in recs.values())
    assert recs[("mobilenet_v2", "rpi4")].latency_p50_ci_low_s is not None


def test_recommendation_names_a_tie(tmp_path: Path) -> None:
    def close(rec: dict[str, Any]) -> None:
        # resnet18 on rpi4: make pruned50's interval overlap int8's (the fastest)
        with_intervals(rec)
        if rec["job_id"] == "resnet18.pruned50.onnx.rpi4":
            fast = next(json.loads(x) for x in (tmp_path / "r" / "results.jsonl")
                        .read_text().splitlines() if json.loads(x)["job_id"] == "resnet18.int8.onnx.rpi4")
            s = summarize(fast["result"]["timing"]["latencies_s"])
            rec["summary"].update(latency_p50_s=s["p50_s"] * 1.001,
                                  latency_p50_ci_low_s=s["p50_ci_low_s"],
                                  latency_p50_ci_high_s=s["p50_ci_high_s"] * 1.002,
                                  accuracy=rec["summary"]["accuracy"] + 5,
                                  accuracy_delta=0.0)

    report = report_from_dir(_report_dir(tmp_path, close))
    rec = next(r for r in report.recommendations if (r.model, r.device) == ("resnet18", "rpi4"))
    assert rec.variant == "int8" and rec.tied_with == ["pruned50 (onnx)"]
    assert "a tie with pruned50 (onnx) (99 % p50 intervals overlap)" in rec.reason


def test_slower_than_fp32_needs_separate_intervals(tmp_path: Path) -> None:
    from edgebench import quality

    assert quality.slowdown(1.2, 1.0) == 1.2
    assert quality.slowdown(1.2, 1.0, ci=(1.1, 1.3), fp32_ci=(0.9, 1.15)) is None  # a tie
    assert quality.slowdown(1.2, 1.0, ci=(1.18, 1.22), fp32_ci=(0.98, 1.02)) == 1.2
    assert quality.intervals_overlap(None, (1, 2)) is None
    assert quality.interval("", 1.0) is None and quality.interval(1, "2") == (1.0, 2.0)


def test_spread_and_sustained_sections(tmp_path: Path) -> None:
    bins = [{"index": i, "t_start_s": i * 10.0, "t_end_s": (i + 1) * 10.0, "count": 100,
             "p50_s": 0.010 if i < 12 else 0.020, "temp_c": 45.0 + i, "min_freq_khz": 1_000_000}
            for i in range(60)]

    def extra(rec: dict[str, Any]) -> None:
        with_intervals(rec)
        if rec["job_id"] == "mobilenet_v2.fp32.onnx.rpi4":
            rec["summary"].update(processes=5, within_process_rel_mad=0.012,
                                  between_process_cv=0.031)
        if rec["job_id"] == "mobilenet_v2.int8.onnx.rpi4":
            rec["summary"].update(mode="sustained", burst_p50_s=0.010, sustained_p50_s=0.020,
                                  slowdown_onset_s=120.0)
            rec["result"]["sustained"] = {
                "bins": bins, "onset_s": 120.0, "throttle_flags": ["policy0 clock fell"],
                "burst_p50_ci_low_s": 0.0099, "burst_p50_ci_high_s": 0.0101}

    run_dir = _report_dir(tmp_path, extra)
    report = report_from_dir(run_dir)
    md = to_markdown(report)
    # rebuilt from the store (report RUN_ID, publish): the same sustained section
    from edgebench.report import report_from_store
    from edgebench.store import Store

    store = Store(tmp_path / "s.db")
    store.ingest_dir(run_dir)
    stored_md = to_markdown(report_from_store(store, run_dir.name))
    section = md[md.index("## Sustained versus burst"):].split("\n## ")[0]
    assert section in stored_md
    assert "## Process-to-process spread" in md
    assert "| mobilenet_v2 | fp32 | onnx | rpi4 | 5 |" in md and "| 1.2 % | 3.1 % |" in md
    assert "## Sustained versus burst" in md
    line = next(x for x in md.splitlines() if x.startswith("| mobilenet_v2 | int8 | onnx | rpi4 | 10 ms"))
    assert "20 ms" in line and "2×" in line and "120 s" in line and "policy0 clock fell" in line
    html = report_html(report)
    assert html.count("p50 and temperature over time") == 2  # <title> and the visible title
    assert "+10 % at 120 s" in html and "hottest zone (°C)" in html


def test_sustained_svg_escapes_and_survives_empty_bins() -> None:
    from edgebench.report import sustained_svg

    svg = sustained_svg.plot("<m>", [])
    assert "&lt;m&gt;" in svg and "no bins" in svg
    one = sustained_svg.plot("x", [{"t_start_s": 0.0, "t_end_s": 1.0, "p50_s": 1e-5, "count": 3,
                                    "temp_c": None, "min_freq_khz": None}])
    assert "µs" in one and "°C" not in one


def test_terminal_line_and_table_cell_carry_the_precision() -> None:
    from edgebench.progress import describe, fmt_pm
    from edgebench.results.record import JobRecord

    summary = {"latency_p50_s": 14.1e-6, "latency_p50_ci_low_s": 14.06e-6,
               "latency_p50_ci_high_s": 14.14e-6, "runs": 5000}
    rec = JobRecord(run_id="r", job_id="m/fp32/onnx@local", model="m", variant="fp32",
                    format="onnx", device="local", status="ok", summary=summary)
    assert describe(rec) == "ok  p50 14.1 µs ±0.28 %  (5000 runs)"
    assert fmt_pm({"latency_p50_s": 1e-3}) == ""
    summary.update(target_precision=0.01, precision_reached=False, processes=5,
                   between_process_cv=0.0123)
    assert describe(rec).endswith("target ±1 % NOT reached (max_duration_s)  5 processes, "
                                  "between-process CV 1.2 %")


def test_report_warns_about_hot_starts_foreign_load_and_missed_precision(tmp_path: Path) -> None:
    def marks(rec: dict[str, Any]) -> None:
        with_intervals(rec)
        if rec["job_id"] == "resnet18.fp32.onnx.rpi4":
            rec["summary"].update(started_hot=True, start_temp_c=63.0, foreign_load=True,
                                  foreign_cpu_cores=0.8, target_precision=0.01,
                                  precision_reached=False)

    report = report_from_dir(_report_dir(tmp_path, marks))
    got = {w.kind: w.message for w in report.warnings
           if w.kind in ("started_hot", "foreign_load", "precision")}
    name = "resnet18/fp32 (onnx) on rpi4"
    assert got == {
        "started_hot": f"{name}: started hot (63.0 °C), above the device's cooldown_below_c",
        "foreign_load": f"{name}: ran under foreign load (other processes used 0.80 cores)",
        "precision": f"{name}: target precision ±1 % not reached before max_duration_s"}
