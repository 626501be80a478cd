"""The driver's side of a cluster run: place devices, stream records back, survive lost nodes.

The driver never touches a device: it places every device on a node of its lab (round
robin over the lab's live nodes, in device-name order), sends each device one job at a
time to the :class:`~.host.LabHost` actor on that node, and takes the records in the order
they finish -- each through ``sink`` (journal, then store) before that device's next job
is sent, exactly as :func:`edgebench.fleet.run_fleet` does with threads.  Every record
that is back at once is journaled together (``sink.many``: one write and fsync, one store
transaction), then those devices get their next jobs: the driver is one thread, and one
fsync per job kept every waiting device waiting on the disk.

A node that dies mid-run takes its actor with it: the device's job in flight fails with
``node_lost``, unless another live node of the same lab can take the device, in which
case that job is retried there once.  A lab left with no node fails its devices' remaining
jobs with ``node_lost`` too, so the run ends; ``--resume`` redoes them when a node is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional

from ..fleet import STOP_DEADLINE_S, DeviceReport, Job, Progress, Sink, _record
from ..handoff import deliver
from ..interrupt import POLL_S
from ..results.record import JobRecord
from .connect import RAY_START_HINT, check_labs, first_line, lab_nodes

log = logging.getLogger(__name__)

#: Most records journaled in one group commit.  A replayed job's record holds 13,000
#: latencies (~0.4 MB as Python floats): committing all 256 that were back at once took
#: the driver from 242 to 326 MB at 256 devices (benchmarks/bench_scale.py --cluster).
GROUP_COMMIT_MAX = 16


@dataclass
class _Lane:
    """One device's remaining jobs and where they run."""

    device: Any
    todo: deque[Job]
    report: DeviceReport
    node: Optional[str] = None
    current: Optional[Job] = None
    opened: bool = False  # its LabHost has connected and taken the inventory
    retried: set[str] = field(default_factory=set)  # job ids already retried after a node loss
    sink_failed: bool = False


def run_pass(session: Any, jobs: list[Job], *, sink: Sink,
             progress: Optional[Progress], stop: threading.Event) -> list[DeviceReport]:
    """One fleet pass in ``session``, a :class:`~.session.ClusterSession` (its ``run_fleet``)."""
    lanes: dict[str, _Lane] = {}
    for job in jobs:
        lane = lanes.get(job.device.name)
        if lane is None:
            lane = lanes[job.device.name] = _Lane(job.device, deque(), DeviceReport(job.device.name))
        lane.todo.append(job)
        lane.report.jobs += 1
    check_labs(lane.device for lane in lanes.values())
    started = time.perf_counter()
    driver = _Driver(session, sink=sink, progress=progress, stop=stop)
    try:
        driver.run([lanes[name] for name in sorted(lanes)])
    except Exception as exc:  # noqa: BLE001 - the head, or the link to it, is gone: end the run
        why = f"lost the Ray cluster at {session.address}: {first_line(exc)}"
        for lane in lanes.values():
            driver.fail_rest(lane, why)
        driver.flush(send_next=False)
    for lane in lanes.values():
        lane.report.wall_s = time.perf_counter() - started
    return [lane.report for lane in lanes.values()]


class _Driver:
    def __init__(self, session: Any, *, sink: Sink, progress: Optional[Progress],
                 stop: threading.Event) -> None:
        self.session, self.ray, self.run_id = session, session.ray, session.run_id
        self.sink, self.progress, self.stop = sink, progress, stop
        self.inflight: dict[Any, _Lane] = {}
        self.pending: list[tuple[_Lane, JobRecord]] = []  # back, not yet journaled
        self.next_up: list[_Lane] = []  # their next job goes out once those are on disk

    # ------------------------------------------------------------------ placement
    def _place(self, lane: _Lane) -> bool:
        """Put the device on a live node of its lab; False (and the lane failed) if none."""
        node = self.session.node_for(lane.device)
        if node is None:
            lab = lane.device.lab
            self.fail_rest(lane, f"no live Ray node serves lab {lab!r} "
                                 f"({RAY_START_HINT.format(lab=lab)})")
            return False
        lane.node = lane.report.node = node
        return True

    def _submit(self, lane: _Lane) -> None:
        if self.stop.is_set() or not lane.todo:
            lane.current = None
            hosts = self.session.hosts
            if not lane.todo and lane.node in hosts and not self.session.keep_devices:
                hosts[lane.node].release.remote(lane.device.name)  # done: closes it now
            return
        if lane.node is None and not self._place(lane):
            return
        assert lane.node is not None
        lane.current = lane.todo[0]
        host = self.session.host(lane.node)
        call = host.run_job.remote(lane.current) if lane.opened else host.open.remote(lane.device, list(lane.todo))
        self.inflight[call] = lane

    # ------------------------------------------------------------------ the loop
    def run(self, lanes: list[_Lane]) -> None:
        for lane in lanes:
            self._submit(lane)
        while (self.inflight or self.pending) and not self.stop.is_set():
            ready = self._ready()
            for start in range(0, max(len(ready), 1), GROUP_COMMIT_MAX):
                for ref in ready[start:start + GROUP_COMMIT_MAX]:
                    self._finish(ref)  # one ray.get each (all at once: +70 MB at 64 devices)
                self.flush()  # a device failed at placement has records but nothing in flight
        self.flush(send_next=False)
        if self.stop.is_set():
            self._stop_hosts()

    def _ready(self) -> list[Any]:
        """Every call that has come back: waits for one, then takes all that are in."""
        if not self.inflight:
            return []
        ready, rest = self.ray.wait(list(self.inflight), num_returns=1, timeout=POLL_S)
        if ready and rest:
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return list(ready)

    def _finish(self, ref: Any) -> None:
        from ray.exceptions import RayError, RayTaskError

        lane = self.inflight.pop(ref)
        job = lane.current
        assert job is not None
        try:
            if not lane.opened:
                self._opened(lane, self.ray.get(ref))
                return
            rec, pushed, inventory, down = self.ray.get(ref)
        except RayTaskError as exc:  # the host raised: a bug costs this job, not the device
            rec = _record(job, self.run_id, "failed", error_kind="controller",
                          error=f"internal error on lab node: {first_line(exc)}")
        except RayError as exc:  # the actor is gone: its node died (or was cut off)
            self._lost(lane, job, exc)
            return
        else:
            lane.report.bytes_pushed += pushed
            lane.report.inventory = inventory or lane.report.inventory
            lane.report.error = down
        if rec is None:  # killed by a stop: not a result, --resume redoes it
            lane.todo.clear()
            return
        lane.todo.popleft()
        self._emit(lane, rec)
        self.next_up.append(lane)

    def _opened(self, lane: _Lane, answer: tuple[dict[str, Any], Optional[str], list[str]]) -> None:
        inventory, lane.report.error, dropped = answer
        lane.report.inventory, lane.opened = inventory or lane.report.inventory, True
        if dropped:  # runtimes: all, runtime not on this device: not planned here (run.py)
            kept = deque(j for j in lane.todo if j.job_id not in set(dropped))
            lane.report.jobs -= len(lane.todo) - len(kept)
            lane.todo, lane.report.not_on_device = kept, sorted(dropped)
        self._submit(lane)

    def _lost(self, lane: _Lane, job: Job, exc: BaseException) -> None:
        node = lane.node or "?"
        self.session.lost(node)
        lane.node, lane.opened = None, False
        if self.stop.is_set():
            lane.todo.clear()
            return
        why = f"lab node {node[:12]} lost mid-job: {first_line(exc)}"
        if job.job_id not in lane.retried and lab_nodes(self.ray, lane.device.lab, self.session.dead):
            lane.retried.add(job.job_id)  # once: a job that kills its node must not kill them all
            log.warning("edgebench: %s: %s; retrying on another node of lab %s",
                        lane.device.name, why, lane.device.lab)
            self._submit(lane)
            return
        lane.todo.popleft()
        lane.report.error = why
        self._emit(lane, _record(job, self.run_id, "failed", error=why, error_kind="node_lost"))
        self.next_up.append(lane)

    def fail_rest(self, lane: _Lane, why: str) -> None:
        """Every job the device has left (the one in flight too) fails with ``node_lost``."""
        lane.report.error = why
        while lane.todo:
            self._emit(lane, _record(lane.todo.popleft(), self.run_id, "failed", error=why,
                                     error_kind="node_lost"))
        lane.current = None

    def _emit(self, lane: _Lane, rec: JobRecord) -> None:
        self.pending.append((lane, rec))

    def flush(self, *, send_next: bool = True) -> None:
        """Journal (and store) every record that is back, on this thread, in the order they
        came; count them and report progress (as DeviceWorker._emit); then send those
        devices their next jobs.  A failed group commit is done again one record at a time,
        so the failure is told per device, as the threaded fleet tells it."""
        batch, self.pending = self.pending, []
        many = getattr(self.sink, "many", None)
        grouped = False
        if many is not None and len(batch) > 1:
            try:
                many([rec for _lane, rec in batch])
                grouped = True
            except Exception:  # noqa: BLE001 - each record again on its own, below
                log.debug("group commit of %d records failed", len(batch), exc_info=True)
        for lane, rec in batch:
            lane.sink_failed = deliver(rec, None if grouped else self.sink, self.progress,
                                       lane.report, lane.device.name, lane.sink_failed)
        lanes, self.next_up = self.next_up, []
        for lane in lanes if send_next else []:
            self._submit(lane)

    # ------------------------------------------------------------------ stopping
    def _stop_hosts(self) -> None:
        """Kill the agents in flight; a job that finished before the kill is still kept."""
        for host in self.session.hosts.values():
            host.interrupt.remote()
        deadline = time.monotonic() + STOP_DEADLINE_S
        while self.inflight and time.monotonic() < deadline:
            for ref in self._ready():
                self._finish(ref)
            self.flush(send_next=False)
