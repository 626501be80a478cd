"""The Ray actor on a lab node: it holds the SSH connections of the devices placed on it.

One ``LabHost`` per node in use, not one per device: a Ray actor is a whole process (145.6 MB
RSS measured with the SSH code loaded; docs/scaling.md).  Each device it serves gets its own
:class:`~edgebench.fleet.DeviceWorker` -- the same connect, inventory, push dedup, retry
and record logic as the single controller -- and the driver sends a device its next job
only when the previous one has come back, so a device still runs one job at a time.
Calls for different devices run on the actor's threads (``max_concurrency``).

Imported on the lab node by Ray; never imports Ray itself.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from ..fleet import DeviceWorker, Job
from ..results.record import JobRecord
from ..targets.base import Target

#: run_job's answer: the record (None: killed by a stop), bytes pushed for it, the device's
#: inventory (sent once, with its first job) and why the device is down (None: up)
JobAnswer = tuple[Optional[JobRecord], int, dict[str, Any], Optional[str]]


class _Served:
    """One device on this host: its worker, its target and whether it is down."""

    def __init__(self, worker: DeviceWorker) -> None:
        self.worker = worker
        self.target: Optional[Target] = None
        self.down: Optional[str] = None
        self.opened = False
        self.inventory_sent = False  # the driver has had it (once per session)
        self.lock = threading.Lock()  # one job at a time, whatever the driver sends


class LabHost:
    """Serves the devices placed on this node; created by the driver with node affinity."""

    def __init__(self, run_id: str, make_target: Callable[[Any], Target],
                 retry_backoff_s: float = 1.0) -> None:
        self.run_id, self.make_target, self.retry_backoff_s = run_id, make_target, retry_backoff_s
        self.stop = threading.Event()
        self.served: dict[str, _Served] = {}
        self.lock = threading.Lock()

    def node_id(self) -> str:
        import ray  # only ever called inside a Ray worker

        return str(ray.get_runtime_context().get_node_id())

    def _serve(self, device: Any) -> _Served:
        with self.lock:
            if device.name not in self.served:
                worker = DeviceWorker(device, [], make_target=self.make_target, run_id=self.run_id,
                                      sink=lambda _rec: None, progress=None, stop=self.stop,
                                      retry_backoff_s=self.retry_backoff_s)
                self.served[device.name] = _Served(worker)
            return self.served[device.name]

    def connect(self, device: Any) -> None:
        """Connect to the device and take its inventory now, while the driver is still
        building variants (:meth:`~.session.ClusterSession.warm`); ``open`` finds it done."""
        served = self._serve(device)
        with served.lock:
            if not served.opened:
                self._connect(served)

    def _connect(self, served: _Served) -> None:
        served.opened = True
        served.target, served.down = served.worker.open()

    def open(self, device: Any, jobs: list[Job]) -> tuple[dict[str, Any], Optional[str], list[str]]:
        """The device's jobs of this fleet pass, before the first: (inventory, why it is
        down or None, the ids of ``runtimes: all`` jobs it lacks the runtime for, which the
        driver drops as the single controller does).  Connects unless :meth:`connect` (or
        an earlier pass of the session) already did: one inventory per device per session."""
        served = self._serve(device)
        with served.lock:
            worker = served.worker
            worker.jobs, worker.report.not_on_device = list(jobs), []
            if not served.opened:
                self._connect(served)
            elif served.down is None:
                worker._drop_absent()
            inventory = {} if served.inventory_sent else worker.report.inventory
            served.inventory_sent = True  # taken once, so reported (and billed: tune) once
            return inventory, served.down, worker.report.not_on_device

    def run_job(self, job: Job) -> JobAnswer:
        """Run one job of ``job.device``, connecting (and taking the inventory) first."""
        served = self._serve(job.device)
        with served.lock:
            inventory: dict[str, Any] = {}
            if not served.opened:
                self._connect(served)
                inventory, served.inventory_sent = served.worker.report.inventory, True
            before = served.worker.report.bytes_pushed
            if self.stop.is_set():
                return None, 0, inventory, served.down
            rec, served.down = served.worker.step(served.target, job, served.down)
            return rec, served.worker.report.bytes_pushed - before, inventory, served.down

    def devices(self) -> dict[str, Optional[str]]:
        """The devices this host has connected to so far: name -> why it is down (None: up)."""
        return {name: served.down for name, served in list(self.served.items()) if served.opened}

    def interrupt(self) -> None:
        """A stop: refuse new jobs and kill the agents in flight (finished ones came back)."""
        self.stop.set()
        for served in list(self.served.values()):
            served.worker.interrupt()

    def release(self, name: str) -> None:
        """The device has no more jobs: close its connection now, as a worker thread of the
        single controller does at the end of its list (not all at once at the end)."""
        served = self.served.pop(name, None)
        if served is not None and served.target is not None:
            with served.lock:
                served.target.close()

    def close(self) -> None:
        for served in list(self.served.values()):
            if served.target is not None:
                try:
                    served.target.close()
                except Exception:  # noqa: BLE001 - closing the others matters more
                    pass
