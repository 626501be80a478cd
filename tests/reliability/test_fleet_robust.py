"""Controller-side robustness that the fault tests found: no exception may lose a job."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from edgebench.errors import DeviceError
from edgebench.fleet import Job, outcome_to_record, run_fleet
from edgebench.targets.base import JobOutcome, PushReport


def _jobs(n: int, device: Any) -> list[Job]:
    art = SimpleNamespace(path=Path(__file__), manifest={}, error=None, model="m", variant="v",
                          format="onnx")
    return [Job(job_id=f"m{i}@{device.name}", model=f"m{i}", variant="v", format="onnx",
                device=device, artifact=art, spec={"job_id": f"m{i}"}, timeout_s=5)
            for i in range(n)]


class BuggyTarget:
    """run_job raises a non-edgebench exception on the 2nd job (as paramiko's EOFError did)."""

    def __init__(self, device: Any) -> None:
        self.calls = 0
        self.closed = 0

    def inventory(self) -> dict:
        return {}

    def push(self, path: Path) -> PushReport:
        return PushReport("/remote", "0" * 64, 1, 0)

    def run_job(self, spec: dict, *, timeout_s: float) -> JobOutcome:
        self.calls += 1
        if self.calls == 2:
            raise EOFError()
        result = {"status": "ok"}
        return JobOutcome(result, 0, "", False, 0.1, {})

    def close(self) -> None:
        self.closed += 1


def test_an_unexpected_exception_fails_one_job_and_the_device_goes_on(monkeypatch) -> None:
    monkeypatch.setattr("edgebench.fleet.validate_result", lambda r: [])
    monkeypatch.setattr("edgebench.fleet.outcome_to_record", _ok_record)
    dev = SimpleNamespace(name="d", retries=0, runtimes=None)
    got: list[Any] = []
    lock = threading.Lock()

    def sink(rec: Any) -> None:
        with lock:
            got.append(rec)
    reports = run_fleet(_jobs(4, dev), make_target=BuggyTarget, run_id="r", sink=sink)
    assert [r.status for r in got] == ["ok", "failed", "ok", "ok"]
    assert got[1].error_kind == "controller" and "EOFError" in got[1].error
    assert reports[0].ok == 3 and reports[0].failed == 1


def _ok_record(job: Job, run_id: str, outcome: JobOutcome, started_at: str, attempts: int) -> Any:
    from edgebench.fleet import _record

    return _record(job, run_id, "ok", started_at=started_at, attempts=attempts)


def test_a_target_that_cannot_even_be_built_fails_its_own_jobs() -> None:
    dev = SimpleNamespace(name="d", retries=0, runtimes=None)

    def make_target(device: Any) -> Any:
        raise OverflowError("timeout doesn't fit into C timeval")
    got: list[Any] = []
    run_fleet(_jobs(3, dev), make_target=make_target, run_id="r", sink=got.append)
    assert [r.status for r in got] == ["failed"] * 3
    assert all(r.error_kind == "unreachable" and "OverflowError" in r.error for r in got)


@pytest.mark.parametrize("rc,text", [(137, "killed by signal 9"), (-9, "killed by signal 9"),
                                     (143, "killed by signal 15"), (3, "exited with 3")])
def test_agent_death_by_signal_is_named(rc: int, text: str) -> None:
    dev = SimpleNamespace(name="d")
    job = _jobs(1, dev)[0]
    rec = outcome_to_record(job, "r", JobOutcome(None, rc, "", False, 1.0, {}), "t", 1)
    assert rec.error_kind == "agent_crashed" and text in rec.error, rec.error


@pytest.mark.lab
def test_link_broken_by_the_timeout_handler_is_still_a_timeout(ssh_lab: Any, monkeypatch) -> None:
    """Seen in the SIGSTOP fault test: the kill in on_timeout lost the link, then closing the
    job's channel raised a bare EOFError ('Broken pipe') that killed the device's thread."""
    import paramiko

    from edgebench.targets.ssh import SSHTarget

    target = SSHTarget(ssh_lab.spec("onnx-only"))
    real_close = paramiko.Channel.close
    broken = {"on": False}

    def close(chan: Any) -> None:
        if broken["on"]:
            broken["on"] = False
            raise EOFError()  # what paramiko's packetizer raises on a broken pipe
        real_close(chan)
    monkeypatch.setattr(paramiko.Channel, "close", close)
    try:
        res = target.exec("sleep 5", timeout_s=0.5, on_timeout=lambda: broken.update(on=True))
        assert res.timed_out and res.returncode is None
        assert target.exec("echo back", timeout_s=10).stdout.strip() == b"back"  # reconnects
    finally:
        target.close()


def test_a_transient_inventory_failure_is_retried_not_fatal(monkeypatch) -> None:
    """Seen at 64 devices: `mkdir` timed out once on a starved device and every one of its
    jobs was written off as unreachable without a second try."""
    monkeypatch.setattr("edgebench.fleet.outcome_to_record", _ok_record)
    dev = SimpleNamespace(name="d", retries=2, runtimes=None)

    class Flaky(BuggyTarget):
        inventories = 0

        def inventory(self) -> dict:
            Flaky.inventories += 1
            if Flaky.inventories == 1:
                raise DeviceError("mkdir failed (exit None): ", device="d")
            return {}

        def run_job(self, spec: dict, *, timeout_s: float) -> JobOutcome:
            return JobOutcome({"status": "ok"}, 0, "", False, 0.1, {})
    got: list[Any] = []
    run_fleet(_jobs(3, dev), make_target=Flaky, run_id="r", sink=got.append, retry_backoff_s=0.01)
    assert [r.status for r in got] == ["ok"] * 3 and Flaky.inventories == 2

