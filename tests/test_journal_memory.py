"""Reading a run's journal without holding every raw latency at once.

The controller's end of run, the md/html report and the store's ingest each read the
whole journal; at 64 devices x 4 jobs of a fast model that is 38 MB of JSON and 3.4
million latencies, which as Python floats took the controller from ~200 MB to ~620 MB.
These tests pin what the lean reads keep and what they leave to the journal.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from edgebench.results.journal import RunDir, drop_samples, parse_journal
from edgebench.store import Store
from tests.store.runfactory import RunSpec, make_run


def _lines(run_dir: Path) -> list[str]:
    return (run_dir / "results.jsonl").read_text().splitlines()


def test_a_lean_read_drops_only_the_raw_latencies(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec("r1"))
    full = parse_journal(run_dir / "results.jsonl")
    lean = parse_journal(run_dir / "results.jsonl", keep_samples=False)
    assert len(full.records) == len(lean.records) == 16
    assert any((r.get("result") or {}).get("timing", {}).get("latencies_s") for r in full.records)
    for whole, slim in zip(full.records, lean.records, strict=False):
        assert "latencies_s" not in ((slim.get("result") or {}).get("timing") or {})
        assert drop_samples(json.loads(json.dumps(whole))) == slim  # nothing else differs
    records = RunDir(run_dir).read(keep_samples=False).records
    assert [r.summary for r in records] == [r["summary"] for r in full.records]


def test_whole_reads_the_chosen_records_again_with_their_samples(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec("r1"))
    journal = run_dir / "results.jsonl"
    lines = _lines(run_dir)
    retried = json.loads(lines[0])
    retried["result"]["timing"]["latencies_s"] = [0.5, 0.25]  # a resumed job's last attempt
    journal.write_text("\n".join(lines + [json.dumps(retried)]) + "\n" + lines[3][:50])
    lean = parse_journal(journal, keep_samples=False)
    assert lean.truncated and len(lean.records) == 17
    chosen = [lean.records[i] for i in (16, 2, 5)]
    again = list(lean.whole(chosen))
    assert [r["job_id"] for r in again] == [lean.records[i]["job_id"] for i in (2, 5, 16)]  # file order
    assert again[0] == json.loads(lines[2]) and again[1] == json.loads(lines[5])
    assert again[2]["result"]["timing"]["latencies_s"] == [0.5, 0.25]
    assert list(lean.whole([])) == []


def test_ingest_stores_every_sample_of_the_last_attempt_exactly(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, RunSpec("r1"))
    lines = _lines(run_dir)
    retried = json.loads(lines[0])
    retried["result"]["timing"]["latencies_s"] = [0.1 + 1e-17, 0.3]
    (run_dir / "results.jsonl").write_text("\n".join(lines + [json.dumps(retried)]) + "\n")
    counts = Store(tmp_path / "s.db").ingest_dir(run_dir)
    assert (counts.records, counts.new) == (16, 16)
    samples = Store(tmp_path / "s.db").samples("r1")
    assert samples[retried["job_id"]].tolist() == [0.1 + 1e-17, 0.3]
    for line in lines[1:]:
        rec = json.loads(line)
        lat = (rec.get("result") or {}).get("timing", {}).get("latencies_s")
        if lat:
            assert samples[rec["job_id"]].dtype == np.float64
            assert samples[rec["job_id"]].tolist() == lat  # bit-exact
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 16


def test_a_record_as_json_is_asdict_without_the_deep_copy(tmp_path: Path) -> None:
    """``JobRecord.to_dict`` shares the nested values (the journal, the live sink and the
    store only read them) and equals ``dataclasses.asdict`` field for field."""
    import dataclasses

    from edgebench.results.record import JobRecord

    latencies = [float(i) * 1e-6 for i in range(13_000)]
    rec = JobRecord(run_id="r", job_id="j", model="m", variant="fp32", format="onnx", device="d",
                    status="ok", artifact={"sha256": "ab", "manifest": {"params": 3}},
                    result={"timing": {"latencies_s": latencies}}, summary={"p50_s": 1e-6},
                    fingerprint={"cpu": "x"})
    as_json = rec.to_dict()
    assert as_json == dataclasses.asdict(rec)
    assert list(as_json) == [f.name for f in dataclasses.fields(JobRecord)]
    assert as_json["result"]["timing"]["latencies_s"] is latencies  # not copied
    assert JobRecord.from_dict(json.loads(json.dumps(as_json))) == rec
    run_dir = RunDir.create(tmp_path, "20261130T000000Z-x-0000")
    run_dir.append(rec)
    assert json.loads(_lines(run_dir.path)[0]) == dataclasses.asdict(rec)
