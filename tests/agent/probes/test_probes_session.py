"""ProbeSession as the runner drives it: settings, auto-selection, streams, failures, cleanup."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Dict

import pytest

from edgebench.agent.probes import ProbeSession, ProbeSettings, sources
from tests.agent.probes.probes_helpers import FIXTURES, LiveDevice

TEXT = FIXTURES / "text"


def drive(session: ProbeSession, min_loop_s: float = 0.0) -> Dict:
    session.before_job()
    session.start_window()
    start = time.perf_counter()
    n = 0
    while not session.window_ready() or time.perf_counter() - start < min_loop_s:
        time.sleep(0.01)
        n += 1
        assert n < 1000, "window_ready() never became true"
    session.stop_window(n)
    session.after_job()
    result = session.result()
    json.dumps(result)  # the agent writes it as JSON
    return result


def test_empty_settings_on_this_machine_answer_with_reasons(probe_threads_gone: None) -> None:
    with ProbeSession({}) as s:
        result = drive(s)
    assert set(result) == {"energy", "thermal", "probe_errors"}
    if result["energy"] is None:  # the usual case here: no RAPL / no access
        [energy_error] = [e for e in result["probe_errors"] if e.startswith("energy:")]
        assert energy_error.startswith("energy: no usable probe (command: no energy_command set; ")
        assert "rapl: " in energy_error and "jetson-ina3221: " in energy_error
    else:  # a machine with a readable probe measures with the defaults
        assert result["energy"]["idle_s"] == pytest.approx(2.0, rel=0.1)
        assert result["energy"]["samples"] >= 20 and result["energy"]["window_s"] >= 1.0


def test_defaults() -> None:
    s = ProbeSettings()
    assert (s.energy, s.sample_hz, s.min_samples, s.min_window_s, s.idle_s, s.thermal) == \
        ("auto", 20.0, 20, 1.0, 2.0, True)
    assert (s.cooldown_below_c, s.cooldown_max_wait_s, s.temp_rise_warn_c) == (None, 60.0, 10.0)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"sample_rate": 10}, "unknown probe setting 'sample_rate'"),
        ({"energy": "ina219"}, "probe setting 'energy' must be one of"),
        ({"energy": "command"}, "'energy_command' is not set"),
        ({"energy_command": "cat /tmp/watts"}, "'energy_command' must be a non-empty list"),
        ({"sample_hz": 0}, "'sample_hz' must be > 0"),
        ({"min_samples": 2.5}, "'min_samples' must be a whole number"),
        ({"thermal": "yes"}, "'thermal' must be true or false"),
    ],
)
def test_bad_settings_name_the_key(settings: Dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ProbeSession(settings)


def test_sysfs_root_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_SYSFS_ROOT", str(FIXTURES / "jetson_nano"))
    assert ProbeSession({}).fs.root == str(FIXTURES / "jetson_nano")
    assert ProbeSession({"sysfs_root": str(FIXTURES / "rpi5")}).fs.root == str(FIXTURES / "rpi5")


def test_auto_prefers_jetson_sysfs_rails_and_says_why(fakebin: Path, probe_threads_gone: None) -> None:
    with ProbeSession({"sysfs_root": str(FIXTURES / "jetson_nano"), "idle_s": 0.2}) as s:
        energy = drive(s)["energy"]
    assert energy["probe"] == "jetson-ina3221"
    assert energy["detection"] == {
        "command": "no energy_command set",
        "jetson-ina3221": "selected: /sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0",
    }
    # Static fixture: 4.52 W on POM_5V_IN, so the trapezoids give exactly 4.52 W x window.
    assert energy["energy_j"] == pytest.approx(4.52 * energy["window_s"], rel=1e-9)
    assert energy["idle_power_w"] == pytest.approx(4.52, rel=1e-9)
    assert energy["net_energy_per_inference_j"] == pytest.approx(0.0, abs=1e-9)
    assert energy["rails"]["POM_5V_CPU"]["mean_power_w"] == pytest.approx(1.078, rel=1e-9)
    assert energy["rails"]["POM_5V_GPU"]["energy_j"] == 0.0


def test_tegrastats_stream(fakebin: Path, monkeypatch: pytest.MonkeyPatch, probe_threads_gone: None) -> None:
    monkeypatch.setenv("FAKE_TEGRASTATS_FILE", str(TEXT / "tegrastats_jp5.txt"))
    with ProbeSession({"energy": "tegrastats", "idle_s": 0.2, "thermal": False}) as s:
        energy = drive(s)["energy"]
    assert energy["probe"] == "tegrastats"
    assert energy["source"].endswith("tegrastats --interval 50")
    total_w = 2.34 + 0.39 + 4.025  # JetPack 5 Orin line: no VDD_IN, so the sum of rails
    assert energy["energy_j"] == pytest.approx(total_w * energy["window_s"], rel=1e-9)
    assert energy["samples"] >= 20
    assert energy["rails"]["VIN_SYS_5V0"]["mean_power_w"] == pytest.approx(4.025, rel=1e-9)


def test_tegrastats_dying_mid_run_is_a_probe_error(fakebin: Path, monkeypatch: pytest.MonkeyPatch,
                                                   probe_threads_gone: None) -> None:
    monkeypatch.setenv("FAKE_TEGRASTATS_FILE", str(TEXT / "tegrastats_jp4.txt"))
    monkeypatch.setenv("FAKE_TEGRASTATS_LINES", "3")
    with ProbeSession({"energy": "tegrastats", "idle_s": 0, "thermal": False}) as s:
        result = drive(s)  # window_ready() turns True once the probe has failed
    assert result["energy"] is None
    assert result["probe_errors"] == ["energy: tegrastats stopped (exit status 3)"]


def test_rapl_permission_lost_at_runtime_is_a_probe_error(tree: Callable[[str], Path],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          probe_threads_gone: None) -> None:
    root = tree("x86_rapl")
    with ProbeSession({"energy": "rapl", "sysfs_root": str(root), "idle_s": 0, "thermal": False}) as s:
        s.before_job()
        s.start_window()

        def denied(path: str) -> int:
            raise PermissionError(13, "Permission denied", path)

        monkeypatch.setattr(sources, "read_int", denied)
        time.sleep(0.1)
        assert s.window_ready() is True  # a dead probe must not hold the timed loop
        s.stop_window(10)
        s.after_job()
        result = s.result()
    assert result["energy"] is None
    [error] = result["probe_errors"]
    assert error.startswith("energy: rapl read failed: [Errno 13] Permission denied")


def test_energy_command_sampled_at_the_configured_rate(probe_threads_gone: None) -> None:
    settings = {"energy": "command", "energy_command": ["sh", "-c", "echo 2.5"], "sample_hz": 25,
                "idle_s": 0, "thermal": False}
    with ProbeSession(settings) as s:
        energy = drive(s)["energy"]
    assert energy["probe"] == "command"
    assert energy["energy_j"] == pytest.approx(2.5 * energy["window_s"], rel=1e-9)
    assert energy["samples"] >= 20
    assert energy["rails"] is None


def test_failing_energy_command_is_refused_with_its_status(probe_threads_gone: None) -> None:
    with ProbeSession({"energy": "command", "energy_command": ["sh", "-c", "echo oops >&2; exit 4"],
                       "idle_s": 0, "thermal": False}) as s:
        result = drive(s)
    assert result["energy"] is None
    assert result["probe_errors"] == ["energy: no usable probe (command: energy_command unusable: "
                                      "sh -c echo oops >&2; exit 4 exited with status 4: oops)"]


def test_pi5_pmic_session(fakebin: Path, probe_threads_gone: None) -> None:
    with ProbeSession({"energy": "rpi5-pmic", "sysfs_root": str(FIXTURES / "rpi5"), "idle_s": 0,
                       "sample_hz": 25}) as s:
        result = drive(s)
    energy = result["energy"]
    assert energy["mean_power_w"] == pytest.approx(2.255586, rel=1e-9)
    assert energy["rails"]["VDD_CORE"]["mean_power_w"] == pytest.approx(0.893, rel=1e-9)
    assert result["thermal"]["throttled"] is True  # the rpi5 fixture holds 1.5 of 2.4 GHz


def test_raw_samples_are_capped(tree: Callable[[str], Path], probe_threads_gone: None) -> None:
    root = tree("x86_rapl")
    t_base = time.perf_counter()
    with LiveDevice(root / "sys/class/powercap/intel-rapl:0/energy_uj", lambda t: int((t - t_base) * 5e6)):
        with ProbeSession({"energy": "rapl", "sysfs_root": str(root), "idle_s": 0, "thermal": False,
                           "max_raw_samples": 5}) as s:
            energy = drive(s)["energy"]
    assert len(energy["power_w"]) <= 5 and len(energy["timestamps_s"]) == len(energy["power_w"])
    assert energy["raw_stride"] >= 4


def test_short_window_is_reported_not_hidden(probe_threads_gone: None) -> None:
    with ProbeSession({"sysfs_root": str(FIXTURES / "jetson_xavier_nx"), "idle_s": 0, "thermal": False}) as s:
        s.before_job()
        s.start_window()
        assert s.window_ready() is False
        s.stop_window(3)  # the runner ignored window_ready()
        s.after_job()
        energy = s.result()["energy"]
    assert energy["energy_j"] == pytest.approx(5072 * 1176 / 1e6 * energy["window_s"], rel=1e-9)
    assert len(energy["warnings"]) == 1 and "did not extend the loop" in energy["warnings"][0]


def test_close_is_idempotent_and_stops_threads(fakebin: Path, monkeypatch: pytest.MonkeyPatch,
                                               probe_threads_gone: None) -> None:
    monkeypatch.setenv("FAKE_TEGRASTATS_FILE", str(TEXT / "tegrastats_jp4.txt"))
    s = ProbeSession({"energy": "tegrastats", "sysfs_root": str(FIXTURES / "rpi5"), "idle_s": 0})
    s.before_job()
    s.start_window()
    s.close()  # mid-window, as after a crashed job
    s.close()
    s.stop_window(1)  # late calls are harmless
    s.after_job()
    result = s.result()
    assert result["energy"] is None
    json.dumps(result)


def test_calls_out_of_order_do_not_raise(probe_threads_gone: None) -> None:
    s = ProbeSession({"energy": "none", "thermal": False})
    assert s.window_ready() is True  # no energy probe: never holds the loop
    s.stop_window(1)
    s.after_job()
    assert s.result() == {"energy": None, "thermal": None, "probe_errors": []}
