"""Choosing an energy source: by name, or 'auto' in an order that prefers whole-board meters.

'auto' tries the user's command first (they asked for it), then Jetson board rails
(sysfs, then tegrastats when sysfs is unreadable), then the Pi 5 PMIC, then RAPL
(CPU package only), then generic hwmon sensors.  Every refusal keeps its reason so a
result can say why no energy figure exists.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from .settings import ProbeSettings
from .sources import EnergySource, open_hwmon, open_ina3221, open_rapl
from .sysfs import ProbeUnavailable, Sysfs
from .tools import open_command, open_rpi5_pmic, open_tegrastats

AUTO_ORDER = ("command", "jetson-ina3221", "tegrastats", "rpi5-pmic", "rapl", "hwmon")

#: What each source measures, so a report does not compare a CPU package with a whole board.
SCOPE = {
    "command": "whatever the user's meter measures",
    "jetson-ina3221": "board input (VDD_IN / POM_5V_IN) or the sum of the monitored rails",
    "tegrastats": "board input (VDD_IN / POM_5V_IN) or the sum of the monitored rails",
    "rpi5-pmic": "sum of the Pi 5 PMIC rails (excludes 5 V input losses, USB and fan)",
    "rapl": "CPU package(s) and, where present, DRAM - not the whole machine",
    "hwmon": "the sum of the hwmon power/energy sensors found",
}


def open_source(name: str, settings: ProbeSettings, fs: Sysfs) -> EnergySource:
    """Open one named source or raise ProbeUnavailable saying why not."""
    if name == "rapl":
        return open_rapl(fs)
    if name == "jetson-ina3221":
        return open_ina3221(fs)
    if name == "rpi5-pmic":
        return open_rpi5_pmic()
    if name == "hwmon":
        return open_hwmon(fs, settings.hwmon_name)
    if name == "tegrastats":
        return open_tegrastats(settings.sample_hz)
    if name == "command":
        return open_command(settings.energy_command or [])
    raise ProbeUnavailable(f"unknown energy probe {name!r}")


def select_source(settings: ProbeSettings, fs: Sysfs) -> Tuple[Optional[EnergySource], Dict[str, str]]:
    """The source to use and, per probe tried, why it was or was not chosen."""
    reasons: Dict[str, str] = {}
    if settings.energy == "none":
        return None, {"none": "energy measurement switched off (energy: none)"}
    names: List[str] = list(AUTO_ORDER) if settings.energy == "auto" else [settings.energy]
    for name in names:
        if name == "command" and settings.energy == "auto" and not settings.energy_command:
            reasons[name] = "no energy_command set"
            continue
        try:
            source = open_source(name, settings, fs)
        except ProbeUnavailable as exc:
            reasons[name] = str(exc)
            continue
        reasons[name] = f"selected: {source.detail}"
        return source, reasons
    return None, reasons


def explain_none(reasons: Dict[str, str]) -> str:
    """One line for probe_errors when no source could be opened."""
    return "energy: no usable probe (" + "; ".join(f"{k}: {v}" for k, v in reasons.items()) + ")"
