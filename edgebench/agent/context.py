"""The run context of a job: what else could have moved its latency.

Two jobs are comparable only when the device was in the same state: the same governor and
clock limits, a similar start temperature, and nothing else eating CPU.  The fingerprint
covers what is fixed (hardware, runtime); this records what varies from job to job -- the
state just before the model is loaded (after any cool-down wait), and the CPU other
processes used from then until the timed loop ended -- so a report can mark a job that
started hot or ran under foreign load instead of silently comparing it.

Everything is read through :class:`~.probes.sysfs.Sysfs`, so ``/proc`` and ``/sys`` come
from the same settable root and tests use fixture trees.  Stdlib only; nothing raises.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .probes.sysfs import Sysfs, try_read_int, try_read_text
from .probes.thermal import _policy_name, policy_dirs, read_zones

#: Other processes using at least this many cores (summed over the sampling window) mark a
#: job as run under foreign load: half a core is what a background compile, a browser tab
#: or a second benchmark takes, and enough to move a one-thread p50 by several percent.
FOREIGN_LOAD_CORES = 0.5
#: How many of the busiest other processes a result names.
TOP_PROCESSES = 5
#: Processes under this share of one core over the window are not listed (idle daemons).
MIN_LISTED_CPU_PCT = 1.0


def read_loadavg(fs: Sysfs) -> Optional[List[float]]:
    """``/proc/loadavg``'s 1, 5 and 15 minute figures (they include this agent's own
    earlier jobs, so the foreign-load flag uses the per-process sample instead)."""
    text = try_read_text(fs.path("/proc/loadavg"))
    try:
        return [float(x) for x in (text or "").split()[:3]] if text else None
    except ValueError:
        return None


def parse_stat(text: str) -> Optional[Tuple[str, int, int]]:
    """``(comm, ppid, utime + stime ticks)`` from one ``/proc/PID/stat`` line.

    ``comm`` is in parentheses and may itself hold spaces and parentheses, so the fields
    are counted from the *last* ``)`` (proc(5): state is field 3, ppid 4, utime 14, stime 15).
    """
    right = text.rfind(")")
    left = text.find("(")
    if left < 0 or right < left:
        return None
    fields = text[right + 2:].split()
    try:
        return text[left + 1:right], int(fields[1]), int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        return None


def read_proc_cpu(fs: Sysfs) -> Dict[int, Tuple[str, int, int]]:
    """pid -> (comm, ppid, cumulative CPU ticks) for every readable process."""
    out: Dict[int, Tuple[str, int, int]] = {}
    for path in fs.glob("/proc/[0-9]*"):
        name = os.path.basename(path)
        if not name.isdigit():
            continue
        parsed = parse_stat(try_read_text(os.path.join(path, "stat")) or "")
        if parsed is not None:
            out[int(name)] = parsed
    return out


def own_lineage(procs: Dict[int, Tuple[str, int, int]], pid: int) -> List[int]:
    """``pid`` and its ancestors: the agent and what started it are not foreign load."""
    chain: List[int] = []
    while pid > 0 and pid not in chain:
        chain.append(pid)
        pid = procs[pid][1] if pid in procs else 0
    return chain


def top_consumers(before: Dict[int, Tuple[str, int, int]], after: Dict[int, Tuple[str, int, int]],
                  interval_s: float, ticks_per_s: float, exclude: Iterable[int] = ()
                  ) -> Tuple[float, List[Dict[str, Any]]]:
    """(cores used by other processes over the window, the busiest of them).

    A pure function of two snapshots, so the rule is tested on constructed data.
    """
    if interval_s <= 0 or ticks_per_s <= 0:
        return 0.0, []
    skip = set(exclude)
    busy: List[Dict[str, Any]] = []
    total_ticks = 0
    for pid, (comm, _ppid, ticks) in after.items():
        if pid in skip or pid not in before or before[pid][0] != comm:
            continue  # a new process (or a reused pid) has no baseline in this window
        delta = ticks - before[pid][2]
        if delta <= 0:
            continue
        total_ticks += delta
        busy.append({"pid": pid, "comm": comm,
                     "cpu_pct": 100.0 * delta / ticks_per_s / interval_s})
    busy.sort(key=lambda p: (-p["cpu_pct"], p["pid"]))
    listed = [p for p in busy if p["cpu_pct"] >= MIN_LISTED_CPU_PCT][:TOP_PROCESSES]
    return total_ticks / ticks_per_s / interval_s, listed


def read_cpufreq(fs: Sysfs) -> List[Dict[str, Any]]:
    """Governor and clock limits per cpufreq policy (kHz, as sysfs gives them)."""
    out: List[Dict[str, Any]] = []
    for directory in policy_dirs(fs):
        num = {name: try_read_int(os.path.join(directory, name)) for name in (
            "scaling_min_freq", "scaling_max_freq", "cpuinfo_min_freq", "cpuinfo_max_freq",
            "cpuinfo_cur_freq", "scaling_cur_freq")}
        cur = num["cpuinfo_cur_freq"]  # the hardware clock (root only), else the request
        out.append({
            "policy": _policy_name(directory),
            "governor": try_read_text(os.path.join(directory, "scaling_governor")),
            "driver": try_read_text(os.path.join(directory, "scaling_driver")),
            "scaling_min_freq_khz": num["scaling_min_freq"],
            "scaling_max_freq_khz": num["scaling_max_freq"],
            "cpuinfo_min_freq_khz": num["cpuinfo_min_freq"],
            "cpuinfo_max_freq_khz": num["cpuinfo_max_freq"],
            "cur_freq_khz": cur if cur is not None else num["scaling_cur_freq"],
        })
    return out


class ContextProbe:
    """Read the run context around a job: :meth:`start` before the model is loaded (after
    any cool-down), :meth:`finish` after the timed loop.  The other processes' CPU use is
    the difference of two ``/proc`` snapshots over that window, so watching costs the job
    no time, and it covers the measurement itself rather than a moment before it.
    Processes born inside the window (a multi-process job's children, a probe's tool) have
    no baseline and are not counted."""

    def __init__(self, fs: Sysfs, *, cooldown_below_c: Optional[float] = None,
                 pid: Optional[int] = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.fs = fs
        self.cooldown_below_c = cooldown_below_c
        self.pid = os.getpid() if pid is None else pid
        self.clock = clock
        self._start: Dict[str, Any] = {}
        self._before: Dict[int, Tuple[str, int, int]] = {}
        self._t0 = 0.0

    def start(self) -> None:
        zones = read_zones(self.fs)
        hottest = max(zones, key=lambda z: z.temp_c) if zones else None
        self._start = {"hottest": hottest, "cpufreq": read_cpufreq(self.fs),
                       "loadavg": read_loadavg(self.fs)}
        self._before = read_proc_cpu(self.fs)
        self._t0 = self.clock()

    def finish(self) -> Dict[str, Any]:
        """The ``context`` block of a result."""
        after = read_proc_cpu(self.fs) if self._before else {}
        interval_s = self.clock() - self._t0
        try:
            ticks = float(os.sysconf("SC_CLK_TCK"))
        except (AttributeError, ValueError, OSError):
            ticks = 100.0
        exclude = own_lineage(after or self._before, self.pid)
        foreign_cores, top = top_consumers(self._before, after, interval_s, ticks, exclude)
        known_load = bool(self._before) and bool(after) and interval_s > 0
        hottest = self._start.get("hottest")
        below = self.cooldown_below_c
        started_hot = hottest.temp_c > below if hottest is not None and below is not None else None
        foreign_load = foreign_cores >= FOREIGN_LOAD_CORES if known_load else None
        warnings: List[str] = []
        if started_hot and hottest is not None:
            warnings.append(f"started hot: {hottest.type} at {hottest.temp_c:.1f} C, above the "
                            f"device's cooldown_below_c {below:g} C")
        if foreign_load:
            names = ", ".join(f"{p['comm']} ({p['cpu_pct']:.0f} %)" for p in top) or "many small ones"
            warnings.append(f"foreign load: other processes used {foreign_cores:.2f} cores "
                            f"during the job ({names})")
        cpufreq = self._start.get("cpufreq") or []
        return {
            "governors": sorted({p["governor"] for p in cpufreq if p["governor"]}),
            "cpufreq": cpufreq,
            "temp_start_c": hottest.temp_c if hottest else None,
            "temp_start_zone": hottest.type if hottest else None,
            "loadavg": self._start.get("loadavg"),
            "foreign_cpu_cores": foreign_cores if known_load else None,
            "top_processes": top,
            "window_s": interval_s if known_load else None,
            "cooldown_below_c": below,
            "started_hot": started_hot,
            "foreign_load": foreign_load,
            "warnings": warnings,
        }


def run_context(fs: Sysfs, *, sample_s: float, cooldown_below_c: Optional[float] = None,
                pid: Optional[int] = None, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.perf_counter) -> Dict[str, Any]:
    """The context over a window of ``sample_s`` of doing nothing (for a look at a device
    outside a job).  ``sleep`` and ``clock`` are injectable so a test changes the fixture
    ``/proc`` inside the window and knows its length exactly."""
    probe = ContextProbe(fs, cooldown_below_c=cooldown_below_c, pid=pid, clock=clock)
    probe.start()
    if sample_s > 0:
        sleep(sample_s)
    return probe.finish()
