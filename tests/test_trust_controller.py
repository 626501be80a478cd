"""The controller's side of issue 17: suite settings, the job spec and its timeout, the
summary columns, the store gaining them in place, and one real local run end to end."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from edgebench.config import LOCAL_DEVICE, load_suite
from edgebench.errors import ConfigError
from edgebench.results.columns import SUMMARY_COLUMNS
from edgebench.results.record import JobRecord
from edgebench.results.rows import summary_row


def _suite(tmp_path: Path, mlp_onnx: Path, bench: str) -> Path:
    (tmp_path / "mlp.onnx").write_bytes(mlp_onnx.read_bytes())
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nmodels:\n  - name: mlp\n    path: mlp.onnx\nbenchmark: {bench}\n")
    return path


@pytest.mark.parametrize("bench, key", [
    ("{target_precision: 0}", "benchmark.target_precision"),
    ("{target_precision: 1.0}", "benchmark.target_precision"),
    ("{target_precision: '0.01'}", "benchmark.target_precision"),
    ("{processes: 0}", "benchmark.processes"), ("{processes: 51}", "benchmark.processes"),
    ("{processes: 2.5}", "benchmark.processes"), ("{mode: burst}", "benchmark.mode"),
    ("{mode: sustained, duration_s: 5, bin_s: 10}", "benchmark"),
    ("{mode: sustained, processes: 3}", "benchmark"),
    ("{mode: sustained, target_precision: 0.01}", "benchmark"),
])
def test_bad_trust_settings_name_their_key(tmp_path: Path, mlp_onnx: Path, bench: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_suite(_suite(tmp_path, mlp_onnx, bench))
    assert f"{key}:" in info.value.one_line()


def test_settings_reach_the_agent_and_scale_the_timeout(tmp_path: Path, mlp_onnx: Path) -> None:
    from edgebench.agent.schema import JobSpec
    from edgebench.plan import job_spec, job_timeout_s

    suite = load_suite(_suite(tmp_path, mlp_onnx, "{target_precision: 0.01, processes: 5}"))
    art = type("A", (), {"path": tmp_path / "mlp.onnx", "format": "onnx", "model": "mlp"})()
    spec = job_spec(suite, LOCAL_DEVICE, art, "j")
    agent = JobSpec.from_dict(spec).benchmark  # the agent accepts what the controller sends
    assert (agent.target_precision, agent.processes, agent.mode) == (0.01, 5, "fixed")
    assert job_timeout_s(suite, LOCAL_DEVICE) == 5 * LOCAL_DEVICE.job_timeout_s
    sus = load_suite(_suite(tmp_path, mlp_onnx, "{mode: sustained, duration_s: 600, bin_s: 10}"))
    assert JobSpec.from_dict(job_spec(sus, LOCAL_DEVICE, art, "j")).benchmark.duration_s == 600
    assert job_timeout_s(sus, LOCAL_DEVICE) == LOCAL_DEVICE.job_timeout_s + 600


def _record(result: dict) -> JobRecord:
    return JobRecord(run_id="r", job_id="j", model="m", variant="fp32", format="onnx",
                     device="local", status="ok", result=result)


def test_summary_row_carries_the_new_figures() -> None:
    result = {
        "stats": {"count": 100, "p50_s": 1e-3, "p50_ci_low_s": 0.99e-3, "p50_ci_high_s": 1.01e-3,
                  "p90_s": 2e-3, "p90_ci_low_s": 1.9e-3, "p90_ci_high_s": 2.1e-3},
        "timing": {"stop": {"reason": "precision", "target_precision": 0.01, "reached": True}},
        "processes": {"processes": 5, "within_process_rel_mad": 0.011, "between_process_cv": 0.02},
        "sustained": {"burst_p50_s": 1e-3, "sustained_p50_s": 2e-3, "onset_s": 120.0},
        "context": {"temp_start_c": 52.5, "loadavg": [1.5, 1.0, 0.5], "foreign_cpu_cores": 0.7,
                    "started_hot": True, "foreign_load": True},
    }
    row = summary_row(_record(result))
    assert list(row) == list(SUMMARY_COLUMNS)
    assert (row["latency_p50_ci_low_s"], row["latency_p50_ci_high_s"]) == (0.99e-3, 1.01e-3)
    assert (row["latency_p90_ci_low_s"], row["latency_p90_ci_high_s"]) == (1.9e-3, 2.1e-3)
    assert row["target_precision"] == 0.01 and row["precision_reached"] is True
    assert row["processes"] == 5 and row["between_process_cv"] == 0.02
    assert row["within_process_rel_mad"] == 0.011
    assert row["mode"] == "sustained" and row["slowdown_onset_s"] == 120.0
    assert row["burst_p50_s"] == 1e-3 and row["sustained_p50_s"] == 2e-3
    assert row["start_temp_c"] == 52.5 and row["loadavg_1m"] == 1.5
    assert row["started_hot"] is True and row["foreign_load"] is True
    old = summary_row(_record({"stats": {"count": 10, "p50_s": 1e-3}}))  # an older agent
    assert old["latency_p50_ci_low_s"] is None and old["processes"] == 1 and old["mode"] == "fixed"
    assert old["started_hot"] is None and old["target_precision"] is None


def test_an_older_store_gains_the_new_columns(tmp_path: Path) -> None:
    """A v1 store written before the new columns: opening it adds them, rows survive."""
    from edgebench.store import SCHEMA_VERSION, Store

    db = tmp_path / "old.db"
    Store(db).close()
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # what the file looked like before: drop one new column
        conn.execute(sa.text('ALTER TABLE jobs DROP COLUMN "latency_p50_ci_low_s"'))
        conn.execute(sa.text("INSERT INTO jobs (run_id, job_id, latency_p50_s) VALUES ('r', 'j', 0.5)"))
    engine.dispose()
    store = Store(db)
    with store.engine.connect() as conn:
        names = {c["name"] for c in sa.inspect(conn).get_columns("jobs")}
        row = conn.execute(sa.text("SELECT latency_p50_s, latency_p50_ci_low_s FROM jobs")).one()
    assert "latency_p50_ci_low_s" in names and tuple(row) == (0.5, None)
    assert store.schema_version() == SCHEMA_VERSION


def test_local_run_with_target_precision_and_processes(tmp_path: Path, mlp_onnx: Path) -> None:
    from edgebench.run import run_suite

    bench = ("{warmup_runs: 2, warmup_min_s: 0, min_runs: 30, min_duration_s: 0.05, "
             "max_duration_s: 10, target_precision: 0.05, processes: 2}")
    out = run_suite(_suite(tmp_path, mlp_onnx, bench), out_dir=tmp_path / "results",
                    cache_dir=tmp_path / "c")
    assert out.exit_code == 0, [r.error for r in out.records]
    rows = list(csv.DictReader(open(out.run_dir / "summary.csv")))
    row = rows[0]
    assert float(row["latency_p50_ci_low_s"]) <= float(row["latency_p50_s"]) <= float(
        row["latency_p50_ci_high_s"])
    assert row["processes"] == "2" and row["target_precision"] == "0.05"
    assert row["precision_reached"] in ("True", "False") and row["between_process_cv"] != ""
    assert row["mode"] == "fixed" and row["foreign_load"] in ("True", "False")
    assert "Process-to-process spread" in (out.run_dir / "report.md").read_text()
