"""edgebench.results: the store as pandas, with the measured values untouched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgebench import results
from edgebench.errors import UsageError
from edgebench.store import Store
from tests.store.runfactory import RunSpec, make_run


@pytest.fixture()
def two_runs(tmp_path: Path) -> tuple[Store, list[Path]]:
    store = Store(tmp_path / "s.db")
    dirs = [make_run(tmp_path, RunSpec("r1", seed=1, started_at="2026-11-20T02:00:00.000+00:00")),
            make_run(tmp_path, RunSpec("r2", seed=2, started_at="2026-11-21T02:00:00.000+00:00"))]
    for d in dirs:
        store.ingest_dir(d)
    return store, dirs


def test_load_returns_both_runs_with_exact_values(two_runs) -> None:
    store, dirs = two_runs
    df = results.load(store)
    assert len(df) == 32 and list(dict.fromkeys(df["run_id"])) == ["r1", "r2"]
    assert {"suite", "run_started_at", "run_complete", "latency_p50_s"} <= set(df.columns)
    rec = json.loads((dirs[1] / "results.jsonl").read_text().splitlines()[0])
    row = df[(df["run_id"] == "r2") & (df["job_id"] == rec["job_id"])].iloc[0]
    assert row["latency_p50_s"] == np.percentile(rec["result"]["timing"]["latencies_s"], 50)
    assert row["size_bytes"] == rec["summary"]["size_bytes"]
    assert bool(row["noop"]) == rec["summary"]["noop"]
    assert row["suite"] == "nightly" and bool(row["run_complete"])


def test_load_filters(two_runs) -> None:
    store, _ = two_runs
    assert set(results.load(store, run="r1")["run_id"]) == {"r1"}
    assert len(results.load(store, run=["r1", "r2"])) == 32
    assert set(results.load(store, since="2026-11-21")["run_id"]) == {"r2"}
    assert results.load(store, suite="other").empty
    with pytest.raises(UsageError):
        results.load(store, run="missing")


def test_load_by_url_and_samples(two_runs, tmp_path: Path) -> None:
    store, dirs = two_runs
    df = results.load(str(tmp_path / "s.db"), run="r1")
    assert len(df) == 16
    samples = results.load_samples(store, run="r1")
    assert list(samples.columns) == ["run_id", "job_id", "model", "variant", "format",
                                     "device", "sample", "latency_s"]
    assert len(samples) == 15 * 120
    rec = json.loads((dirs[0] / "results.jsonl").read_text().splitlines()[0])
    got = samples[samples["job_id"] == rec["job_id"]]["latency_s"].tolist()
    assert got == rec["result"]["timing"]["latencies_s"]


def test_frame_from_records_matches_store(two_runs) -> None:
    store, dirs = two_runs
    from edgebench.results.journal import parse_journal, read_run_json

    recs = parse_journal(dirs[0] / "results.jsonl").records
    local = results.frame_from_records(recs, read_run_json(dirs[0]))
    stored = results.load(store, run="r1")
    assert list(local.columns) == list(stored.columns)
    local = local.sort_values("job_id").reset_index(drop=True)
    stored = stored.sort_values("job_id").reset_index(drop=True)
    assert local["latency_p50_s"].equals(stored["latency_p50_s"])
    assert local["fingerprint"].tolist() == stored["fingerprint"].tolist()
