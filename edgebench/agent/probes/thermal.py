"""Thermal zones, CPU clocks and throttle state before, during and after a job.

A latency figure measured while the SoC was throttling, or under a power-saving
governor, is not the device's speed: these readings let a report say so.  Snapshots
read sysfs (and ``vcgencmd`` / ``nvpmodel`` when present); the monitor thread only
reads temperatures and current clocks, a few small files, a couple of times a second.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

from .parsers import Throttled, parse_get_throttled, parse_nvpmodel_query
from .sampler import BackgroundSampler
from .sysfs import ProbeUnavailable, Sysfs, run_command, try_read_int, try_read_text, which

#: Governors whose clocks stay at the policy maximum under load.
STEADY_GOVERNORS = ("performance",)

#: cpufreq drivers whose ``scaling_max_freq`` is a turbo ceiling that busy cores rarely
#: all hold, so "current below max" would be noise there, not throttling.
TURBO_DRIVERS = ("intel_pstate", "intel_cpufreq", "amd-pstate", "amd-pstate-epp", "amd_pstate")

#: A clock more than this fraction under the maximum counts as held down.
FREQ_SHORTFALL = 0.01


@dataclass
class ZoneTemp:
    zone: str
    type: str
    temp_c: float


@dataclass
class CpuPolicy:
    policy: str
    cpus: str
    governor: Optional[str]
    driver: Optional[str]
    scaling_cur_freq_khz: Optional[int]
    cpuinfo_cur_freq_khz: Optional[int]
    scaling_max_freq_khz: Optional[int]
    cpuinfo_max_freq_khz: Optional[int]

    @property
    def cur_freq_khz(self) -> Optional[int]:
        """The hardware clock when readable (root only), else the last requested one."""
        return self.cpuinfo_cur_freq_khz if self.cpuinfo_cur_freq_khz is not None else self.scaling_cur_freq_khz


@dataclass
class ThermalSnapshot:
    time_s: float
    zones: List[ZoneTemp] = field(default_factory=list)
    cpufreq: List[CpuPolicy] = field(default_factory=list)
    throttled: Optional[Throttled] = None
    power_mode: Optional[Dict[str, object]] = None
    unreadable: List[str] = field(default_factory=list)

    @property
    def hottest_c(self) -> Optional[float]:
        return max((z.temp_c for z in self.zones), default=None)

    def to_dict(self) -> Dict[str, object]:
        return {
            "zones": [asdict(z) for z in self.zones],
            "hottest_c": self.hottest_c,
            "cpufreq": [asdict(p) for p in self.cpufreq],
            "throttled": self.throttled.to_dict() if self.throttled else None,
            "power_mode": self.power_mode,
            "unreadable": list(self.unreadable),
        }


def zone_dirs(fs: Sysfs) -> List[str]:
    return fs.glob("/sys/class/thermal/thermal_zone*")


def read_zones(fs: Sysfs, dirs: Optional[List[str]] = None, unreadable: Optional[List[str]] = None) -> List[ZoneTemp]:
    """Every zone that answers; some (disabled sensors) fail with EINVAL/ENODATA."""
    zones: List[ZoneTemp] = []
    for directory in zone_dirs(fs) if dirs is None else dirs:
        milli_c = try_read_int(os.path.join(directory, "temp"))
        name = os.path.basename(directory)
        if milli_c is None:
            if unreadable is not None:
                unreadable.append(fs.device_path(os.path.join(directory, "temp")))
            continue
        kind = try_read_text(os.path.join(directory, "type")) or name
        zones.append(ZoneTemp(name, kind, milli_c / 1000.0))
    return zones


def policy_dirs(fs: Sysfs) -> List[str]:
    """cpufreq policies; older kernels only have ``cpuY/cpufreq`` (often links to a policy)."""
    dirs = fs.glob("/sys/devices/system/cpu/cpufreq/policy[0-9]*")
    if dirs:
        return dirs
    seen: Dict[str, str] = {}
    for path in fs.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq"):
        seen.setdefault(os.path.realpath(path), path)
    return list(seen.values())


def _policy_name(directory: str) -> str:
    base = os.path.basename(directory)
    return base if base.startswith("policy") else os.path.basename(os.path.dirname(directory))


def read_cur_freqs(dirs: List[str]) -> Dict[str, int]:
    """{policy: current clock in kHz} of these cpufreq policy directories, read now:
    ``cpuinfo_cur_freq`` (the hardware's) where readable, else ``scaling_cur_freq`` (the
    governor's request); a policy with neither is left out.  The one reader of the live
    clock, for the thermal sampler and the sustained mode's per-bin record."""
    freqs: Dict[str, int] = {}
    for directory in dirs:
        cur = try_read_int(os.path.join(directory, "cpuinfo_cur_freq"))
        if cur is None:
            cur = try_read_int(os.path.join(directory, "scaling_cur_freq"))
        if cur is not None:
            freqs[_policy_name(directory)] = cur
    return freqs


def read_policies(fs: Sysfs, dirs: Optional[List[str]] = None) -> List[CpuPolicy]:
    out: List[CpuPolicy] = []
    for directory in policy_dirs(fs) if dirs is None else dirs:
        def num(name: str, directory: str = directory) -> Optional[int]:
            return try_read_int(os.path.join(directory, name))

        cpus = try_read_text(os.path.join(directory, "affected_cpus"))
        if cpus is None and not os.path.basename(directory).startswith("policy"):
            cpus = _policy_name(directory)[3:]
        out.append(CpuPolicy(
            policy=_policy_name(directory),
            cpus=cpus or "",
            governor=try_read_text(os.path.join(directory, "scaling_governor")),
            driver=try_read_text(os.path.join(directory, "scaling_driver")),
            scaling_cur_freq_khz=num("scaling_cur_freq"),
            cpuinfo_cur_freq_khz=num("cpuinfo_cur_freq"),
            scaling_max_freq_khz=num("scaling_max_freq"),
            cpuinfo_max_freq_khz=num("cpuinfo_max_freq"),
        ))
    return out


def read_throttled() -> Tuple[Optional[Throttled], Optional[str]]:
    """Pi throttle bits, or (None, why not) -- None without a reason when not a Pi."""
    if which("vcgencmd") is None:
        return None, None
    try:
        return parse_get_throttled(run_command(["vcgencmd", "get_throttled"])), None
    except (ProbeUnavailable, ValueError) as exc:
        return None, f"vcgencmd get_throttled: {exc}"


def read_power_mode() -> Tuple[Optional[Dict[str, object]], Optional[str]]:
    """Jetson ``nvpmodel -q``; (None, None) when nvpmodel is not installed."""
    if which("nvpmodel") is None:
        return None, None
    try:
        return parse_nvpmodel_query(run_command(["nvpmodel", "-q"])), None
    except (ProbeUnavailable, ValueError) as exc:
        return None, f"nvpmodel -q: {exc}"


def snapshot(fs: Sysfs, errors: Optional[List[str]] = None) -> ThermalSnapshot:
    """Everything at once; tool failures go to ``errors`` and never raise."""
    snap = ThermalSnapshot(time.perf_counter())
    snap.zones = read_zones(fs, unreadable=snap.unreadable)
    snap.cpufreq = read_policies(fs)
    snap.throttled, why = read_throttled()
    if why and errors is not None:
        errors.append(why)
    snap.power_mode, why = read_power_mode()
    if why and errors is not None:
        errors.append(why)
    return snap


def hottest_now(fs: Sysfs) -> Optional[float]:
    return max((z.temp_c for z in read_zones(fs)), default=None)


def wait_until_cool(fs: Sysfs, below_c: float, max_wait_s: float,
                    poll_s: float = 0.5) -> Tuple[float, bool, Optional[float]]:
    """Sleep until the hottest zone is under ``below_c``: (waited_s, reached, last hottest_c)."""
    start = time.perf_counter()
    while True:
        hottest = hottest_now(fs)
        if hottest is None or hottest < below_c:
            return time.perf_counter() - start, hottest is not None, hottest
        waited = time.perf_counter() - start
        if waited >= max_wait_s:
            return waited, False, hottest
        time.sleep(min(poll_s, max(0.0, max_wait_s - waited)))


class ThermalMonitor(BackgroundSampler):
    """Background maxima of zone temperatures and minima of CPU clocks during a job."""

    def __init__(self, fs: Sysfs, sample_hz: float = 2.0) -> None:
        super().__init__()
        self.fs = fs
        self.period_s = 1.0 / sample_hz
        self.samples = 0
        self.max_temp_c: Dict[str, float] = {}
        self.zone_types: Dict[str, str] = {}
        self.min_freq_khz: Dict[str, int] = {}
        self._zone_dirs = zone_dirs(fs)
        self._policy_dirs = policy_dirs(fs)
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None and not self._stop.is_set():
            self._start_thread("edgebench-thermal")

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.period_s):
                return

    def sample(self) -> None:
        zones = read_zones(self.fs, self._zone_dirs)
        freqs = read_cur_freqs(self._policy_dirs)
        with self._lock:
            self.samples += 1
            for zone in zones:
                self.zone_types[zone.zone] = zone.type
                if zone.temp_c > self.max_temp_c.get(zone.zone, float("-inf")):
                    self.max_temp_c[zone.zone] = zone.temp_c
            for policy, cur in freqs.items():
                if cur < self.min_freq_khz.get(policy, cur + 1):
                    self.min_freq_khz[policy] = cur

    def to_dict(self) -> Dict[str, object]:
        with self._lock:
            return {
                "samples": self.samples,
                "max_temp_c": {z: {"type": self.zone_types.get(z, z), "temp_c": t} for z, t in self.max_temp_c.items()},
                "hottest_c": max(self.max_temp_c.values(), default=None),
                "min_freq_khz": dict(self.min_freq_khz),
            }

