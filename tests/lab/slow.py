"""Make a lab device slow like a real one: a CPU quota and a thin network link (root only).

A Raspberry Pi is several times slower than the CI box and often sits behind Wi-Fi; code
paths that only show up then (timeouts during pushes, jobs that outlive their budget)
need a slow device to test.  Two knobs, both optional and both skipped with a reason when
the machine cannot provide them:

* :class:`CpuQuota` -- cgroup **v1** ``cpu.cfs_quota_us`` (this kernel has no cgroup v2
  cpu controller).  Put a device's sshd listener in it; every session it forks inherits it.
* :class:`SlowLink` -- a network namespace joined by a veth pair shaped with ``tc tbf``
  (no ``netem`` in this kernel, so bandwidth only, no added delay).  Start the device's
  sshd inside it with ``SshdLab.add(name, host=link.device_ip, port=22, netns=link.netns)``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

CGROUP_CPU = Path("/sys/fs/cgroup/cpu")


def cpu_quota_unavailable() -> str | None:
    """None when CpuQuota can work here, else the reason."""
    if os.geteuid() != 0:
        return "cpu quota needs root"
    if not (CGROUP_CPU / "cpu.cfs_quota_us").is_file():
        return f"no cgroup v1 cpu controller at {CGROUP_CPU}"
    return None


class CpuQuota:
    """A cgroup v1 cpu group capped at ``fraction`` of one core."""

    def __init__(self, name: str, fraction: float, *, period_us: int = 100_000) -> None:
        self.path = CGROUP_CPU / "edgebench-lab" / name
        self.fraction = fraction
        self.period_us = period_us

    def __enter__(self) -> "CpuQuota":
        reason = cpu_quota_unavailable()
        if reason:
            raise RuntimeError(reason)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "cpu.cfs_period_us").write_text(str(self.period_us))
        (self.path / "cpu.cfs_quota_us").write_text(str(max(1000, int(self.period_us * self.fraction))))
        return self

    def add(self, pid: int) -> None:
        """Move ``pid`` in; processes it forks later are inside too."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]

    def __exit__(self, *exc: object) -> None:
        for pid in self.pids() if self.path.exists() else []:
            try:
                (CGROUP_CPU / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass
        try:
            self.path.rmdir()
            self.path.parent.rmdir()
        except OSError:
            pass


def slow_link_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip") or not shutil.which("tc"):
        return "iproute2 (ip, tc) not installed"
    probe = subprocess.run(["ip", "netns", "add", "eblab-probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a network namespace: {probe.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", "eblab-probe"], capture_output=True)
    return None


class SlowLink:
    """A netns + veth pair, each end shaped by ``tc tbf`` to ``rate_kbit``."""

    def __init__(self, index: int, *, rate_kbit: int, burst_bytes: int = 16 * 1024,
                 latency_ms: int = 200) -> None:
        if not 1 <= index <= 250:
            raise ValueError("index must be 1..250 (it picks the 10.213.<index>.0/30 subnet)")
        self.netns = f"eblab-{index}"
        self.host_if, self.dev_if = f"ebh{index}", f"ebd{index}"
        self.host_ip, self.device_ip = f"10.213.{index}.1", f"10.213.{index}.2"
        self.rate_kbit, self.burst_bytes, self.latency_ms = rate_kbit, burst_bytes, latency_ms

    def _ip(self, *args: str, ns: bool = False) -> None:
        argv = (["ip", "netns", "exec", self.netns] if ns else []) + list(args)
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")

    def __enter__(self) -> "SlowLink":
        reason = slow_link_unavailable()
        if reason:
            raise RuntimeError(reason)
        self.__exit__(None, None, None)  # a leftover from a killed session
        self._ip("ip", "netns", "add", self.netns)
        try:
            self._ip("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.dev_if)
            self._ip("ip", "link", "set", self.dev_if, "netns", self.netns)
            self._ip("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            self._ip("ip", "link", "set", self.host_if, "up")
            self._ip("ip", "addr", "add", f"{self.device_ip}/30", "dev", self.dev_if, ns=True)
            self._ip("ip", "link", "set", self.dev_if, "up", ns=True)
            self._ip("ip", "link", "set", "lo", "up", ns=True)
            tbf = ["root", "tbf", "rate", f"{self.rate_kbit}kbit", "burst", str(self.burst_bytes),
                   "latency", f"{self.latency_ms}ms"]
            self._ip("tc", "qdisc", "add", "dev", self.host_if, *tbf)
            self._ip("tc", "qdisc", "add", "dev", self.dev_if, *tbf, ns=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
