"""The CLI's live store ingest under the fleet's concurrency (devices finish jobs at once)."""

from __future__ import annotations

import threading
from pathlib import Path

from edgebench.commands.run import StoreSink
from edgebench.record import JobRecord
from tests.reliability.helpers import store_jobs


def test_concurrent_first_records_all_reach_a_fresh_store(tmp_path: Path) -> None:
    warnings: list[str] = []
    sink = StoreSink(None, tmp_path, warnings.append)
    meta = {"schema_version": 1, "run_id": "r1", "started_at": "2026-01-01T00:00:00+00:00",
            "suite": {"name": "s"}, "devices": [], "complete": False}
    barrier = threading.Barrier(8)

    def one(i: int) -> None:
        rec = JobRecord(run_id="r1", job_id=f"m/fp32/onnx@d{i}", model="m", variant="fp32",
                        format="onnx", device=f"d{i}", status="failed", error="x",
                        error_kind="test", started_at="2026-01-01T00:00:00+00:00")
        barrier.wait()
        sink(meta, rec)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    assert not warnings, warnings
    assert sorted(j for j, _ in store_jobs(tmp_path / "edgebench.db", "r1")) == \
        sorted(f"m/fp32/onnx@d{i}" for i in range(8))
