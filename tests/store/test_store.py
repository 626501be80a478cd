"""The store on real SQLite files: idempotent ingest, journals, runs, migration."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from edgebench.errors import StoreError, UsageError
from edgebench.results.journal import parse_journal
from edgebench.store import SCHEMA_VERSION, Store
from tests.store.runfactory import RunSpec, make_run


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_ingest_dir_is_idempotent(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec("r1"))
    db = tmp_path / "s.db"
    store = Store(db)
    first = store.ingest_dir(run_dir)
    assert (first.records, first.new, first.replaced, first.truncated) == (16, 16, 0, False)
    second = store.ingest_dir(run_dir)
    assert (second.new, second.replaced) == (0, 16)
    assert _count(db, "jobs") == 16 and _count(db, "samples") == 15  # 1 failed job
    assert _count(db, "runs") == 1 and _count(db, "devices") == 2
    info = store.run("r1")
    assert info.complete and info.counts == {"ok": 15, "failed": 1, "skipped": 0}
    assert info.suite == "nightly" and info.devices == ["rpi4", "jetson-nano"]


def test_ingest_record_twice_stores_once_and_keeps_samples_exact(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec("r1"))
    record = json.loads((run_dir / "results.jsonl").read_text().splitlines()[0])
    meta = {"run_id": "r1", "suite": {"name": "nightly"}, "started_at": "2026-11-20T02:00:00",
            "complete": False}
    store = Store(tmp_path / "s.db")
    assert store.ingest_record(meta, record) is True
    assert store.ingest_record(meta, record) is False
    assert _count(tmp_path / "s.db", "jobs") == 1
    lat = store.samples("r1")[record["job_id"]]
    assert lat.dtype == np.float64
    assert lat.tolist() == record["result"]["timing"]["latencies_s"]  # bit-exact, not rounded
    assert store.run("r1").complete is False
    store.finish_run(dict(meta, complete=True, finished_at="2026-11-20T03:00:00",
                          counts={"ok": 1, "failed": 0, "skipped": 0}))
    assert store.run("r1").complete is True


def test_truncated_last_journal_line_is_reported_not_read(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec("r1"))
    journal = run_dir / "results.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines) + "\n" + lines[3][: len(lines[3]) // 2])  # killed mid-write
    parsed = parse_journal(journal)
    assert parsed.truncated is True
    assert len(parsed.records) == 16
    assert parsed.bad_lines[0][0] == 17 and "truncated" in parsed.bad_lines[0][1]
    counts = Store(tmp_path / "s.db").ingest_dir(run_dir)
    assert counts.truncated and counts.records == 16 and counts.new == 16


def test_corrupt_middle_line_is_not_called_truncation(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec("r1"))
    journal = run_dir / "results.jsonl"
    lines = journal.read_text().splitlines()
    lines[2] = lines[2][:40]
    journal.write_text("\n".join(lines) + "\n")
    parsed = parse_journal(journal)
    assert parsed.truncated is False
    assert [n for n, _ in parsed.bad_lines] == [3] and "corrupt" in parsed.bad_lines[0][1]
    assert len(parsed.records) == 15


def test_runs_and_last_complete_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for spec in (RunSpec("a", started_at="2026-11-20T02:00:00.000+00:00"),
                 RunSpec("b", started_at="2026-11-21T02:00:00.000+00:00", complete=False),
                 RunSpec("c", started_at="2026-11-22T02:00:00.000+00:00"),
                 RunSpec("x", suite="other", started_at="2026-11-23T02:00:00.000+00:00")):
        store.ingest_dir(make_run(tmp_path, spec))
    assert [r.run_id for r in store.runs()] == ["a", "b", "c", "x"]
    assert [r.run_id for r in store.runs("nightly")] == ["a", "b", "c"]
    assert store.last_complete_run("nightly").run_id == "c"
    assert store.last_complete_run("nightly", before="c").run_id == "a"  # b is incomplete
    assert store.last_complete_run("nightly", before="a") is None
    assert store.last_complete_run("other", before="x") is None
    with pytest.raises(UsageError, match="unknown run id 'nope'"):
        store.run("nope")


V0_DDL = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, suite TEXT, started_at TEXT, finished_at TEXT,
                   complete BOOLEAN);
CREATE TABLE jobs (run_id TEXT, job_id TEXT, model TEXT, variant TEXT, device TEXT,
                   format TEXT, status TEXT, error TEXT, latency_p50_s FLOAT,
                   size_bytes INTEGER, fingerprint TEXT, PRIMARY KEY (run_id, job_id));
INSERT INTO runs VALUES ('old', 'nightly', '2026-10-01T02:00:00', '2026-10-01T03:00:00', 1);
INSERT INTO jobs VALUES ('old', 'm.fp32.onnx.rpi4', 'mobilenet_v2', 'fp32', 'rpi4', 'onnx',
                         'ok', NULL, 0.0401234567890123, 14000000, 'feedbeef');
"""


def test_migrates_a_v0_database_forward(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(V0_DDL)
    store = Store(db)
    assert store.schema_version() == SCHEMA_VERSION == 2
    from edgebench import results

    old = results.load(store, run="old")
    assert old.loc[0, "latency_p50_s"] == 0.0401234567890123
    assert old.loc[0, "fingerprint"] == "feedbeef"  # carried into fingerprint_hash
    store.ingest_dir(make_run(tmp_path, RunSpec("new")))
    assert set(results.load(store)["run_id"]) == {"old", "new"}
    assert Store(db).schema_version() == 2  # reopening does not migrate again


def test_migrates_a_v1_database_to_v2_and_keeps_result_blocks(tmp_path: Path) -> None:
    """v1 had no job_blocks: the migration adds it; a re-ingest fills it from the journal."""
    run_dir = make_run(tmp_path, RunSpec("r1"))
    journal = run_dir / "results.jsonl"
    recs = [json.loads(line) for line in journal.read_text().splitlines()]
    ok = [r for r in recs if r["status"] == "ok"]
    ok[0]["result"]["profile"] = {"runtime": "onnxruntime", "inference_mean_s": 3.25e-05,
                                  "by_op_type": [{"op_type": "Conv", "span_mean_s": 3e-05}]}
    ok[1]["result"]["sustained"] = {"bins": [{"p50_s": 0.01}], "verdict": "held"}
    journal.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    db = tmp_path / "s.db"
    Store(db).ingest_dir(run_dir)
    with sqlite3.connect(db) as conn:  # the same file as a v1 edgebench left it
        conn.execute("DROP TABLE job_blocks")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store = Store(db)
    assert store.schema_version() == 2 and _count(db, "job_blocks") == 0
    assert store.job_blocks("r1", "profile") == {}
    store.ingest_dir(run_dir)
    assert store.job_blocks("r1", "profile") == {ok[0]["job_id"]: ok[0]["result"]["profile"]}
    assert store.job_blocks("r1", "sustained") == {ok[1]["job_id"]: ok[1]["result"]["sustained"]}
    assert _count(db, "job_blocks") == 2
    store.ingest_dir(run_dir)  # replaced, never duplicated
    assert _count(db, "job_blocks") == 2


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        Store(db)


def test_bad_url_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Store("nosuchdialect://x/y")
