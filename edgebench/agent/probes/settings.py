"""Probe settings (``JobSpec.probes``): defaults, and refusal of anything unknown.

A typo such as ``sample_rate`` must fail loudly before a long job, not be ignored and
leave the user with 20 Hz figures they did not ask for.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Dict, List, Mapping, Optional

ENERGY_PROBES = ("auto", "rapl", "jetson-ina3221", "rpi5-pmic", "hwmon", "tegrastats", "command", "none")


@dataclass
class ProbeSettings:
    """Every key of ``JobSpec.probes``, with its default."""

    energy: str = "auto"
    energy_command: Optional[List[str]] = None  # argv printing watts, for energy 'command'
    sample_hz: float = 20.0  # power sampling rate (counters are also read this often)
    min_samples: int = 20  # window_ready() waits for this many samples in the window ...
    min_window_s: float = 1.0  # ... and this long a window
    idle_s: float = 2.0  # idle baseline before the job; 0 skips it
    sysfs_root: Optional[str] = None  # else $EDGEBENCH_SYSFS_ROOT, else /
    hwmon_name: Optional[str] = None  # energy 'hwmon': only devices with this name
    thermal: bool = True
    thermal_hz: float = 2.0  # thermal/clock sampling during the job
    temp_rise_warn_c: float = 10.0  # warn when the hottest zone rises more than this
    cooldown_below_c: Optional[float] = None  # wait before the job until hottest zone < this
    cooldown_max_wait_s: float = 60.0
    max_raw_samples: int = 2000  # raw power samples kept in the result (decimated beyond)


def _number(key: str, value: Any, *, positive: bool = False, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"probe setting {key!r} must be a number, got {value!r}")
    if value < 0 or (not allow_zero and value == 0) or (positive and value <= 0):
        raise ValueError(f"probe setting {key!r} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def parse_settings(raw: Optional[Mapping[str, Any]]) -> ProbeSettings:
    """Validate ``JobSpec.probes``; ValueError names the offending key."""
    raw = dict(raw or {})
    known = {f.name for f in fields(ProbeSettings)}
    for key in sorted(raw):
        if key not in known:
            raise ValueError(f"unknown probe setting {key!r} (known: {', '.join(sorted(known))})")
    s = ProbeSettings(**{k: v for k, v in raw.items() if v is not None})  # None = default
    if s.energy not in ENERGY_PROBES:
        raise ValueError(f"probe setting 'energy' must be one of {', '.join(ENERGY_PROBES)}, got {s.energy!r}")
    if s.energy_command is not None:
        if isinstance(s.energy_command, str) or not all(isinstance(a, str) for a in s.energy_command) \
                or not s.energy_command:
            raise ValueError("probe setting 'energy_command' must be a non-empty list of argv strings")
        s.energy_command = list(s.energy_command)
    if s.energy == "command" and not s.energy_command:
        raise ValueError("probe setting 'energy' is 'command' but 'energy_command' is not set")
    s.sample_hz = _number("sample_hz", s.sample_hz, positive=True)
    s.thermal_hz = _number("thermal_hz", s.thermal_hz, positive=True)
    s.min_window_s = _number("min_window_s", s.min_window_s)
    s.idle_s = _number("idle_s", s.idle_s)
    s.temp_rise_warn_c = _number("temp_rise_warn_c", s.temp_rise_warn_c)
    s.cooldown_max_wait_s = _number("cooldown_max_wait_s", s.cooldown_max_wait_s)
    for key in ("min_samples", "max_raw_samples"):
        value = getattr(s, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"probe setting {key!r} must be a whole number >= 0, got {value!r}")
    if s.cooldown_below_c is not None:
        if isinstance(s.cooldown_below_c, bool) or not isinstance(s.cooldown_below_c, (int, float)):
            raise ValueError(f"probe setting 'cooldown_below_c' must be a number, got {s.cooldown_below_c!r}")
        s.cooldown_below_c = float(s.cooldown_below_c)
    if not isinstance(s.thermal, bool):
        raise ValueError(f"probe setting 'thermal' must be true or false, got {s.thermal!r}")
    for key in ("sysfs_root", "hwmon_name"):
        value = getattr(s, key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"probe setting {key!r} must be a string, got {value!r}")
    return s


def settings_dict(s: ProbeSettings) -> Dict[str, Any]:
    return {f.name: getattr(s, f.name) for f in fields(ProbeSettings)}
