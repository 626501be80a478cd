"""Sustained mode: burst vs sustained p50, the onset of the slowdown, throttle flags.

The analysis is pure and tested on constructed bins exactly; the loop takes its clock as
an argument and is tested on a virtual clock exactly; one end-to-end job runs a fake
backend whose inference sleeps in proportion to 1 / CPU clock, against a fixture sysfs
(the rpi5 tree) that a thread heats from 45 to 85 C and whose clock it halves at "minute
2" -- time scaled down to 2 s of a 6 s run with 0.25 s bins -- and asserts the onset
within one bin of the event.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pytest

from edgebench.agent import runner
from edgebench.agent.backends.base import Backend, LoadedModel, TensorInfo
from edgebench.agent.schema import JobSpec, validate_result
from edgebench.agent.sustained import analyse, bin_table, onset_s, sustained_loop, sustained_window, throttle_flags
from tests.agent.probes.probes_helpers import FIXTURES, write_atomic

FULL_KHZ, HALF_KHZ = 2_400_000, 1_200_000
POLICY = "sys/devices/system/cpu/cpufreq/policy0"
ZONE = "sys/class/thermal/thermal_zone0"


def _bins(p50s: List[float], bin_s: float = 10.0) -> List[Dict[str, Any]]:
    return [{"index": i, "t_start_s": i * bin_s, "t_end_s": (i + 1) * bin_s, "p50_s": v,
             "count": 10, "temp_c": None, "freq_khz": {}, "min_freq_khz": None,
             "throttled_bits": None} for i, v in enumerate(p50s)]


# -- pure analysis, constructed bins ---------------------------------------------------

def test_onset_is_the_first_bin_that_stays_10_percent_slower() -> None:
    assert onset_s(_bins([1.0, 1.05, 1.09, 1.2, 1.3, 1.3]), 1.0) == 30.0
    # one slow bin that recovers is noise, not the onset
    assert onset_s(_bins([1.0, 1.5, 1.0, 1.0, 1.11, 1.2]), 1.0) == 40.0
    assert onset_s(_bins([1.0, 1.1, 1.1, 1.1]), 1.0) is None  # not *more* than 10 %
    assert onset_s(_bins([1.0, 1.0, 1.0, 1.2]), 1.0) == 30.0  # the run ends slow
    assert onset_s(_bins([1.0, 1.5, 1.5]), 1.0, persist_bins=1) == 10.0
    assert onset_s(_bins([]), None) is None


def test_sustained_window_is_the_last_minute_or_last_quarter() -> None:
    long = _bins([1.0] * 60)  # 600 s in 10 s bins
    assert [b["index"] for b in sustained_window(long, 600.0)] == list(range(54, 60))
    short = _bins([1.0] * 24, bin_s=0.25)  # 6 s: the last 1.5 s
    assert [b["index"] for b in sustained_window(short, 6.0)] == list(range(18, 24))
    assert sustained_window(_bins([1.0]), 10.0) == []


def test_throttle_flags_name_the_clock_drop_the_bits_and_the_heat() -> None:
    bins = _bins([1.0, 1.0, 2.0])
    for b, khz, temp in zip(bins, (FULL_KHZ, FULL_KHZ, HALF_KHZ), (45.0, 60.0, 85.0), strict=False):
        b["freq_khz"], b["temp_c"] = {"policy0": khz}, temp
    bins[2]["throttled_bits"] = 0x50005
    flags = throttle_flags(bins, {"temp_c": 45.0, "freq_khz": {"policy0": FULL_KHZ}})
    assert flags == [f"policy0 clock fell from {FULL_KHZ} kHz to {HALF_KHZ} kHz by 30.00 s "
                     f"(lowest {HALF_KHZ} kHz)",
                     "vcgencmd get_throttled=0x50005 seen by 30.00 s",
                     "hottest zone rose from 45.0 C to 85.0 C"]
    assert throttle_flags(_bins([1.0, 1.0]), {"temp_c": None, "freq_khz": {}}) == []


def test_bin_table_and_analysis_on_constructed_latencies() -> None:
    lat = [1.0] * 5 + [2.0] * 5 + [2.0, 2.0, 3.0]
    raw = [{"t_start_s": 0.0, "t_end_s": 1.0, "first": 0, "stop": 5, "env": {"temp_c": 45.0}},
           {"t_start_s": 1.0, "t_end_s": 2.0, "first": 5, "stop": 10, "env": {"temp_c": 70.0}},
           {"t_start_s": 2.0, "t_end_s": 3.0, "first": 10, "stop": 13,
            "env": {"temp_c": 85.0, "freq_khz": {"policy0": HALF_KHZ}}}]
    bins = bin_table(lat, raw)
    assert [b["p50_s"] for b in bins] == [1.0, 2.0, 2.0] and [b["count"] for b in bins] == [5, 5, 3]
    assert bins[2]["min_freq_khz"] == HALF_KHZ and bins[2]["max_s"] == 3.0
    out = analyse(lat, raw, {"temp_c": 45.0, "freq_khz": {"policy0": FULL_KHZ}}, 3.0, 1.0)
    assert out["burst_p50_s"] == 1.0 and out["onset_s"] == 1.0
    # 3 s run: the last quarter (0.75 s) -> the last bin only
    assert out["sustained_p50_s"] == 2.0 and out["sustained_over_burst"] == 2.0
    assert out["temp_max_c"] == 85.0 and out["freq_min_khz"] == HALF_KHZ


# -- the loop on a virtual clock --------------------------------------------------------

class VirtualDevice:
    """Time advances only inside ``infer``: by ``base_ns`` x full clock / current clock."""

    def __init__(self, base_ns: int, event_ns: int) -> None:
        self.now = 0
        self.base_ns, self.event_ns = base_ns, event_ns

    def clock(self) -> int:
        return self.now

    def khz(self) -> int:
        return FULL_KHZ if self.now < self.event_ns else HALF_KHZ

    def infer(self) -> None:
        self.now += self.base_ns * FULL_KHZ // self.khz()

    def env(self) -> Dict[str, Any]:
        heat = min(self.now / self.event_ns, 1.0)
        return {"temp_c": 45.0 + 40.0 * heat, "freq_khz": {"policy0": self.khz()},
                "throttled_bits": None}


def test_loop_bins_on_a_virtual_clock_exactly() -> None:
    dev = VirtualDevice(base_ns=10_000_000, event_ns=2_000_000_000)  # 10 ms, event at 2 s
    lat_ns, raw, env0 = sustained_loop(dev.infer, 6.0, 0.25, dev.env, clock_ns=dev.clock)
    assert env0["temp_c"] == 45.0
    assert len(raw) == 24 and raw[0]["t_start_s"] == 0.0 and raw[-1]["t_end_s"] == 6.0
    assert [r["stop"] - r["first"] for r in raw] == [25] * 8 + [13] + [12, 13] * 7 + [12]
    out = analyse([v / 1e9 for v in lat_ns], raw, env0, 6.0, 0.25)
    assert out["burst_p50_s"] == 0.010 and out["sustained_p50_s"] == 0.020
    assert out["onset_s"] == 2.0  # the event, to the run
    assert out["temp_start_c"] == 45.0 and out["temp_max_c"] == 85.0
    assert out["throttle_flags"][0].startswith(f"policy0 clock fell from {FULL_KHZ} kHz to "
                                               f"{HALF_KHZ} kHz by 2.00 s")


def test_a_run_longer_than_a_bin_skips_the_empty_bins() -> None:
    dev = VirtualDevice(base_ns=600_000_000, event_ns=10**12)  # 0.6 s runs, 0.25 s bins
    _, raw, _ = sustained_loop(dev.infer, 1.8, 0.25, dev.env, clock_ns=dev.clock)
    assert [(r["t_start_s"], r["t_end_s"], r["stop"] - r["first"]) for r in raw] == [
        (0.0, 0.6, 1), (0.6, 1.2, 1), (1.2, 1.8, 1)]


# -- end to end: a fixture device that heats up and throttles --------------------------

class ThrottlingBackend(Backend):
    """A 'model' whose inference sleeps ``base_s`` x full clock / the fixture's current
    clock, so latency doubles when the clock halves; its first timed call starts the
    heater, so the event time is measured from the sustained loop's start."""

    name = "fake"

    def __init__(self, root: Path, base_s: float, on_loop_start: Callable[[], None]) -> None:
        self.freq_file = root / POLICY / "scaling_cur_freq"
        self.base_s = base_s
        self.calls = 0
        self.on_loop_start = on_loop_start

    def load(self, path: str) -> LoadedModel:
        return LoadedModel([TensorInfo("x", [1, 4], "float32")], [TensorInfo("y", [1, 4], "float32")],
                           {"name": "fake", "version": "0", "threads": 1})

    def bind(self, feed: Dict[str, np.ndarray]) -> Callable[[], Any]:
        def infer() -> None:
            self.calls += 1
            if self.calls == 2:  # 1 = the cold first inference; no warm-up runs
                self.on_loop_start()
            time.sleep(self.base_s * FULL_KHZ / int(self.freq_file.read_text()))
        return infer


class Heater:
    """Rewrites the fixture's temperature and clock every 20 ms once started: 45 -> 85 C
    linearly until ``event_s``, and the clock halved from then on."""

    def __init__(self, root: Path, event_s: float) -> None:
        self.temp = root / ZONE / "temp"
        self.freq = root / POLICY / "scaling_cur_freq"
        self.event_s = event_s
        self.t0: Optional[float] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        write_atomic(self.temp, "45000")
        write_atomic(self.freq, str(FULL_KHZ))

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            t = time.perf_counter() - self.t0  # type: ignore[operator]
            write_atomic(self.temp, str(int(45000 + 40000 * min(t / self.event_s, 1.0))))
            write_atomic(self.freq, str(FULL_KHZ if t < self.event_s else HALF_KHZ))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def test_sustained_job_on_a_heating_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "rpi5"
    shutil.copytree(FIXTURES / "rpi5", root, symlinks=True)
    heater = Heater(root, event_s=2.0)
    backend = ThrottlingBackend(root, base_s=0.010, on_loop_start=heater.start)
    monkeypatch.setattr(runner, "make_backend", lambda spec: backend)
    model = tmp_path / "fake.onnx"
    model.write_bytes(b"not read by the fake backend")
    spec = JobSpec.from_dict({
        "job_id": "hot", "model_path": str(model), "format": "onnx",
        "benchmark": {"warmup_runs": 0, "warmup_min_s": 0.0, "mode": "sustained",
                      "duration_s": 6.0, "bin_s": 0.25},
        "probes": {"sysfs_root": str(root), "energy": "none", "idle_s": 0.0,
                   "cooldown_below_c": 50.0}})
    try:
        res = runner.run_job(spec)
    finally:
        heater.stop()
    assert res["status"] == "ok", res.get("error")
    assert validate_result(res) == []
    sus = res["sustained"]
    assert res["timing"]["stop"] == {"reason": "duration"}
    assert 22 <= len(sus["bins"]) <= 25  # 6 s / 0.25 s, the last one may be cut short
    assert abs(sus["onset_s"] - 2.0) <= 0.25, [(b["t_start_s"], b["p50_s"]) for b in sus["bins"]]
    assert sus["sustained_p50_s"] > 1.3 * sus["burst_p50_s"]  # 2x minus sleep overshoot
    assert sus["temp_start_c"] == 45.0 and sus["temp_max_c"] == 85.0
    assert sus["freq_min_khz"] == HALF_KHZ
    assert any(f.startswith(f"policy0 clock fell from {FULL_KHZ} kHz to {HALF_KHZ} kHz")
               for f in sus["throttle_flags"])
    assert res["context"]["temp_start_c"] == 45.0 and res["context"]["started_hot"] is False
    assert res["thermal"]["throttled"] is True  # the probes' own flag agrees
