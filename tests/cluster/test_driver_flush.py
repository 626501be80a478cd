"""The cluster driver's group commit (``_Driver.flush``) without a cluster: what it hands the
sink, the counts and progress it keeps, and its fallback when the group commit fails."""

from __future__ import annotations

import json
import threading
from collections import deque
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from edgebench.cluster.driver import _Driver, _Lane
from edgebench.fleet import DeviceReport
from edgebench.results.journal import RunDir
from edgebench.results.record import JobRecord
from edgebench.results.sink import JournalSink

RUN = "20261130T000000Z-flush-0000"


def _batch(driver: _Driver, n: int) -> list[_Lane]:
    lanes = []
    for i in range(n):
        lane = _Lane(SimpleNamespace(name=f"d{i}", lab="room-a"), deque(), DeviceReport(f"d{i}"))
        status = "ok" if i % 2 == 0 else "failed"
        driver._emit(lane, JobRecord(run_id=RUN, job_id=f"j{i}", model="m", variant="v",
                                     format="onnx", device=f"d{i}", status=status))
        lanes.append(lane)
    return lanes


def _driver(sink: Any, seen: list[str]) -> _Driver:
    session = SimpleNamespace(ray=None, run_id=RUN, hosts={}, keep_devices=False)
    return _Driver(session, sink=sink, progress=lambda _d, rec, _r: seen.append(rec.job_id),
                   stop=threading.Event())


def test_one_group_commit_journals_every_record_in_order_and_counts_each(tmp_path: Path) -> None:
    run_dir = RunDir.create(tmp_path, RUN)
    sink = JournalSink(run_dir, {"run_id": RUN}, None)
    writes: list[int] = []
    many = sink.many
    sink.many = lambda recs: (writes.append(len(recs)), many(recs))  # type: ignore[method-assign]
    seen: list[str] = []
    driver = _driver(sink, seen)
    lanes = _batch(driver, 3)
    driver.flush(send_next=False)
    assert writes == [3]  # one write, one fsync for the three
    lines = (run_dir.path / "results.jsonl").read_text().splitlines()
    assert [json.loads(ln)["job_id"] for ln in lines] == ["j0", "j1", "j2"]
    assert seen == ["j0", "j1", "j2"]
    assert [(ln.report.ok, ln.report.failed) for ln in lanes] == [(1, 0), (0, 1), (1, 0)]
    assert driver.pending == []


def test_a_failed_group_commit_is_done_again_record_by_record(tmp_path: Path) -> None:
    """The group's write fails (say, one record cannot be encoded): every record is handed to
    the sink on its own, so the others are journaled and the failure is one device's."""
    run_dir = RunDir.create(tmp_path, RUN)
    calls: list[str] = []

    class Sink:
        def many(self, recs: list[JobRecord]) -> None:
            raise OSError("disk hiccup")

        def __call__(self, rec: JobRecord) -> None:
            calls.append(rec.job_id)
            if rec.job_id == "j1":
                raise OSError("no room for this one")
            run_dir.append(rec)

    seen: list[str] = []
    driver = _driver(Sink(), seen)
    lanes = _batch(driver, 3)
    driver.flush(send_next=False)
    assert calls == ["j0", "j1", "j2"]
    lines = (run_dir.path / "results.jsonl").read_text().splitlines()
    assert [json.loads(ln)["job_id"] for ln in lines] == ["j0", "j2"]
    assert [ln.sink_failed for ln in lanes] == [False, True, False]
    assert seen == ["j0", "j1", "j2"]  # counted and shown all the same, as the threaded fleet does
