"""The run context: governor, clock limits, start temperature and other processes' load,
read from a fixture root (the rpi5 sysfs tree plus a hand-made /proc, proc(5) formats)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edgebench.agent.context import FOREIGN_LOAD_CORES, own_lineage, parse_stat, run_context, top_consumers
from edgebench.agent.probes.sysfs import Sysfs
from tests.agent.probes.probes_helpers import FIXTURES


def _stat(pid: int, comm: str, ppid: int, utime: int, stime: int) -> str:
    """A /proc/PID/stat line (proc(5)): pid (comm) state ppid pgrp session tty_nr tpgid
    flags minflt cminflt majflt cmajflt utime stime cutime cstime ..."""
    return (f"{pid} ({comm}) R {ppid} {pid} {pid} 0 -1 4194304 100 0 0 0 {utime} {stime} "
            "0 0 20 0 1 0 12345 1000000 200 18446744073709551615")


def test_parse_stat_counts_fields_from_the_last_parenthesis() -> None:
    assert parse_stat(_stat(42, "python", 1, 300, 20)) == ("python", 1, 320)
    assert parse_stat(_stat(43, "a) (b c", 42, 5, 5)) == ("a) (b c", 42, 10)
    assert parse_stat("garbage") is None and parse_stat("1 (x) R") is None


def test_top_consumers_on_constructed_snapshots() -> None:
    before = {1: ("init", 0, 100), 10: ("agent", 1, 0), 20: ("make", 1, 1000),
              30: ("cc1", 20, 50), 40: ("idle-daemon", 1, 7)}
    after = {1: ("init", 0, 100), 10: ("agent", 1, 90), 20: ("make", 1, 1040),
             30: ("cc1", 20, 110), 40: ("idle-daemon", 1, 7), 50: ("new", 1, 500)}
    cores, top = top_consumers(before, after, interval_s=0.5, ticks_per_s=100, exclude=[10, 1])
    # make: 40 ticks / 100 Hz / 0.5 s = 0.8 cores; cc1: 60 ticks -> 1.2 cores; the agent
    # (excluded) and a process born in the window (no baseline) do not count
    assert cores == pytest.approx(2.0)
    assert [(p["comm"], p["cpu_pct"]) for p in top] == [("cc1", pytest.approx(120.0)),
                                                      ("make", pytest.approx(80.0))]
    assert top_consumers(before, after, 0.0, 100) == (0.0, [])


def test_own_lineage_walks_the_parents() -> None:
    procs = {1: ("init", 0, 0), 5: ("sshd", 1, 0), 9: ("bash", 5, 0), 12: ("python", 9, 0)}
    assert own_lineage(procs, 12) == [12, 9, 5, 1]
    assert own_lineage({7: ("loop", 7, 0)}, 7) == [7]  # a cycle ends the walk


def _proc(root: Path, pid: int, comm: str, ppid: int, ticks: int) -> None:
    d = root / "proc" / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    (d / "stat").write_text(_stat(pid, comm, ppid, ticks, 0) + "\n")


@pytest.fixture
def device(tmp_path: Path) -> Path:
    root = tmp_path / "rpi5"
    shutil.copytree(FIXTURES / "rpi5", root, symlinks=True)
    (root / "proc").mkdir()
    (root / "proc" / "loadavg").write_text("1.52 0.80 0.41 3/210 4321\n")
    _proc(root, 1, "systemd", 0, 500)
    _proc(root, 100, "agent", 1, 10)
    _proc(root, 200, "stress-ng", 1, 0)
    return root


def test_context_marks_a_hot_start_and_foreign_load(device: Path) -> None:
    clock = [0.0]

    hz = os.sysconf("SC_CLK_TCK")  # the kernel's tick rate, what /proc/PID/stat counts in

    def sleep(s: float) -> None:  # the window passes: stress-ng burns 1.5 cores, we 1
        clock[0] += s
        _proc(device, 200, "stress-ng", 1, int(1.5 * hz * s))
        _proc(device, 100, "agent", 1, 10 + int(hz * s))

    ctx = run_context(Sysfs(str(device)), sample_s=0.5, cooldown_below_c=50.0, pid=100,
                      sleep=sleep, clock=lambda: clock[0])
    assert ctx["governors"] == ["performance"]
    policy = ctx["cpufreq"][0]
    assert policy["scaling_max_freq_khz"] == 2400000 and policy["cur_freq_khz"] == 1500000
    assert ctx["temp_start_c"] == 52.3 and ctx["temp_start_zone"] == "cpu-thermal"
    assert ctx["started_hot"] is True  # 52.3 C > cooldown_below_c 50
    assert ctx["loadavg"] == [1.52, 0.80, 0.41]
    assert ctx["window_s"] == 0.5
    assert ctx["foreign_cpu_cores"] == pytest.approx(1.5) and 1.5 >= FOREIGN_LOAD_CORES
    assert ctx["foreign_load"] is True
    assert [p["comm"] for p in ctx["top_processes"]] == ["stress-ng"]
    assert len(ctx["warnings"]) == 2 and "stress-ng (150 %)" in ctx["warnings"][1]


def test_context_of_a_cool_quiet_device(device: Path) -> None:
    (device / "sys/class/thermal/thermal_zone0/temp").write_text("41000\n")
    ctx = run_context(Sysfs(str(device)), sample_s=0.5, cooldown_below_c=45.0, pid=100,
                      sleep=lambda s: None, clock=iter([0.0, 0.5]).__next__)
    assert ctx["started_hot"] is False and ctx["foreign_load"] is False
    assert ctx["foreign_cpu_cores"] == 0.0 and ctx["warnings"] == []


def test_unknown_is_not_false(tmp_path: Path) -> None:
    """No /proc and no thermal zone under the root: the flags are None, not a clean bill."""
    ctx = run_context(Sysfs(str(tmp_path)), sample_s=0.1, cooldown_below_c=45.0)
    assert ctx["started_hot"] is None and ctx["foreign_load"] is None
    assert ctx["loadavg"] is None and ctx["temp_start_c"] is None and ctx["cpufreq"] == []
