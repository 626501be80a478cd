"""Energy sources: where a device tells us its power or energy, one class per kind.

Two shapes exist.  *Power* sources (INA3221, Pi 5 PMIC, hwmon ``power*_input``,
tegrastats, a user command) give instantaneous watts that must be sampled and
integrated.  *Counter* sources (RAPL ``energy_uj``, hwmon ``energy*_input``) give
accumulated microjoules: only reads at the window edges matter, plus periodic reads so
a wrap-around is never missed.  Each ``open_*`` function raises
:class:`ProbeUnavailable` with a reason a user can act on.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .parsers import RailPower, board_total
from .sysfs import ProbeUnavailable, Sysfs, explain_os_error, read_int, read_text

POWER = "power"
COUNTER = "counter"


@dataclass
class PowerReading:
    """One timestamped power sample (``time.perf_counter`` seconds, watts)."""

    time_s: float
    power_w: float
    rails_w: Dict[str, float] = field(default_factory=dict)
    unit: str = "W"


@dataclass
class CounterReading:
    """One timestamped read of raw energy counters, per domain, in microjoules."""

    time_s: float
    counters_uj: Dict[str, int]
    unit: str = "uJ"


class EnergySource:
    """Base: ``read()`` for pulled sources, ``start_stream()`` for pushed ones."""

    name = ""
    kind = POWER
    streaming = False

    def __init__(self, detail: str) -> None:
        #: Which files / command this source uses, for the report.
        self.detail = detail
        #: Counter sources: wrap range per domain (0 = unknown).
        self.max_range_uj: Dict[str, int] = {}
        #: Counter domains left out of the total (e.g. RAPL psys, which contains the package).
        self.excluded_from_total: Tuple[str, ...] = ()

    def read(self):  # -> PowerReading | CounterReading
        raise NotImplementedError

    def start_stream(
        self, on_sample: Callable[[PowerReading], None], on_error: Callable[[str], None]
    ) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release subprocesses; sysfs sources hold nothing."""


# ---------------------------------------------------------------- counters: RAPL, hwmon energy


class CounterFiles(EnergySource):
    """Energy counters read from sysfs files (RAPL ``energy_uj`` or hwmon ``energyK_input``)."""

    kind = COUNTER

    def __init__(self, name: str, files: Dict[str, str], max_range_uj: Dict[str, int],
                 detail: str, excluded: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.name = name
        self.files = files
        self.max_range_uj = dict(max_range_uj)
        self.excluded_from_total = tuple(excluded)

    def read(self) -> CounterReading:
        values = {domain: read_int(path) for domain, path in self.files.items()}
        return CounterReading(time.perf_counter(), values)


def open_rapl(fs: Sysfs) -> CounterFiles:
    """All top-level ``intel-rapl:N`` zones (packages, and psys kept out of the total)."""
    zones: Dict[str, str] = {}
    for pattern in ("/sys/class/powercap/intel-rapl:*", "/sys/devices/virtual/powercap/intel-rapl/intel-rapl:*"):
        for path in fs.glob(pattern):
            if os.path.basename(path).count(":") != 1:  # intel-rapl:0:0 is a subzone
                continue
            zones.setdefault(os.path.realpath(path), path)
    if not zones:
        raise ProbeUnavailable("no /sys/class/powercap/intel-rapl:N zones (not an x86 box with RAPL)")
    files: Dict[str, str] = {}
    ranges: Dict[str, int] = {}
    excluded: List[str] = []
    for path in sorted(zones.values()):
        domain = _read_or(os.path.join(path, "name"), os.path.basename(path))
        if domain in files:
            domain = f"{domain}@{os.path.basename(path)}"
        energy = os.path.join(path, "energy_uj")
        try:
            read_int(energy)
        except OSError as exc:
            raise ProbeUnavailable(explain_os_error(exc, fs.device_path(energy))) from exc
        except ValueError as exc:
            raise ProbeUnavailable(f"{fs.device_path(energy)} is not a number") from exc
        files[domain] = energy
        ranges[domain] = _read_int_or(os.path.join(path, "max_energy_range_uj"), 0)
        if domain.startswith("psys"):
            excluded.append(domain)
    if len(excluded) == len(files):
        excluded = []  # psys alone is still the best figure there is
    detail = ", ".join(fs.device_path(os.path.dirname(p)) for p in files.values())
    return CounterFiles("rapl", files, ranges, detail, excluded)


# ---------------------------------------------------------------- power from sysfs files


class PowerFiles(EnergySource):
    """Power rails computed from sysfs files on every read."""

    def __init__(self, name: str, rails: Dict[str, Callable[[], float]], detail: str,
                 combine: Callable[[Dict[str, float]], RailPower]) -> None:
        super().__init__(detail)
        self.name = name
        self.rails = rails
        self.combine = combine

    def read(self) -> PowerReading:
        start = time.perf_counter()
        rails_w = {rail: reader() for rail, reader in self.rails.items()}
        total = self.combine(rails_w)
        # Stamp the middle of the reads: the rails were read across that span.
        return PowerReading((start + time.perf_counter()) / 2.0, total.total_w, total.rails_w)


def _hwmon_rail(volt_path: str, curr_path: str) -> Callable[[], float]:
    return lambda: read_int(volt_path) * read_int(curr_path) / 1e6  # mV x mA -> W


def _iio_rail(power_path: str) -> Callable[[], float]:
    return lambda: read_int(power_path) / 1e3  # mW -> W


def open_ina3221(fs: Sysfs) -> PowerFiles:
    """Jetson INA3221 rails: hwmon layout (JetPack 5+) first, else the iio one (JetPack 4)."""
    rails: Dict[str, Callable[[], float]] = {}
    used: List[str] = []
    for label_path in fs.glob("/sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in[1-3]_label"):
        directory, base = os.path.split(label_path)
        channel = base[2]
        label = _read_or(label_path, "")
        if not label or label.upper() == "NC":
            continue
        volt = os.path.join(directory, f"in{channel}_input")
        curr = os.path.join(directory, f"curr{channel}_input")
        _add_rail(rails, label, _hwmon_rail(volt, curr), directory)
        used.append(fs.device_path(directory))
    for name_path in fs.glob("/sys/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_[0-2]"):
        directory, base = os.path.split(name_path)
        channel = base[-1]
        label = _read_or(name_path, "")
        if not label or label.upper() == "NC":
            continue
        _add_rail(rails, label, _iio_rail(os.path.join(directory, f"in_power{channel}_input")), directory)
        used.append(fs.device_path(directory))
    if not rails:
        raise ProbeUnavailable("no INA3221 rails under /sys/bus/i2c/drivers/ina3221{,x}/ (not a Jetson)")
    source = PowerFiles("jetson-ina3221", rails, ", ".join(sorted(set(used))), board_total)
    _probe_read(source, fs)
    return source


def _add_rail(rails: Dict[str, Callable[[], float]], label: str, reader: Callable[[], float],
              directory: str) -> None:
    """Same label on two chips (AGX Xavier has two INA3221s): keep both, apart."""
    key = label if label not in rails else f"{label}@{os.path.basename(os.path.dirname(directory))}"
    rails[key] = reader


def _watts_reader(power_path: str) -> Callable[[], float]:
    """A reader of an hwmon ``powerK_input`` (uW) in watts."""
    return lambda: read_int(power_path) / 1e6


def open_hwmon(fs: Sysfs, name_filter: Optional[str] = None) -> EnergySource:
    """Generic hwmon: ``energyK_input`` counters (uJ) when any exist, else ``powerK_input`` (uW)."""
    counters: Dict[str, str] = {}
    powers: Dict[str, Callable[[], float]] = {}
    for directory in fs.glob("/sys/class/hwmon/hwmon*"):
        device = _read_or(os.path.join(directory, "name"), os.path.basename(directory))
        if name_filter and device != name_filter:
            continue
        tag = f"{device}@{os.path.basename(directory)}"
        for path in fs.glob(fs.device_path(directory) + "/energy*_input"):
            label = _read_or(path.replace("_input", "_label"), os.path.basename(path)[:-6])
            counters[f"{tag}:{label}"] = path
        for path in fs.glob(fs.device_path(directory) + "/power*_input"):
            label = _read_or(path.replace("_input", "_label"), os.path.basename(path)[:-6])
            powers[f"{tag}:{label}"] = _watts_reader(path)
    which_devices = f"hwmon devices named {name_filter!r}" if name_filter else "hwmon devices"
    if counters:
        source: EnergySource = CounterFiles(
            "hwmon", counters, {}, ", ".join(fs.device_path(p) for p in counters.values()))
    elif powers:
        source = PowerFiles("hwmon", powers, f"{len(powers)} powerK_input file(s)",
                            lambda rails: RailPower(sum(rails.values()), rails, "sum of hwmon sensors"))
    else:
        raise ProbeUnavailable(f"no {which_devices} with powerK_input or energyK_input files")
    _probe_read(source, fs)
    return source


# ---------------------------------------------------------------- helpers


def _probe_read(source: EnergySource, fs: Sysfs) -> None:
    """Read once now so 'auto' skips a source that exists but cannot be read."""
    try:
        source.read()
    except OSError as exc:
        raise ProbeUnavailable(explain_os_error(exc, fs.device_path(exc.filename or "?"))) from exc
    except ValueError as exc:
        raise ProbeUnavailable(f"{source.name}: unreadable value: {exc}") from exc


def _read_or(path: str, default: str) -> str:
    try:
        return read_text(path)
    except OSError:
        return default


def _read_int_or(path: str, default: int) -> int:
    try:
        return read_int(path)
    except (OSError, ValueError):
        return default
