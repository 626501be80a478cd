"""Device-seconds of a tuning, counted the same way whether the jobs run here or on a cluster.

The figure is what the device was busy with: each job from the moment its host started it
(push, agent start-up, model load, warm-up, timed loop, evaluation, retries) to its record
(``JobRecord.started_at`` -> ``finished_at``, both stamped by the one machine that drove
the device), plus each inventory the device was asked for.  Nothing of it is timed on the
controller's clock: with ``--cluster`` the device is driven from a lab node, its target
is built there by a pickled ``make_target``, and only records and device reports come back.
So the inventory is timed by the target itself (:class:`TimedTarget`), which writes the
seconds into the inventory it hands back, and the controller reads them from the report.
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any, Optional

from edgebench.config import DeviceSpec
from edgebench.results.record import JobRecord

#: The key :class:`TimedTarget` adds to an inventory it took: how long that took, in seconds.
INVENTORY_S = "edgebench_inventory_s"


def job_seconds(rec: JobRecord) -> float:
    """A finished job's seconds on its device, from the stamps its host put on the record
    (millisecond resolution; 0 for a record whose stamps cannot be read)."""
    try:
        started = _dt.datetime.fromisoformat(rec.started_at)
        finished = _dt.datetime.fromisoformat(rec.finished_at)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, (finished - started).total_seconds())


def inventory_seconds(inventory: Optional[dict[str, Any]]) -> float:
    """The seconds a :class:`TimedTarget` wrote into ``inventory`` (0: none taken)."""
    value = (inventory or {}).get(INVENTORY_S)
    return float(value) if isinstance(value, (int, float)) and value >= 0 else 0.0


class TimedTarget:
    """A device's target whose ``inventory()`` says how long it took.

    Holds nothing of the controller, so the function that builds it (:func:`timed_target`)
    can be pickled and called on a lab node."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def inventory(self) -> dict[str, Any]:
        start = time.monotonic()
        info = self.target.inventory()
        return {**info, INVENTORY_S: time.monotonic() - start}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def timed_target(device: DeviceSpec) -> Any:
    """``make_target`` for a tuning: the run's target for ``device``, its inventory timed (a
    :class:`TimedTarget`, which forwards everything else: a ``Target`` in all but its type)."""
    from edgebench.run import make_target

    return TimedTarget(make_target(device))


class KeptTarget:
    """A device's target across the stages of a tuning on this controller: its inventory
    (seconds: the agent imports every runtime to report it) is taken once, not once per
    stage; later stages get it without :data:`INVENTORY_S`, as nothing was taken then.
    The fleet closes the target after each stage, and the next stage's first job
    reconnects, as after any closed connection.  (A cluster's targets live on the lab
    nodes for the whole tuning, in its ClusterSession: the LabHost takes the inventory
    once and hands it back once, so it is billed once there too.)"""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.info: Optional[dict[str, Any]] = None

    def inventory(self) -> dict[str, Any]:
        if self.info is None:
            self.info = self.target.inventory()
            return dict(self.info)
        return {k: v for k, v in self.info.items() if k != INVENTORY_S}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


__all__ = ["INVENTORY_S", "KeptTarget", "TimedTarget", "inventory_seconds", "job_seconds",
           "timed_target"]
