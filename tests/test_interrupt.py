"""Ctrl-C at any moment of ``edgebench run``: during the variant build, while an agent is
being started, in the middle of a job, while the reports are written, during the store
ingest -- and a second Ctrl-C 20 ms after the first.

Each test runs the real command in a subprocess and sends SIGINT when an event shows the
run is at that moment (a progress line on stderr, an agent process in the controller's
process tree, a journal line), never after a fixed sleep.  The controller is started with
SIGINT *ignored*, as a background job of a non-interactive shell (and some CI runners)
starts it: that is how Ctrl-C used to be lost on a fresh machine -- Python then installs
no KeyboardInterrupt handler -- and ``edgebench run`` must stop all the same.

Every case asserts: exit 130 within :data:`SIGNAL_TO_EXIT_S` of the (first) signal, every
finished job in results.jsonl and no other, run.json with ``interrupted: true``, counts and
``finished_at``, the exact resume command on stderr, and no agent process left behind.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import psutil
import pytest

from edgebench.agent_bundle import AGENT_PACKAGE
from edgebench.results.journal import read_journal
from tests.test_run import devices_file, suite_file, wrapper

#: The issue's bound, from the (first) SIGINT to the controller's exit.  Measured on the
#: 2-core development machine (load average 3 to 15): 0.03-0.42 s in every case; the
#: stages left behind (build, report, store) take the 0.3 s grace on top.
SIGNAL_TO_EXIT_S = 2.0
#: How long to wait for the event that marks a moment (a build, an agent start) on a
#: loaded machine; a bound against hanging, not a timing assertion.
EVENT_TIMEOUT_S = 180.0

QUICK = ("benchmark: {warmup_runs: 2, warmup_min_s: 0, min_runs: 20, min_duration_s: 0.05, "
         "max_duration_s: 5}\n")
LONG = ("benchmark: {warmup_runs: 2, warmup_min_s: 0, min_runs: 20, min_duration_s: 30, "
        "max_duration_s: 60}\n")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Controller:
    """``python -m edgebench run ...`` in a subprocess, with its stderr lines and process
    tree observable while it runs."""

    def __init__(self, tmp_path: Path, argv: list[str], env: Optional[dict[str, str]] = None) -> None:
        self.tmp_path = tmp_path
        self.out = tmp_path / "results"
        full_env = {**os.environ, "EDGEBENCH_CACHE": str(tmp_path / "cache"), **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "edgebench", "run", *argv],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=full_env, preexec_fn=_ignore_sigint)
        self.ps = psutil.Process(self.proc.pid)
        self.lines: list[str] = []
        self.stdout = ""
        self._readers = [threading.Thread(target=self._read_err, daemon=True),
                         threading.Thread(target=self._read_out, daemon=True)]
        for t in self._readers:
            t.start()
        self.signalled_at: Optional[float] = None
        self.agents_at_signal: list[psutil.Process] = []

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, what: str, predicate: Callable[[], Any]) -> Any:
        """Poll ``predicate`` until it returns something truthy; fail (never hang) if the
        controller exits first or the event does not come."""
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                pytest.fail(f"controller exited {self.proc.returncode} before {what}:\n{self.stderr}")
            time.sleep(0.02)
        self.proc.kill()
        pytest.fail(f"no {what} within {EVENT_TIMEOUT_S} s:\n{self.stderr}")

    def line(self, text: str) -> bool:
        return any(text in ln for ln in list(self.lines))

    def agents(self, arg: Optional[str] = None) -> list[psutil.Process]:
        """The controller's descendants that are agents (after their exec), optionally only
        those with ``arg`` (``info``, ``run``) on their command line."""
        found = []
        try:
            children = self.ps.children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for child in children:
            try:
                cmdline = child.cmdline()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue  # gone, or between fork and exec
            if AGENT_PACKAGE in " ".join(cmdline) and (arg is None or arg in cmdline):
                found.append(child)
        return found

    def interrupt(self, times: int = 1, sig: int = signal.SIGINT) -> None:
        """SIGINT now (and again 20 ms later for ``times=2``); remembers the agents alive."""
        self.agents_at_signal = self.agents()
        self.signalled_at = time.monotonic()
        self.proc.send_signal(sig)
        for _ in range(times - 1):
            time.sleep(0.02)  # the scenario itself: a second Ctrl-C 20 ms after the first
            self.proc.send_signal(sig)

    def finish(self) -> tuple[int, float]:
        """Exit code and seconds from the (first) signal to the controller's exit."""
        assert self.signalled_at is not None
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"controller still running 60 s after SIGINT:\n{self.stderr}")
        elapsed = time.monotonic() - self.signalled_at
        for t in self._readers:
            t.join(timeout=10)
        print(f"signal-to-exit {elapsed:.3f} s")  # shown with pytest -s; quoted in the docs
        return rc, elapsed

    def run_dir(self) -> Path:
        (run_dir,) = [p for p in self.out.iterdir() if p.is_dir()]
        return run_dir

    def journal_lines(self) -> int:
        found = list(self.out.glob("*/results.jsonl"))
        return found[0].read_text().count("\n") if found else 0


def _no_agent_left(ctl: Controller, workdir: Path) -> None:
    """Every agent alive at the signal is gone, and no process runs from the device's
    workdir (one started after the signal would show there)."""
    def running(p: psutil.Process) -> bool:
        try:
            return p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    _, alive = psutil.wait_procs(ctl.agents_at_signal, timeout=2)  # killed ones are reaped already
    alive = [p for p in alive if running(p)]
    assert alive == [], f"agents left running: {alive}"
    stray = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if str(workdir) in " ".join(p.info["cmdline"] or []):
            stray.append(p.info)
    assert stray == [], f"agent processes left behind: {stray}"


def _check_stopped(ctl: Controller, rc: int, elapsed: float, resume_args: str,
                   expected_rc: int = 130) -> dict[str, Any]:
    """What every interrupted run must show; returns run.json."""
    err = ctl.stderr
    assert rc == expected_rc, err
    assert elapsed < SIGNAL_TO_EXIT_S, f"exit {elapsed:.2f} s after SIGINT\n{err}"
    assert "Traceback" not in err, err
    run_dir = ctl.run_dir()
    run_id = run_dir.name
    assert f"edgebench: interrupted: run {run_id} stopped;" in err
    assert f"edgebench: continue with: edgebench run {resume_args.format(run_id=run_id)}" in err.splitlines()[-1]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True and meta["finished_at"], meta
    return meta


def _setup(tmp_path: Path, mlp_onnx: Path, bench: str, *, python: Optional[Path] = None) -> tuple[Path, Path, Path]:
    workdir = tmp_path / "devwork"
    py = f"    python: '{python}'\n" if python else ""
    devs = devices_file(tmp_path, f"  box:\n    kind: local\n    workdir: '{workdir}'\n{py}")
    suite = suite_file(tmp_path, mlp_onnx, extra=bench, devices="[box]")
    return suite, devs, workdir


def _argv(tmp_path: Path, suite: Path, devs: Path) -> list[str]:
    return [str(suite), "--devices", str(devs), "--out", str(tmp_path / "results"), "--no-store"]


def _resume_args(tmp_path: Path, suite: Path, devs: Path) -> str:
    return (f"{suite} --resume {{run_id}} --out {tmp_path / 'results'} --devices {devs} --no-store")


def _digits_suite(tmp_path: Path, bench: str, variants: str = "  - {name: fp32, steps: []}\n") -> Path:
    """digits-cnn, trained with torch when its source loads: the controller then holds torch."""
    from tests.conftest import require_real

    require_real("torch", "sklearn")
    path = tmp_path / "suite.yaml"
    path.write_text("name: b\ndevices: [box]\nmodels:\n  - name: digits-cnn\n    builtin: digits-cnn\n"
                    "    formats: [onnx]\n    data: digits\nvariants:\n" + variants + bench)
    return path


@pytest.mark.parametrize("times", [1, 2], ids=["one-sigint", "two-sigints"])
def test_ctrl_c_during_the_variant_build(tmp_path: Path, times: int) -> None:
    """SIGINT while digits-cnn trains (its source loading): seconds of native work the main
    thread could not leave before; now the build runs beside it."""
    suite = _digits_suite(tmp_path, QUICK, "  - {name: fp32, steps: []}\n"
                                           "  - {name: int8, steps: [{quantize: {mode: dynamic}}]}\n")
    workdir = tmp_path / "devwork"
    devs = devices_file(tmp_path, f"  box:\n    kind: local\n    workdir: '{workdir}'\n")
    ctl = Controller(tmp_path, _argv(tmp_path, suite, devs))
    ctl.wait_for("build progress line", lambda: ctl.line("digits-cnn [onnx]: loading source"))
    ctl.interrupt(times)
    rc, elapsed = ctl.finish()
    meta = _check_stopped(ctl, rc, elapsed, _resume_args(tmp_path, suite, devs))
    assert meta["complete"] is False and meta["jobs_planned"] is None
    assert meta["counts"] == {"ok": 0, "failed": 0, "skipped": 0}
    assert not ctl.line("running ") and ctl.journal_lines() == 0  # no job was started
    assert not ctl.line("[onnx]: building"), "the build went on past the Ctrl-C"
    _no_agent_left(ctl, workdir)


@pytest.mark.parametrize("which,model", [("info", "mlp"), ("run", "mlp"), ("run", "digits-cnn")])
def test_ctrl_c_while_an_agent_is_starting(tmp_path: Path, mlp_onnx: Path, which: str, model: str) -> None:
    """SIGINT as soon as the device's first agent process exists: ``agent info`` (the
    inventory) or the first job's agent, still starting its interpreter.  With digits-cnn
    the controller holds torch, whose interpreter teardown alone took 1.3 s or more."""
    suite, devs, workdir = _setup(tmp_path, mlp_onnx, LONG)
    if model == "digits-cnn":
        suite = _digits_suite(tmp_path, LONG)
    ctl = Controller(tmp_path, _argv(tmp_path, suite, devs))

    ctl.wait_for(f"agent {which} process", lambda: ctl.agents(which))
    ctl.interrupt()
    rc, elapsed = ctl.finish()
    meta = _check_stopped(ctl, rc, elapsed, _resume_args(tmp_path, suite, devs))
    assert ctl.agents_at_signal, "the agent was running at the signal"
    assert meta["complete"] is False and meta["jobs_planned"] == (2 if model == "mlp" else 1)
    assert meta["counts"] == {"ok": 0, "failed": 0, "skipped": 0}  # nothing had finished
    assert ctl.journal_lines() == 0
    _no_agent_left(ctl, workdir)


def test_sigterm_mid_job_stops_like_ctrl_c_with_exit_143(tmp_path: Path, mlp_onnx: Path) -> None:
    """A scheduler's stop (cron timeout, systemd, a cancelled CI job) sends SIGTERM: the run
    must not die with its agents orphaned, but stop as after Ctrl-C, with exit 143."""
    suite, devs, workdir = _setup(tmp_path, mlp_onnx, LONG)
    ctl = Controller(tmp_path, _argv(tmp_path, suite, devs))
    ctl.wait_for("agent run process", lambda: ctl.agents("run"))
    ctl.interrupt(sig=signal.SIGTERM)
    rc, elapsed = ctl.finish()
    meta = _check_stopped(ctl, rc, elapsed, _resume_args(tmp_path, suite, devs), expected_rc=143)
    assert meta["complete"] is False and meta["counts"] == {"ok": 0, "failed": 0, "skipped": 0}
    _no_agent_left(ctl, workdir)


@pytest.mark.parametrize("times", [1, 2], ids=["one-sigint", "two-sigints"])
def test_ctrl_c_in_the_middle_of_a_job_keeps_finished_ones_and_resumes(
        tmp_path: Path, mlp_onnx: Path, times: int) -> None:
    """The first job finishes quickly; the device's python makes the second one measure for
    60 s.  SIGINT once that agent is benchmarking (onnxruntime loaded into it).  Then the
    printed resume command, run as printed, finishes the run."""
    flag = tmp_path / "slow.flag"
    flag.write_text("1")
    slow = wrapper(tmp_path, "slowpy",
                   f'if [ "$3" = run ] && [ -e "{flag}" ] && grep -q \'"job_id": "mlp2/\' "$4"; then\n'
                   f'  sed -i \'s/"min_duration_s": [^,}}]*/"min_duration_s": 60/; '
                   f's/"max_duration_s": [^,}}]*/"max_duration_s": 120/\' "$4"\nfi')
    suite, devs, workdir = _setup(tmp_path, mlp_onnx, QUICK, python=slow)
    ctl = Controller(tmp_path, _argv(tmp_path, suite, devs))

    def benchmarking() -> bool:
        if ctl.journal_lines() < 1:
            return False
        for agent in ctl.agents():
            try:
                if any("onnxruntime" in m.path for m in agent.memory_maps()):
                    return True
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return False

    ctl.wait_for("the second job's agent benchmarking", benchmarking)
    ctl.interrupt(times)
    rc, elapsed = ctl.finish()
    meta = _check_stopped(ctl, rc, elapsed, _resume_args(tmp_path, suite, devs))
    assert meta["complete"] is False and meta["counts"] == {"ok": 1, "failed": 0, "skipped": 0}
    journal = ctl.run_dir() / "results.jsonl"
    records = read_journal(journal).records
    assert [(r.job_id, r.status) for r in records] == [("mlp/fp32/onnx@box", "ok")]  # not the killed one
    _no_agent_left(ctl, workdir)

    flag.unlink()  # the device is quick again; resume exactly as the message says
    command = ctl.lines[-1].split("continue with: ", 1)[1]
    argv = shlex.split(command)
    assert argv[0] == "edgebench"
    again = subprocess.run([sys.executable, "-m", "edgebench", *argv[1:]], capture_output=True,
                           text=True, env={**os.environ, "EDGEBENCH_CACHE": str(tmp_path / "cache")},
                           timeout=300)
    assert again.returncode == 0, again.stderr
    records = read_journal(journal).records
    assert [(r.job_id, r.status) for r in records] == [("mlp/fp32/onnx@box", "ok"),
                                                      ("mlp2/fp32/onnx@box", "ok")]
    meta = json.loads((ctl.run_dir() / "run.json").read_text())
    assert meta["interrupted"] is False and meta["complete"] is True
    assert meta["counts"] == {"ok": 2, "failed": 0, "skipped": 0}


@pytest.mark.parametrize("times", [1, 2], ids=["one-sigint", "two-sigints"])
def test_ctrl_c_while_the_reports_are_written(tmp_path: Path, mlp_onnx: Path, times: int) -> None:
    """Every job has finished; the report stage hangs (test-only EDGEBENCH_TEST_PAUSE_AT,
    standing in for a slow report the main thread cannot interrupt)."""
    suite, devs, workdir = _setup(tmp_path, mlp_onnx, QUICK)
    ctl = Controller(tmp_path, _argv(tmp_path, suite, devs),
                     env={"EDGEBENCH_TEST_PAUSE_AT": "report"})
    ctl.wait_for("the report stage", lambda: ctl.line("edgebench: test pause at report"))
    ctl.interrupt(times)
    rc, elapsed = ctl.finish()
    meta = _check_stopped(ctl, rc, elapsed, _resume_args(tmp_path, suite, devs))
    assert meta["complete"] is True and meta["counts"] == {"ok": 2, "failed": 0, "skipped": 0}
    records = read_journal(ctl.run_dir() / "results.jsonl").records
    assert [r.status for r in records] == ["ok", "ok"]
    assert not (ctl.run_dir() / "report.md").exists()  # cut short, so --resume writes it
    assert (ctl.run_dir() / "summary.csv").read_text().count("\n") == 3
    _no_agent_left(ctl, workdir)


def test_resume_command_names_the_run_and_where_it_lives() -> None:
    """The printed command must run as printed (quoted), and never leak a store password."""
    import argparse

    from edgebench.commands.run import resume_command

    args = argparse.Namespace(suite="suites/my suite.yaml", out="results/", devices=None,
                              device_names=None, no_store=False, store=None)
    assert resume_command(args, "R1") == "edgebench run 'suites/my suite.yaml' --resume R1"
    args = argparse.Namespace(suite="s.yaml", out="/data/res", devices="lab.yaml",
                              device_names=["pi4", "jetson"], no_store=False,
                              store="postgresql://bench:s3cret@db.lab:5432/edgebench")
    assert resume_command(args, "R2") == (
        "edgebench run s.yaml --resume R2 --out /data/res --devices lab.yaml --device pi4 "
        "--device jetson --store 'postgresql://bench:***@db.lab:5432/edgebench'")


@pytest.mark.parametrize("times", [1, 2], ids=["one-sigint", "two-sigints"])
def test_ctrl_c_while_the_store_ingests(tmp_path: Path, mlp_onnx: Path, times: int) -> None:
    """After the reports: the store's final ingest (test pause) is cut short; run.json says
    so, since ``--resume`` (or ``edgebench ingest``) has to finish it."""
    suite, devs, workdir = _setup(tmp_path, mlp_onnx, QUICK)
    argv = [a for a in _argv(tmp_path, suite, devs) if a != "--no-store"]
    ctl = Controller(tmp_path, argv, env={"EDGEBENCH_TEST_PAUSE_AT": "store"})
    ctl.wait_for("the store stage", lambda: ctl.line("edgebench: test pause at store"))
    ctl.interrupt(times)
    rc, elapsed = ctl.finish()
    meta = _check_stopped(ctl, rc, elapsed, f"{suite} --resume {{run_id}} --out {tmp_path / 'results'} "
                                            f"--devices {devs}")
    assert meta["complete"] is True and meta["counts"] == {"ok": 2, "failed": 0, "skipped": 0}
    assert (ctl.run_dir() / "report.md").exists()
    _no_agent_left(ctl, workdir)


def test_sigint_sets_the_stop_event_instead_of_raising() -> None:
    """In-process: the handler only sets the event (twice is once), and is removed after."""
    from edgebench.interrupt import StopOnSigint

    before = signal.getsignal(signal.SIGINT)
    stop = threading.Event()
    with StopOnSigint(stop) as sigint:
        assert sigint.installed
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 30
        while sigint.signals < 2 and time.monotonic() < deadline:  # poll: never wait() on it
            time.sleep(0.01)
    assert stop.is_set() and sigint.signals == 2
    assert signal.getsignal(signal.SIGINT) is before
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:  # the Python API leaves a deliberate SIG_IGN (or an application's handler) alone
        with StopOnSigint(threading.Event(), only_replacing_default=True) as sigint:
            assert not sigint.installed and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_stopped_build_ends_at_its_next_progress_line() -> None:
    """The build checks the stop between variants (through its progress callback): the
    stage thread ends by itself and nothing is left running."""
    from edgebench import interrupt

    stop, reached, go = threading.Event(), threading.Event(), threading.Event()
    said: list[str] = []

    def build() -> list[str]:
        say = interrupt.checkpoint(stop, said.append)
        for i in range(100):
            say(f"variant {i}")
            if i == 2:
                reached.set()
                go.wait(60)
        return said

    def press_ctrl_c() -> None:
        reached.wait(60)
        stop.set()
        go.set()

    helper = threading.Thread(target=press_ctrl_c)
    helper.start()
    stage = interrupt.run_stage("build", build, stop)
    helper.join()
    assert stage.done is False and stage.result is None
    assert said == ["variant 0", "variant 1", "variant 2"]
    assert not any(t.name == "edgebench-build" and t.is_alive() for t in interrupt._STRANDED)


def test_a_stage_that_ignores_the_stop_is_left_behind_and_errors_propagate() -> None:
    from edgebench import interrupt

    stop, started, release = threading.Event(), threading.Event(), threading.Event()

    def stuck() -> None:  # like one long native call
        started.set()
        release.wait(60)

    def press_ctrl_c() -> None:
        started.wait(60)
        stop.set()

    helper = threading.Thread(target=press_ctrl_c)
    helper.start()
    try:
        stage = interrupt.run_stage("stuck", stuck, stop)
        helper.join()
        assert stage.done is False
        (left,) = [t for t in interrupt._STRANDED if t.name == "edgebench-stuck"]
        assert left.is_alive()  # the run goes on without it; the CLI then exits at once
    finally:
        release.set()
        interrupt._STRANDED[:] = [t for t in interrupt._STRANDED if t.name != "edgebench-stuck"]

    def broken() -> None:
        raise ValueError("toolchain bug")

    with pytest.raises(ValueError, match="toolchain bug"):
        interrupt.run_stage("broken", broken, threading.Event())
    assert interrupt.run_stage("fine", lambda: 42, threading.Event()).result == 42
