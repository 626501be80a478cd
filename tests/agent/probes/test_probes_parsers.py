"""Parsers against the real sample lines and trees from device-sysfs.md (see fixtures/README.md)."""

from __future__ import annotations

import pytest

from edgebench.agent.probes.parsers import (
    parse_get_throttled,
    parse_nvpmodel_query,
    parse_pmic_read_adc,
    parse_tegrastats_line,
    parse_watts,
)
from tests.agent.probes.probes_helpers import FIXTURES

TEXT = FIXTURES / "text"


def test_tegrastats_jetpack4_unitless_pairs_are_milliwatts_and_input_rail_is_total() -> None:
    power = parse_tegrastats_line((TEXT / "tegrastats_jp4.txt").read_text())
    assert power is not None
    assert power.rails_w == {"POM_5V_IN": 4.52, "POM_5V_GPU": 0.0, "POM_5V_CPU": 1.078}
    assert power.total_w == 4.52  # POM_5V_IN, not the sum (it already contains GPU and CPU)
    assert power.total_from == "input rail POM_5V_IN"


def test_tegrastats_jetpack5_mw_units_without_input_rail_sum_the_rails() -> None:
    power = parse_tegrastats_line((TEXT / "tegrastats_jp5.txt").read_text())
    assert power is not None
    assert power.rails_w == {"VDD_GPU_SOC": 2.34, "VDD_CPU_CV": 0.39, "VIN_SYS_5V0": 4.025}
    assert power.total_w == pytest.approx(2.34 + 0.39 + 4.025, abs=1e-12)
    assert power.total_from == "sum of rails"


def test_tegrastats_memory_pairs_are_not_power() -> None:
    assert parse_tegrastats_line("RAM 220/38955MB (lfb 847x4MB) SWAP 0/1978MB (cached 0MB)") is None


def test_pi5_pmic_power_is_current_times_voltage_per_rail() -> None:
    power = parse_pmic_read_adc((TEXT / "pmic_read_adc_pi5.txt").read_text())
    # Figures from the fixture: every _A rail times the _V of the same name.
    expected = {
        "3V7_WL_SW": 0.042 * 3.7, "3V3_SYS": 0.075 * 3.3, "1V8_SYS": 0.15 * 1.8,
        "DDR_VDD2": 0.1 * 1.1, "DDR_VDDQ": 0.02 * 0.6, "1V1_SYS": 0.2 * 1.1,
        "0V8_SW": 0.3 * 0.8, "VDD_CORE": 1.11625 * 0.8, "3V3_DAC": 0.0001 * 3.3,
        "3V3_ADC": 0.0005 * 3.3, "0V8_AON": 0.005 * 0.8, "HDMI": 0.02 * 5.0853,
    }
    assert set(power.rails_w) == set(expected)  # EXT5V and BATT have no current: no power
    for rail, watts in expected.items():
        assert power.rails_w[rail] == pytest.approx(watts, rel=1e-12)
    assert power.total_w == pytest.approx(sum(expected.values()), rel=1e-12)
    assert power.total_w == pytest.approx(2.255586, rel=1e-9)  # worked by hand


def test_pi4_without_pmic_is_refused_with_the_output_quoted() -> None:
    with pytest.raises(ValueError, match="Command not registered"):
        parse_pmic_read_adc((TEXT / "pmic_read_adc_pi4.txt").read_text())


@pytest.mark.parametrize(
    "text, value, active",
    [
        ("throttled=0x0", 0, []),
        ("throttled=0x50000", 0x50000, ["under_voltage_occurred", "throttled_occurred"]),
        ("throttled=0x50005\n", 0x50005,
         ["under_voltage_now", "throttled_now", "under_voltage_occurred", "throttled_occurred"]),
        ("throttled=0xe0008", 0xE0008,
         ["soft_temp_limit_now", "arm_freq_capped_occurred", "throttled_occurred", "soft_temp_limit_occurred"]),
    ],
)
def test_get_throttled_bits_are_named(text: str, value: int, active: list) -> None:
    decoded = parse_get_throttled(text)
    assert decoded.value == value
    assert decoded.active == active
    bits = decoded.to_dict()["bits"]
    assert sorted(name for name, on in bits.items() if on) == sorted(active)
    assert len(bits) == 8


def test_get_throttled_garbage_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_get_throttled("error=2 error_msg=\"Command not registered\"")


def test_nvpmodel_query_name_and_id() -> None:
    assert parse_nvpmodel_query((TEXT / "nvpmodel_q.txt").read_text()) == {"name": "MODE_15W", "id": 2}


@pytest.mark.parametrize("text, watts", [("2.5\n", 2.5), ("power=3.25 W", 3.25), ("1e1", 10.0)])
def test_command_output_watts(text: str, watts: float) -> None:
    assert parse_watts(text) == watts


@pytest.mark.parametrize("text", ["", "n/a", "-1.0"])
def test_command_output_without_a_power_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_watts(text)
