"""One command's hold on a Ray cluster: connected once, its lab-node actors kept throughout.

``run`` and ``nightly`` open a session before the variants build, and :meth:`ClusterSession.warm`
places every device and has a lab node connect to it and take its inventory while the
driver is still compressing -- a lab host's work that used to wait for the build.  ``tune``
runs one fleet pass per stage in one session (``keep_devices``), so a device is connected
and inventoried once per tuning, not once per stage, and placed on the same node each time.

Placement lives here, for the session: a device stays on its node while the node lives;
when Ray declares the node dead, the device goes to the next live node of its lab.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Iterable, Optional

from ..fleet import DeviceReport, Job, Progress, Sink
from ..targets.base import Target
from .connect import check_labs, connected, lab_nodes
from .driver import run_pass


class ClusterSession:
    """``with ClusterSession(address, run_id=..., make_target=...) as cluster:`` -- then
    :meth:`warm` (optional) and :meth:`run_fleet` once or more; leaving closes every
    device's connection, ends the actors and, if it connected, disconnects."""

    def __init__(self, address: str, *, run_id: str, make_target: Callable[[Any], Target],
                 retry_backoff_s: float = 1.0, keep_devices: bool = False) -> None:
        self.address, self.run_id, self.make_target = address, run_id, make_target
        self.retry_backoff_s = retry_backoff_s
        self.keep_devices = keep_devices  # devices stay connected between fleet passes
        self.ray: Any = None
        self.hosts: dict[str, Any] = {}  # node id -> LabHost actor handle
        self.dead: set[str] = set()
        self.placed: dict[str, str] = {}  # device -> node id
        self.turn: dict[str, int] = {}  # lab -> round-robin counter
        self.threads = 2  # each actor's max_concurrency: every device it may serve, + 2
        self._conn: Optional[AbstractContextManager[Any]] = None

    def __enter__(self) -> "ClusterSession":
        self._conn = connected(self.address)
        self.ray = self._conn.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.close()
        finally:
            if self._conn is not None:
                self._conn.__exit__(*exc)

    # ------------------------------------------------------------------ placement
    def node_for(self, device: Any) -> Optional[str]:
        """The live node serving ``device``: its node so far, else the next live node of
        its lab in round robin (device-name order when warmed); None if its lab has none."""
        node = self.placed.get(device.name)
        if node is not None and node not in self.dead:
            return node
        nodes = lab_nodes(self.ray, device.lab, self.dead)
        if not nodes:
            self.placed.pop(device.name, None)
            return None
        turn = self.turn.get(device.lab, 0)
        self.turn[device.lab] = turn + 1
        self.placed[device.name] = nodes[turn % len(nodes)]
        return self.placed[device.name]

    def host(self, node: str) -> Any:
        """The node's LabHost actor, created on first use (its process starts in the background)."""
        if node not in self.hosts:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            from .host import LabHost

            remote = self.ray.remote(LabHost).options(
                num_cpus=0, max_concurrency=self.threads,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
            self.hosts[node] = remote.remote(self.run_id, self.make_target, self.retry_backoff_s)
        return self.hosts[node]

    def lost(self, node: str) -> None:
        """Ray says the node is gone: never place on it again in this session."""
        self.dead.add(node)
        self.hosts.pop(node, None)

    def warm(self, devices: Iterable[Any]) -> None:
        """Place every device now and have its lab node connect to it and take its
        inventory in the background; :meth:`run_fleet` then finds it ready.  Nothing here
        waits: a device that cannot be reached is reported by its first job, as without."""
        devices = sorted(devices, key=lambda d: d.name)
        check_labs(devices)
        self.threads = max(self.threads, len(devices) + 2)
        for device in devices:
            node = self.node_for(device)
            if node is not None:
                self.host(node).connect.remote(device)

    # ------------------------------------------------------------------ a fleet pass
    def run_fleet(self, jobs: list[Job], *, sink: Sink, progress: Optional[Progress] = None,
                  stop: Optional[threading.Event] = None) -> list[DeviceReport]:
        """:func:`edgebench.fleet.run_fleet` on the cluster; same contract: one report per
        device, every job ends in one record handed to ``sink`` on this thread."""
        self.threads = max(self.threads, len({j.device.name for j in jobs}) + 2)
        return run_pass(self, jobs, sink=sink, progress=progress, stop=stop or threading.Event())

    def close(self) -> None:
        """Close every host's connections, then end the actors (a dead node's are gone)."""
        if self.ray is None:
            return
        closing = [host.close.remote() for host in self.hosts.values()]
        try:
            self.ray.wait(closing, num_returns=len(closing), timeout=5.0)
        except Exception:  # noqa: BLE001 - the actors are killed below all the same
            pass
        for host in self.hosts.values():
            try:
                self.ray.kill(host)
            except Exception:  # noqa: BLE001
                pass
        self.hosts.clear()


@contextmanager
def warmed_session(address: str, *, run_id: str, make_target: Callable[[Any], Target],
                   devices: list[Any], keep_devices: bool = False) -> Iterator[ClusterSession]:
    """A command's session, its devices placed and connecting already (:meth:`ClusterSession.warm`)."""
    with ClusterSession(address, run_id=run_id, make_target=make_target,
                        keep_devices=keep_devices) as cluster:
        cluster.warm(devices)
        yield cluster


def run_fleet_on_cluster(jobs: list[Job], *, address: str, make_target: Callable[[Any], Target],
                         run_id: str, sink: Sink, progress: Optional[Progress] = None,
                         stop: Optional[threading.Event] = None,
                         retry_backoff_s: float = 1.0) -> list[DeviceReport]:
    """:func:`edgebench.fleet.run_fleet` on the Ray cluster at ``address``, in a session of
    its own (connect, one pass, disconnect); same contract: one report per device, every
    job ends in one record handed to ``sink`` on this thread."""
    check_labs({j.device.name: j.device for j in jobs}.values())
    with ClusterSession(address, run_id=run_id, make_target=make_target,
                        retry_backoff_s=retry_backoff_s) as cluster:
        return cluster.run_fleet(jobs, sink=sink, progress=progress, stop=stop)
