"""Thermal and clock flags on fake devices: throttle bits, held clocks, governors, rises, cooldown."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable, Dict

import pytest

from edgebench.agent.probes import ProbeSession
from edgebench.agent.probes.sysfs import Sysfs
from edgebench.agent.probes.thermal import policy_dirs, read_cur_freqs, read_policies, read_zones, snapshot
from tests.agent.probes.probes_helpers import write_atomic

POLICY0 = "sys/devices/system/cpu/cpufreq/policy0"
ZONE0 = "sys/class/thermal/thermal_zone0"


def run_job(root: Path, **settings: object) -> Dict:
    """A job with energy off: only the thermal side is exercised."""
    with ProbeSession({"energy": "none", "sysfs_root": str(root), "idle_s": 0, **settings}) as s:
        s.before_job()
        s.start_window()
        s.stop_window(1)
        s.after_job()
        result = s.result()
    json.dumps(result)
    assert result["energy"] is None
    return result


def test_fake_throttled_pi_is_flagged(tree: Callable[[str], Path], fakebin: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree("rpi5")  # performance governor, scaling_cur_freq 1500000 < max 2400000
    monkeypatch.setenv("FAKE_VCGENCMD_THROTTLED", "0x50005")
    result = run_job(root)
    thermal = result["thermal"]
    assert result["probe_errors"] == []
    assert thermal["throttled"] is True
    assert thermal["governors"] == ["performance"]
    assert thermal["before"]["throttled"]["value"] == 0x50005
    assert thermal["before"]["throttled"]["active"] == [
        "under_voltage_now", "throttled_now", "under_voltage_occurred", "throttled_occurred"]
    assert "throttled: vcgencmd get_throttled=0x50005 before the job: under_voltage_now, throttled_now, " \
           "under_voltage_occurred, throttled_occurred" in thermal["warnings"]
    assert "throttled: policy0 ran at 1500000 kHz before the job, below its maximum 2400000 kHz under the " \
           "'performance' governor (thermal or power capping)" in thermal["warnings"]
    assert thermal["before"]["zones"] == [{"zone": "thermal_zone0", "type": "cpu-thermal", "temp_c": 52.3}]
    assert thermal["before"]["cpufreq"][0]["cpus"] == "0 1 2 3"


def test_healthy_pi_is_not_flagged(tree: Callable[[str], Path], fakebin: Path) -> None:
    root = tree("rpi5")
    write_atomic(root / POLICY0 / "scaling_cur_freq", "2400000")
    thermal = run_job(root)["thermal"]
    assert thermal["throttled"] is False
    assert thermal["warnings"] == []
    assert thermal["before"]["throttled"]["value"] == 0
    assert thermal["temp_rise_c"] == 0.0


def test_throttle_bits_since_boot_alone_flag(tree: Callable[[str], Path], fakebin: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree("rpi5")
    write_atomic(root / POLICY0 / "scaling_cur_freq", "2400000")
    monkeypatch.setenv("FAKE_VCGENCMD_THROTTLED", "0x50000")
    thermal = run_job(root)["thermal"]
    assert thermal["throttled"] is True
    assert thermal["throttle_reasons"] == [
        "vcgencmd get_throttled=0x50000 before the job: under_voltage_occurred, throttled_occurred",
        "vcgencmd get_throttled=0x50000 after the job: under_voltage_occurred, throttled_occurred",
    ]


def test_bits_appearing_during_the_job_are_named(tree: Callable[[str], Path], fakebin: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree("rpi5")
    write_atomic(root / POLICY0 / "scaling_cur_freq", "2400000")
    with ProbeSession({"energy": "none", "sysfs_root": str(root), "idle_s": 0}) as s:
        s.before_job()
        s.start_window()
        monkeypatch.setenv("FAKE_VCGENCMD_THROTTLED", "0x50005")
        s.stop_window(1)
        s.after_job()
        thermal = s.result()["thermal"]
    assert thermal["throttled"] is True
    assert "throttle bits 0x50005 appeared during the job" in thermal["warnings"]


def test_ondemand_governor_warns_but_low_clock_is_not_throttling(tree: Callable[[str], Path]) -> None:
    root = tree("rpi5")
    write_atomic(root / POLICY0 / "scaling_governor", "ondemand")
    thermal = run_job(root)["thermal"]
    assert thermal["throttled"] is False
    assert thermal["governors"] == ["ondemand"]
    assert thermal["warnings"] == ["CPU governor 'ondemand': clocks follow load, so latency varies; "
                                   "set 'performance' for stable figures"]
    assert thermal["before"]["throttled"] is None  # no vcgencmd on PATH: not a Pi


def test_intel_pstate_turbo_ceiling_is_not_throttling() -> None:
    from tests.agent.probes.probes_helpers import FIXTURES

    thermal = run_job(FIXTURES / "x86_rapl")["thermal"]
    assert thermal["throttled"] is False
    assert thermal["governors"] == ["powersave"]
    assert [z["type"] for z in thermal["before"]["zones"]] == ["acpitz", "x86_pkg_temp"]
    assert thermal["hottest_before_c"] == 45.0


def wait_for_samples(session: ProbeSession, n: int, timeout_s: float = 60.0) -> None:
    """Block until the session's thermal monitor has taken ``n`` more samples."""
    monitor = session._monitor
    assert monitor is not None
    target, deadline = monitor.samples + n, time.monotonic() + timeout_s
    while monitor.samples < target:
        assert time.monotonic() < deadline, f"thermal monitor took {monitor.samples} samples"
        time.sleep(0.005)


def test_temperature_rise_during_the_job(tree: Callable[[str], Path], fakebin: Path) -> None:
    root = tree("rpi5")
    write_atomic(root / POLICY0 / "scaling_cur_freq", "2400000")
    write_atomic(root / ZONE0 / "temp", "45000")
    with ProbeSession({"energy": "none", "sysfs_root": str(root), "idle_s": 0, "thermal_hz": 50}) as s:
        s.before_job()
        s.start_window()
        write_atomic(root / ZONE0 / "temp", "58500")
        wait_for_samples(s, 5)  # events, not sleeps: a loaded CI box may sample late
        write_atomic(root / ZONE0 / "temp", "50000")
        wait_for_samples(s, 1)
        s.stop_window(1)
        s.after_job()
        thermal = s.result()["thermal"]
    assert thermal["hottest_before_c"] == 45.0
    assert thermal["hottest_during_c"] == 58.5
    assert thermal["temp_rise_c"] == pytest.approx(13.5, abs=1e-9)
    assert thermal["during"]["max_temp_c"] == {"thermal_zone0": {"type": "cpu-thermal", "temp_c": 58.5}}
    assert thermal["during"]["samples"] >= 5
    assert thermal["after"]["hottest_c"] == 50.0
    assert thermal["throttled"] is False
    assert thermal["warnings"] == ["hottest zone rose 13.5 C during the job (from 45.0 C to 58.5 C; "
                                   "warning above 10 C)"]


def test_clock_held_down_during_the_job_is_caught(tree: Callable[[str], Path]) -> None:
    root = tree("rpi5")
    write_atomic(root / POLICY0 / "scaling_cur_freq", "2400000")
    with ProbeSession({"energy": "none", "sysfs_root": str(root), "idle_s": 0, "thermal_hz": 50}) as s:
        s.before_job()
        s.start_window()
        write_atomic(root / POLICY0 / "scaling_cur_freq", "1800000")
        wait_for_samples(s, 2)
        write_atomic(root / POLICY0 / "scaling_cur_freq", "2400000")
        s.stop_window(1)
        s.after_job()
        thermal = s.result()["thermal"]
    assert thermal["during"]["min_freq_khz"] == {"policy0": 1800000}
    assert thermal["throttled"] is True
    assert thermal["throttle_reasons"] == ["policy0 ran at 1800000 kHz during the job, below its maximum "
                                           "2400000 kHz under the 'performance' governor (thermal or power capping)"]


def test_cooldown_gives_up_after_max_wait(tree: Callable[[str], Path]) -> None:
    root = tree("rpi5")
    write_atomic(root / ZONE0 / "temp", "70000")
    thermal = run_job(root, cooldown_below_c=60, cooldown_max_wait_s=0.3)["thermal"]
    assert 0.3 <= thermal["cooldown_wait_s"] < 1.0
    assert any(w.startswith("cooldown: hottest zone still at or above 60 C") for w in thermal["warnings"])


def test_cooldown_waits_until_the_zone_is_cool(tree: Callable[[str], Path]) -> None:
    root = tree("rpi5")
    write_atomic(root / POLICY0 / "scaling_cur_freq", "2400000")
    write_atomic(root / ZONE0 / "temp", "70000")
    cooler = threading.Timer(0.2, lambda: write_atomic(root / ZONE0 / "temp", "55000"))
    cooler.start()
    try:
        thermal = run_job(root, cooldown_below_c=60, cooldown_max_wait_s=5)["thermal"]
    finally:
        cooler.cancel()
    assert 0.2 <= thermal["cooldown_wait_s"] < 1.5
    assert thermal["hottest_before_c"] == 55.0
    assert thermal["warnings"] == []


def test_cooldown_not_asked_is_none(tree: Callable[[str], Path]) -> None:
    assert run_job(tree("rpi5"))["thermal"]["cooldown_wait_s"] is None


def test_jetson_power_mode_from_nvpmodel(tree: Callable[[str], Path], fakebin: Path) -> None:
    errors: list = []
    snap = snapshot(Sysfs(str(tree("jetson_xavier_nx"))), errors)
    assert snap.power_mode == {"name": "MODE_15W", "id": 2}
    assert errors == []


def test_unreadable_zone_is_skipped_and_listed(tree: Callable[[str], Path]) -> None:
    root = tree("rpi5")
    bad = root / "sys/class/thermal/thermal_zone1"
    bad.mkdir()
    (bad / "type").write_text("iwlwifi_1\n")
    (bad / "temp").write_text("\n")  # stands in for EINVAL/ENODATA from a disabled sensor
    fs = Sysfs(str(root))
    unreadable: list = []
    assert [z.zone for z in read_zones(fs, unreadable=unreadable)] == ["thermal_zone0"]
    assert unreadable == ["/sys/class/thermal/thermal_zone1/temp"]


def test_per_cpu_cpufreq_layout_without_policy_dirs(tmp_path: Path) -> None:
    for cpu in (0, 1):
        d = tmp_path / f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_governor").write_text("schedutil\n")
        (d / "scaling_cur_freq").write_text("600000\n")
        (d / "cpuinfo_cur_freq").write_text("700000\n")
        (d / "scaling_max_freq").write_text("1500000\n")
    policies = read_policies(Sysfs(str(tmp_path)))
    assert [(p.policy, p.cpus, p.cur_freq_khz) for p in policies] == [("cpu0", "0", 700000), ("cpu1", "1", 700000)]


def test_read_cur_freqs_prefers_the_hardware_clock(tree: Callable[[str], Path]) -> None:
    """The one live-clock reader (thermal sampler and sustained bins): cpuinfo_cur_freq
    where readable, else scaling_cur_freq; a policy with neither is left out."""
    root = tree("rpi5")  # scaling_cur_freq 1500000
    fs = Sysfs(str(root))
    assert read_cur_freqs(policy_dirs(fs)) == {"policy0": 1500000}
    write_atomic(root / POLICY0 / "cpuinfo_cur_freq", "1400000")
    (root / "sys/devices/system/cpu/cpufreq/policy4").mkdir()
    assert read_cur_freqs(policy_dirs(fs)) == {"policy0": 1400000}
