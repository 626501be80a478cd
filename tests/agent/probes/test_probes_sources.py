"""Energy sources opened on fixture trees: rail arithmetic, layouts, refusals with reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from edgebench.agent.probes import available_probes, sources
from edgebench.agent.probes.sources import (
    COUNTER,
    open_hwmon,
    open_ina3221,
    open_rapl,
)
from edgebench.agent.probes.sysfs import ProbeUnavailable, Sysfs
from edgebench.agent.probes.tools import open_rpi5_pmic
from tests.agent.probes.probes_helpers import FIXTURES


def test_ina3221_hwmon_layout_xavier_nx_uses_vdd_in_as_total() -> None:
    source = open_ina3221(Sysfs(str(FIXTURES / "jetson_xavier_nx")))
    reading = source.read()
    # mV x mA / 1e6 = W, from the fixture files.
    assert reading.rails_w == {
        "VDD_IN": 5072 * 1176 / 1e6,
        "VDD_CPU_GPU_CV": 5064 * 312 / 1e6,
        "VDD_SOC": 5064 * 536 / 1e6,
    }
    assert reading.power_w == 5072 * 1176 / 1e6
    assert source.detail == "/sys/bus/i2c/drivers/ina3221/7-0040/hwmon/hwmon6"


def test_ina3221_agx_orin_two_chips_ignore_nc_and_sum_rails() -> None:
    reading = open_ina3221(Sysfs(str(FIXTURES / "jetson_agx_orin"))).read()
    assert sorted(reading.rails_w) == ["VDDQ_VDD2_1V8AO", "VDD_CPU_CV", "VDD_GPU_SOC", "VIN_SYS_5V0"]
    assert reading.power_w == pytest.approx((4968 * 800 + 4968 * 160 + 4984 * 480 + 4992 * 136) / 1e6, rel=1e-12)


def test_ina3221_iio_layout_nano_uses_pom_5v_in() -> None:
    reading = open_ina3221(Sysfs(str(FIXTURES / "jetson_nano"))).read()
    assert reading.rails_w == {"POM_5V_IN": 4.52, "POM_5V_GPU": 0.0, "POM_5V_CPU": 1.078}
    assert reading.power_w == 4.52


def test_ina3221_absent_says_why(tmp_path: Path) -> None:
    with pytest.raises(ProbeUnavailable, match="not a Jetson"):
        open_ina3221(Sysfs(str(tmp_path)))


def test_rapl_reads_top_level_packages_only_with_their_range() -> None:
    source = open_rapl(Sysfs(str(FIXTURES / "x86_rapl")))
    assert source.kind == COUNTER
    assert list(source.files) == ["package-0"]  # core/uncore subzones are inside the package
    assert source.max_range_uj == {"package-0": 262143328850}
    assert source.read().counters_uj == {"package-0": 12345678}


def test_rapl_psys_is_kept_out_of_the_total(tree: Callable[[str], Path]) -> None:
    root = tree("x86_rapl")
    psys = root / "sys/devices/virtual/powercap/intel-rapl/intel-rapl:1"
    psys.mkdir()
    (psys / "name").write_text("psys\n")
    (psys / "energy_uj").write_text("5\n")
    (psys / "max_energy_range_uj").write_text("262143328850\n")
    source = open_rapl(Sysfs(str(root)))
    assert sorted(source.files) == ["package-0", "psys"]
    assert source.excluded_from_total == ("psys",)


def test_rapl_permission_denied_is_explained(tree: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Recent kernels make energy_uj root-only; tests may run as root, so the refusal is injected."""
    root = tree("x86_rapl")
    real_read_int = sources.read_int

    def denied(path: str) -> int:
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return real_read_int(path)

    monkeypatch.setattr(sources, "read_int", denied)
    with pytest.raises(ProbeUnavailable) as info:
        open_rapl(Sysfs(str(root)))
    assert str(info.value) == (
        "permission denied reading /sys/class/powercap/intel-rapl:0/energy_uj "
        "(root-only on many kernels; run the agent as root or grant read access)"
    )


def test_hwmon_power_and_energy_files(tree: Callable[[str], Path], tmp_path: Path) -> None:
    root = tmp_path / "hw"
    dev = root / "sys/class/hwmon/hwmon2"
    dev.mkdir(parents=True)
    (dev / "name").write_text("fam15h_power\n")
    (dev / "power1_input").write_text("12500000\n")  # uW (sysfs-interface.rst)
    reading = open_hwmon(Sysfs(str(root))).read()
    assert reading.power_w == 12.5
    assert reading.rails_w == {"fam15h_power@hwmon2:power1": 12.5}
    (dev / "energy1_input").write_text("7000000\n")  # uJ: a counter wins over power
    source = open_hwmon(Sysfs(str(root)))
    assert source.kind == COUNTER
    assert source.read().counters_uj == {"fam15h_power@hwmon2:energy1": 7000000}
    with pytest.raises(ProbeUnavailable, match="named 'other'"):
        open_hwmon(Sysfs(str(root)), "other")


def test_pi5_pmic_through_fake_vcgencmd(fakebin: Path) -> None:
    reading = open_rpi5_pmic().read()
    assert reading.power_w == pytest.approx(2.255586, rel=1e-9)
    assert reading.rails_w["VDD_CORE"] == pytest.approx(1.11625 * 0.8, rel=1e-12)


def test_pi4_vcgencmd_without_pmic_is_refused(fakebin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VCGENCMD_PMIC", str(FIXTURES / "text/pmic_read_adc_pi4.txt"))
    with pytest.raises(ProbeUnavailable, match="Pi 5 only"):
        open_rpi5_pmic()


def test_available_probes_on_fixture_devices(fakebin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x86 = available_probes(str(FIXTURES / "x86_rapl"))
    assert x86["energy"]["rapl"]["usable"] is True
    # fakebin puts tegrastats on PATH, so auto would pick it on a Jetson; here sysfs decides:
    assert x86["energy"]["jetson-ina3221"]["usable"] is False
    assert x86["thermal_zones"] == 2 and x86["cpufreq_policies"] == 2
    assert x86["tools"]["vcgencmd"] == str(fakebin / "vcgencmd")

    nx = available_probes(str(FIXTURES / "jetson_xavier_nx"))
    assert nx["auto"] == "jetson-ina3221"

    monkeypatch.setenv("PATH", "/nonexistent")
    bare = available_probes(str(FIXTURES / "x86_rapl"))
    assert bare["auto"] == "rapl"
    assert "not found on PATH" in bare["energy"]["rpi5-pmic"]["reason"]
    assert bare["energy"]["command"]["usable"] is False
