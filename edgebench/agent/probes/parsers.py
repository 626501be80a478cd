"""Pure parsers for the text that device tools print.

Kept free of I/O so every format can be tested against the real sample lines quoted
in ``/work/shared/reference/device-sysfs.md`` (sources cited in the tests' fixtures).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

#: Rails that measure the whole board's input on Jetsons (jetson_stats ``jtop/core/power.py``):
#: when one is present it *is* the total; summing it with the other rails would count twice.
BOARD_INPUT_RAILS = ("VDD_IN", "POM_5V_IN")

# ``NAME cur/avg`` (JetPack 4, mW without unit) or ``NAME curmW/avgmW`` (JetPack 5+).
# The look-ahead refuses ``RAM 220/38955MB`` and ``SWAP 0/1978MB`` (other units).
_TEGRA_POWER = re.compile(
    r"(?:^|\s)([A-Za-z][A-Za-z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)"
)

# librerpi/rpi-tools ``pi5_voltage.py`` (quoted in the reference file).
_PMIC_LINE = re.compile(r"([A-Z_0-9]+)_[VA] (current|volt)\(([0-9]+)\)=([0-9.]+)")

_THROTTLED = re.compile(r"throttled=(0x[0-9a-fA-F]+|\d+)")
_NV_POWER_MODE = re.compile(r"NV Power Mode:\s*(.+)")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

#: ``vcgencmd get_throttled`` bits (raspberrypi/utils ``vcgencmd/vcgencmd.1``).
THROTTLE_BITS: Dict[int, str] = {
    0: "under_voltage_now",
    1: "arm_freq_capped_now",
    2: "throttled_now",
    3: "soft_temp_limit_now",
    16: "under_voltage_occurred",
    17: "arm_freq_capped_occurred",
    18: "throttled_occurred",
    19: "soft_temp_limit_occurred",
}

#: Bits that mean the clock was held below what was asked: any of them makes a result
#: suspect.  Under-voltage alone is reported but also counts: the firmware caps on it.
THROTTLE_FLAG_BITS = tuple(THROTTLE_BITS)


@dataclass
class RailPower:
    """One instant of board power: total and per rail, in watts."""

    total_w: float
    rails_w: Dict[str, float] = field(default_factory=dict)
    #: 'input rail VDD_IN' or 'sum of rails': how total_w was formed, for the report.
    total_from: str = ""


def board_total(rails_w: Dict[str, float]) -> RailPower:
    """Board power from rails: the input rail when there is one, else their sum."""
    for name in BOARD_INPUT_RAILS:
        if name in rails_w:
            return RailPower(rails_w[name], dict(rails_w), f"input rail {name}")
    return RailPower(sum(rails_w.values()), dict(rails_w), "sum of rails")


def parse_tegrastats_line(line: str) -> Optional[RailPower]:
    """Power rails of one tegrastats line (either format); None if it has none."""
    rails_w: Dict[str, float] = {}
    for match in _TEGRA_POWER.finditer(line):
        name, current_mw = match.group(1), match.group(2)
        if name in ("RAM", "SWAP", "IRAM"):  # defensive: memory pairs are never power
            continue
        rails_w[name] = int(current_mw) / 1000.0
    if not rails_w:
        return None
    return board_total(rails_w)


def parse_pmic_read_adc(text: str) -> RailPower:
    """Pi 5 PMIC rails: power = the rail's ``_A`` current x its ``_V`` voltage.

    Rails with only a voltage (``EXT5V``, ``BATT``) carry no power figure.  The sum
    covers the PMIC's own rails, not the 5 V input: USB and fan loads are outside it.
    """
    current_a: Dict[str, float] = {}
    volt_v: Dict[str, float] = {}
    for match in _PMIC_LINE.finditer(text):
        name, kind, _channel, value = match.groups()
        (current_a if kind == "current" else volt_v)[name] = float(value)
    rails_w = {name: amps * volt_v[name] for name, amps in current_a.items() if name in volt_v}
    if not rails_w:
        snippet = " ".join(text.split())[:120]
        raise ValueError(f"no PMIC rails in vcgencmd pmic_read_adc output: {snippet!r}")
    return RailPower(sum(rails_w.values()), rails_w, "sum of PMIC rails")


@dataclass
class Throttled:
    """Decoded ``vcgencmd get_throttled``."""

    raw: str
    value: int
    active: List[str]

    def to_dict(self) -> Dict[str, object]:
        return {
            "raw": self.raw,
            "value": self.value,
            "bits": {name: bool(self.value >> bit & 1) for bit, name in THROTTLE_BITS.items()},
            "active": list(self.active),
        }


def parse_get_throttled(text: str) -> Throttled:
    """``throttled=0x50005`` -> value and the names of the set bits."""
    match = _THROTTLED.search(text)
    if not match:
        raise ValueError(f"not a get_throttled answer: {text.strip()[:80]!r}")
    raw = match.group(1)
    value = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
    active = [name for bit, name in sorted(THROTTLE_BITS.items()) if value >> bit & 1]
    return Throttled(raw=raw, value=value, active=active)


def parse_nvpmodel_query(text: str) -> Dict[str, object]:
    """``nvpmodel -q``: ``NV Power Mode: MAXN`` then the mode id on the next line."""
    lines = [line.strip() for line in text.splitlines()]
    for index, line in enumerate(lines):
        match = _NV_POWER_MODE.search(line)
        if match:
            mode_id: Optional[int] = None
            for rest in lines[index + 1 :]:
                if rest:
                    mode_id = int(rest) if rest.isdigit() else None
                    break
            return {"name": match.group(1).strip(), "id": mode_id}
    raise ValueError(f"no 'NV Power Mode' in nvpmodel -q output: {text.strip()[:80]!r}")


def parse_watts(text: str) -> float:
    """A user command's answer: the first number it prints, in watts."""
    match = _NUMBER.search(text)
    if not match:
        raise ValueError(f"energy_command printed no number: {text.strip()[:80]!r}")
    watts = float(match.group(0))
    if watts < 0 or watts != watts or watts == float("inf"):
        raise ValueError(f"energy_command printed {watts!r}, not a power in watts")
    return watts
