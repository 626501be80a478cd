"""ProbeSession: the one object the runner drives around a job.

Its contract is failure-proof: a probe that cannot start or dies mid-run records a
reason in ``probe_errors`` and the job goes on; nothing here raises after
``__init__`` (which does raise ValueError on bad settings, before any work is done).
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Mapping, Optional

from .detect import SCOPE, explain_none, select_source
from .energy import EnergyMeter, EnergyWindow
from .settings import ProbeSettings, parse_settings, settings_dict
from .sources import EnergySource
from .sysfs import Sysfs
from .thermal import ThermalMonitor, ThermalSnapshot, snapshot, wait_until_cool
from .thermal_summary import summarize


class ProbeSession:
    """Energy, thermal and clock probes for one job; see docs/probes.md for the call order."""

    def __init__(self, settings: Optional[Mapping[str, Any]] = None, *, n_threads_hint: int = 1) -> None:
        self.settings: ProbeSettings = parse_settings(settings)
        self.n_threads_hint = n_threads_hint
        self.fs = Sysfs(self.settings.sysfs_root)
        self.probe_errors: List[str] = []
        self._started = False
        self._closed = False
        self._source: Optional[EnergySource] = None
        self._detection: Dict[str, str] = {}
        self._meter: Optional[EnergyMeter] = None
        self._idle: Optional[EnergyWindow] = None
        self._window: Optional[EnergyWindow] = None
        self._t0: Optional[float] = None
        self._count_at_t0 = 0
        self._n_inferences: Optional[int] = None
        self._monitor: Optional[ThermalMonitor] = None
        self._before: Optional[ThermalSnapshot] = None
        self._after: Optional[ThermalSnapshot] = None
        self._cooldown: Dict[str, Any] = {}

    # -- context manager ---------------------------------------------------------------

    def __enter__(self) -> "ProbeSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the runner's calls, in order ----------------------------------------------------

    def before_job(self) -> None:
        """Cool down, take the 'before' snapshot, start samplers, measure idle power."""
        if self._started or self._closed:
            return
        self._started = True
        s = self.settings
        if s.cooldown_below_c is not None:
            waited, reached, last = wait_until_cool(self.fs, s.cooldown_below_c, s.cooldown_max_wait_s)
            self._cooldown = {"wait_s": waited, "reached": reached, "last_hottest_c": last}
        if s.thermal:
            self._guard("thermal", self._start_thermal)
        self._guard("energy", self._start_energy)

    def start_window(self) -> None:
        """The timed loop starts now."""
        if not self._started:
            self.before_job()
        if self._meter is None or self._meter.error:
            self._t0 = time.perf_counter()
            return
        self._count_at_t0 = self._meter.sample_count
        self._t0 = self._meter.mark()
        self._meter.discard_before(self._t0)

    def window_ready(self) -> bool:
        """Cheap (no I/O): does the window hold enough samples and time for a figure?"""
        meter = self._meter
        if meter is None or meter.error is not None:
            return True
        if self._t0 is None:
            return False
        return (meter.sample_count - self._count_at_t0 >= self.settings.min_samples
                and time.perf_counter() - self._t0 >= self.settings.min_window_s)

    def stop_window(self, n_inferences: int) -> None:
        """The timed loop ended after ``n_inferences`` runs: measure, stop energy sampling."""
        self._n_inferences = n_inferences
        meter, t0 = self._meter, self._t0
        if meter is None or t0 is None or self._closed:
            return
        t1 = meter.mark()
        if meter.source.streaming:
            meter.wait_for_sample_after(t1, timeout_s=3.0 * meter.period_s + 1.0)
        meter.stop()
        if meter.error is not None:
            self._error(f"energy: {meter.error}")
            return
        try:
            self._window = meter.measure(t0, t1)
        except ValueError as exc:
            self._error(f"energy: {exc}")

    def after_job(self) -> None:
        """Take the 'after' snapshot and stop every thread."""
        if self._monitor is not None:
            self._monitor.stop()
        if self.settings.thermal and self._before is not None and self._after is None:
            self._guard("thermal", self._take_after)
        self.close()

    def close(self) -> None:
        """Stop every thread and subprocess; safe to call any number of times."""
        if self._closed:
            return
        self._closed = True
        for stopper in (self._monitor, self._meter):
            if stopper is not None:
                try:
                    stopper.stop()
                except Exception as exc:  # noqa: BLE001 - closing must not raise
                    self._error(f"closing probes: {exc}")
        if self._meter is None and self._source is not None:
            self._source.close()

    def result(self) -> Dict[str, Any]:
        """Plain JSON: ``{"energy": ... | None, "thermal": ... | None, "probe_errors": [...]}``."""
        thermal = None
        if self.settings.thermal and (self._before is not None or self._after is not None):
            thermal = summarize(
                self._before,
                self._monitor.to_dict() if self._monitor else None,
                self._after,
                temp_rise_warn_c=self.settings.temp_rise_warn_c,
                cooldown_wait_s=self._cooldown.get("wait_s"),
                cooldown_reached=self._cooldown.get("reached"),
                cooldown_below_c=self.settings.cooldown_below_c,
            )
        return {"energy": self._energy_dict(), "thermal": thermal, "probe_errors": list(self.probe_errors)}

    # -- internals -----------------------------------------------------------------------

    def _start_thermal(self) -> None:
        errors: List[str] = []
        self._before = snapshot(self.fs, errors)
        self.probe_errors.extend(f"thermal: {e}" for e in errors)
        if not self._before.zones and not self._before.cpufreq:
            self._error(f"thermal: no thermal zones or cpufreq policies under {self.fs.root}")
        self._monitor = ThermalMonitor(self.fs, self.settings.thermal_hz)
        self._monitor.start()

    def _take_after(self) -> None:
        errors: List[str] = []
        self._after = snapshot(self.fs, errors)
        self.probe_errors.extend(f"thermal (after): {e}" for e in errors)

    def _start_energy(self) -> None:
        s = self.settings
        self._source, self._detection = select_source(s, self.fs)
        if self._source is None:
            if s.energy != "none":
                self._error(explain_none(self._detection))
            return
        self._meter = EnergyMeter(self._source, s.sample_hz, s.max_raw_samples)
        self._meter.start()
        if s.idle_s <= 0:
            return
        start = self._meter.mark()
        time.sleep(s.idle_s)
        end = self._meter.mark()
        if self._source.streaming:
            self._meter.wait_for_sample_after(end, timeout_s=3.0 * self._meter.period_s + 1.0)
        if self._meter.error is None:
            try:
                self._idle = self._meter.measure(start, end)
            except ValueError as exc:
                self._error(f"energy (idle baseline): {exc}")

    def _energy_dict(self) -> Optional[Dict[str, Any]]:
        w = self._window
        if w is None or self._source is None:
            return None
        n = self._n_inferences or 0
        idle_w = self._idle.mean_power_w if self._idle is not None else None
        warnings: List[str] = []
        if w.samples < self.settings.min_samples or w.window_s < self.settings.min_window_s:
            warnings.append(f"window held {w.samples} samples over {w.window_s:.3f} s, under the "
                            f"{self.settings.min_samples} samples / {self.settings.min_window_s:g} s asked "
                            "for: the runner did not extend the loop until window_ready()")
        cpus = os.cpu_count() or 1
        if self._source.name in ("rpi5-pmic", "command") and self.n_threads_hint >= cpus:
            warnings.append(f"{self._source.name} runs a process per sample while the job uses all "
                            f"{cpus} cores: lower sample_hz if latency matters more than power detail")
        return {
            "probe": w.probe,
            "energy_j": w.energy_j,
            "energy_per_inference_j": w.energy_j / n if n > 0 else None,
            "net_energy_per_inference_j": ((w.energy_j - idle_w * w.window_s) / n
                                           if n > 0 and idle_w is not None else None),
            "mean_power_w": w.mean_power_w,
            "idle_power_w": idle_w,
            "idle_s": self._idle.window_s if self._idle is not None else None,
            "window_s": w.window_s,
            "samples": w.samples,
            "n_inferences": n,
            "rails": w.rails or None,
            "scope": SCOPE.get(w.probe, ""),
            "source": self._source.detail,
            "detection": dict(self._detection),
            "timestamps_s": w.timestamps_s,
            "power_w": w.power_w,
            "raw_stride": w.raw_stride,
            "sample_hz": self.settings.sample_hz,
            "warnings": warnings,
        }

    def _guard(self, what: str, action) -> None:
        """Run a probe step; any failure becomes a probe error, never the job's."""
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - a probe must never crash a job
            self._error(f"{what}: {type(exc).__name__}: {exc}")

    def _error(self, message: str) -> None:
        if message not in self.probe_errors:
            self.probe_errors.append(message)


def settings_with_defaults(settings: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The full settings dict (defaults filled in), for a result's provenance."""
    return settings_dict(parse_settings(settings))
