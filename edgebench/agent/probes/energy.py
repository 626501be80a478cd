"""The energy meter: samples a source on a background thread and integrates a window.

Optimum-benchmark's tracker style: a context manager that owns its thread and hands
back a dataclass with the raw samples and their unit.  The sampler sleeps between
reads of small files, so it holds the GIL for microseconds per sample and does not
slow the timed loop it measures.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .integrate import count_in_window, counter_delta, cumulative_delta_j, trapezoid_energy_j
from .sampler import BackgroundSampler
from .sources import COUNTER, CounterReading, EnergySource, PowerReading
from .sysfs import ProbeUnavailable


@dataclass
class EnergyWindow:
    """Energy over one interval, with the samples it came from (times relative to its start)."""

    probe: str
    energy_j: float
    window_s: float
    samples: int
    mean_power_w: float
    rails: Dict[str, Dict[str, float]] = field(default_factory=dict)
    timestamps_s: List[float] = field(default_factory=list)
    power_w: List[float] = field(default_factory=list)
    raw_stride: int = 1
    unit: str = "J"


class EnergyMeter(BackgroundSampler):
    """Keeps a time-ordered series from one source; measures any interval inside it."""

    def __init__(self, source: EnergySource, sample_hz: float = 20.0, max_raw_samples: int = 2000) -> None:
        super().__init__()
        self.source = source
        self.period_s = 1.0 / sample_hz
        self.max_raw_samples = max_raw_samples
        self.error: Optional[str] = None
        self._times: List[float] = []
        self._power: List[PowerReading] = []  # power sources
        self._cumulative_j: List[Dict[str, float]] = []  # counter sources, per domain, unwrapped
        self._last_raw: Dict[str, int] = {}
        self._acc_j: Dict[str, float] = {}
        self._count = 0  # samples ever appended; read without a lock by window_ready
        self._data_lock = threading.Lock()
        self._read_lock = threading.Lock()  # a read and its append stay in time order
        self._started = False
        self._new_sample = threading.Condition(self._data_lock)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.source.streaming:
            try:
                self.source.start_stream(self._append_power, self._fail)
            except OSError as exc:
                self._fail(f"cannot start {self.source.name}: {exc}")
            return
        self._sample_once()
        self._start_thread(f"edgebench-energy-{self.source.name}")

    def stop(self) -> None:
        """Stop sampling; the collected series stays measurable.  Idempotent."""
        self._stop_thread()
        self.source.close()

    # -- sampling -------------------------------------------------------------------

    def _loop(self) -> None:
        next_s = time.perf_counter() + self.period_s
        while not self._stop.wait(max(0.0, next_s - time.perf_counter())):
            if self._sample_once() is None:
                return
            next_s += self.period_s
            now = time.perf_counter()
            if next_s < now:  # fell behind (slow command): skip, do not burst
                next_s = now + self.period_s

    def _sample_once(self) -> Optional[float]:
        """Read now and append; return the read's time, or None after recording why not."""
        if self.error is not None:
            return None
        with self._read_lock:
            try:
                reading = self.source.read()
            except (OSError, ValueError, ProbeUnavailable) as exc:
                self._fail(f"{self.source.name} read failed: {exc}")
                return None
            if isinstance(reading, CounterReading):
                self._append_counter(reading)
            else:
                self._append_power(reading)
        return reading.time_s if self.error is None else None

    def _append_power(self, reading: PowerReading) -> None:
        with self._new_sample:
            if self._times and reading.time_s < self._times[-1]:
                return  # never out of order (a late stream line); the series must be sorted
            self._times.append(reading.time_s)
            self._power.append(reading)
            self._count += 1
            self._new_sample.notify_all()

    def _append_counter(self, reading: CounterReading) -> None:
        with self._new_sample:
            try:
                for domain, raw in reading.counters_uj.items():
                    if domain in self._last_raw:
                        delta = counter_delta(self._last_raw[domain], raw, self.source.max_range_uj.get(domain))
                        self._acc_j[domain] = self._acc_j.get(domain, 0.0) + delta / 1e6
                    else:
                        self._acc_j[domain] = 0.0
                    self._last_raw[domain] = raw
            except ValueError as exc:
                self.error = f"{self.source.name}: {exc}"
                return
            self._times.append(reading.time_s)
            self._cumulative_j.append(dict(self._acc_j))
            self._count += 1
            self._new_sample.notify_all()

    def _fail(self, reason: str) -> None:
        if self.error is None:
            self.error = reason

    # -- window support -------------------------------------------------------------

    @property
    def sample_count(self) -> int:
        return self._count

    def mark(self) -> float:
        """A window edge, with a read right at it for pulled sources.

        For counters the edge *is* the read's time, so the counter difference between
        the two edge reads is the window's energy with no interpolation at all.  For
        power sources the edge is "now" and the read just after it brackets it.
        """
        now = time.perf_counter()
        if not self.source.streaming and not self._stop.is_set():
            read_at = self._sample_once()
            if read_at is not None and self.source.kind == COUNTER:
                return read_at
        return now

    def wait_for_sample_after(self, at_s: float, timeout_s: float) -> bool:
        """Streams only: wait for a sample past the window end so the edge is interpolated."""
        deadline = time.perf_counter() + timeout_s
        with self._new_sample:
            while not (self._times and self._times[-1] >= at_s):
                left = deadline - time.perf_counter()
                if left <= 0 or self.error is not None or self._stop.is_set():
                    return False
                self._new_sample.wait(min(left, 0.05))
        return True

    def discard_before(self, at_s: float) -> None:
        """Forget samples before ``at_s`` but the last one (the left edge needs it)."""
        with self._data_lock:
            keep = max(0, count_in_window(self._times, float("-inf"), at_s) - 1)
            del self._times[:keep]
            if self._power:
                del self._power[:keep]
            if self._cumulative_j:
                del self._cumulative_j[:keep]

    def measure(self, start_s: float, end_s: float) -> EnergyWindow:
        """Energy in [start_s, end_s]; raises ValueError when there is nothing to measure."""
        with self._data_lock:
            times = list(self._times)
            power = list(self._power)
            cumulative = list(self._cumulative_j)
        if not times:
            raise ValueError(f"{self.source.name}: no samples were collected")
        window_s = end_s - start_s
        if self.source.kind == COUNTER:
            domains = sorted(cumulative[-1])
            per_domain = {d: cumulative_delta_j(times, [c.get(d, 0.0) for c in cumulative], start_s, end_s)
                          for d in domains}
            energy_j = sum(e for d, e in per_domain.items() if d not in self.source.excluded_from_total)
            totals = [sum(v for d, v in c.items() if d not in self.source.excluded_from_total) for c in cumulative]
            raw_t, raw_p = _derivative(times, totals, start_s, end_s, self.period_s / 2.0)
            rails = {d: {"energy_j": e, "mean_power_w": e / window_s if window_s > 0 else 0.0}
                     for d, e in per_domain.items()}
        else:
            watts = [r.power_w for r in power]
            energy_j = trapezoid_energy_j(times, watts, start_s, end_s)
            rails = {}
            for rail in sorted({name for r in power for name in r.rails_w}):
                pairs = [(r.time_s, r.rails_w[rail]) for r in power if rail in r.rails_w]
                rail_j = trapezoid_energy_j([p[0] for p in pairs], [p[1] for p in pairs], start_s, end_s)
                rails[rail] = {"energy_j": rail_j, "mean_power_w": rail_j / window_s if window_s > 0 else 0.0}
            inside = [(t, w) for t, w in zip(times, watts) if start_s <= t <= end_s]
            raw_t = [t - start_s for t, _ in inside]
            raw_p = [w for _, w in inside]
        stride = max(1, int(math.ceil(len(raw_t) / float(self.max_raw_samples)))) if self.max_raw_samples else 1
        return EnergyWindow(
            probe=self.source.name,
            energy_j=energy_j,
            window_s=window_s,
            samples=count_in_window(times, start_s, end_s),
            mean_power_w=energy_j / window_s if window_s > 0 else 0.0,
            rails=rails,
            timestamps_s=raw_t[::stride],
            power_w=raw_p[::stride],
            raw_stride=stride,
        )


def _derivative(times: List[float], cumulative_j: List[float], start_s: float, end_s: float,
                min_dt_s: float) -> Tuple[List[float], List[float]]:
    """Mean power between counter reads inside the window, at interval midpoints.

    Intervals shorter than ``min_dt_s`` (an edge read just after a periodic one) are
    merged with a neighbour: counters tick in steps (RAPL about every ms), so a tiny
    interval would show a meaningless 0 W or spike.
    """
    idx = [i for i, t in enumerate(times) if start_s <= t <= end_s]
    spans: List[Tuple[int, int]] = []
    anchor = idx[0] if idx else 0
    for i in idx[1:]:
        if times[i] - times[anchor] >= min_dt_s:
            spans.append((anchor, i))
            anchor = i
    if idx and anchor != idx[-1]:
        if spans:
            spans[-1] = (spans[-1][0], idx[-1])
        else:
            spans.append((anchor, idx[-1]))
    out_t: List[float] = []
    out_p: List[float] = []
    for a, b in spans:
        if times[b] > times[a]:
            out_t.append((times[a] + times[b]) / 2.0 - start_s)
            out_p.append((cumulative_j[b] - cumulative_j[a]) / (times[b] - times[a]))
    return out_t, out_p
