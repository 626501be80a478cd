"""Device-seconds of a tuning (edgebench/tuning/devicetime.py): a job's seconds are its
record's own stamps, an inventory is timed by the target that took it -- on this controller
once for the whole tuning, on a lab node once per stage -- and the function that builds
the targets can be pickled, as a cluster run needs."""

from __future__ import annotations

import pickle
import time

from edgebench.config import load_devices
from edgebench.results.record import JobRecord
from edgebench.tuning.devicetime import (
    INVENTORY_S,
    KeptTarget,
    inventory_seconds,
    job_seconds,
    timed_target,
)


def test_job_seconds_are_the_records_own_stamps() -> None:
    rec = JobRecord(run_id="r", job_id="j", model="m", variant="fp32", format="onnx", device="d",
                    status="ok", started_at="2026-11-30T08:00:00.250+00:00",
                    finished_at="2026-11-30T08:00:02.000+00:00")
    assert job_seconds(rec) == 1.75
    rec.finished_at = "2026-11-30T07:59:59.000+00:00"  # a clock stepped back: never negative
    assert job_seconds(rec) == 0.0
    rec.started_at = "not a time"
    assert job_seconds(rec) == 0.0


def test_inventory_is_timed_by_the_target_and_kept_once_per_tuning() -> None:
    assert pickle.loads(pickle.dumps(timed_target)) is timed_target  # by reference: a lab node imports it
    kept = KeptTarget(timed_target(load_devices(None)["local"]))  # the real agent's inventory
    try:
        start = time.monotonic()
        first = kept.inventory()
        took = time.monotonic() - start
        assert 0 < inventory_seconds(first) <= took
        assert first["runtimes"]["onnxruntime"]  # the agent's own inventory, unchanged
        again = kept.inventory()  # a later stage: nothing taken, nothing billed
        assert INVENTORY_S not in again and inventory_seconds(again) == 0.0
        assert {k: v for k, v in first.items() if k != INVENTORY_S} == again
        assert kept.name == "local"  # everything else is the target's own
    finally:
        kept.close()
    assert inventory_seconds(None) == 0.0 and inventory_seconds({INVENTORY_S: -1}) == 0.0
