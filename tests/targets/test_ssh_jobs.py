"""Running agent jobs and inventory over SSH, against real sshd processes (tests/lab)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebench.errors import ConfigError, DeviceError
from edgebench.targets.ssh import SSHTarget, safe_job_name
from tests.lab.plugin import LabEnvs
from tests.lab.sshd import SshdLab

REPO = Path(__file__).resolve().parents[2]
NASTY = "semi;colon $(touch /tmp/eb-pwned-$$) `touch /tmp/eb-pwned-bt` 'single' \"double\" \\back\nnewline *"


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


class _JobInThread:
    """A long fake job run by ``target`` on a worker thread, started and confirmed running
    on the device (its marker process exists) before the test injects its fault."""

    def __init__(self, target: SSHTarget, job_id: str, marker: str, timeout_s: float) -> None:
        import threading

        self.outcomes: list = []
        self.errors: list[BaseException] = []

        def job() -> None:
            try:
                self.outcomes.append(target.run_job(
                    {"job_id": job_id, "fake": {"sleep_s": 300, "marker": marker}}, timeout_s=timeout_s))
            except BaseException as exc:  # noqa: BLE001 - the test inspects what was raised
                self.errors.append(exc)

        self.worker = threading.Thread(target=job)
        self.worker.start()
        assert _wait_until(lambda: bool(_processes_with(marker)), 20), "the job never started"


def _wait_until(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(poll_s)
    return condition()


@given(st.text(min_size=0, max_size=200))
@settings(max_examples=300, deadline=None)
def test_safe_job_name_never_escapes_the_jobs_dir(job_id: str) -> None:
    name = safe_job_name(job_id)
    assert "/" not in name and "\0" not in name and not name.startswith(".")
    assert 0 < len(name) <= 100


def test_safe_job_name_keeps_distinct_ids_distinct() -> None:
    assert safe_job_name("../../etc/passwd").startswith("etc_passwd-")
    assert safe_job_name("a/b") != safe_job_name("a_b")


@pytest.mark.lab
def test_run_job_returns_the_agent_result(ssh_lab: SshdLab, fake_agent) -> None:
    with SSHTarget(ssh_lab.spec("litert"), bundle=fake_agent) as target:
        out = target.run_job({"job_id": "ok-1", "fake": {}}, timeout_s=60)
    assert out.returncode == 0 and not out.timed_out
    assert out.result["status"] == "ok" and out.result["job_id"] == "ok-1"
    echo = out.result["echo"]
    assert echo["sid_is_pid"] and echo["pgid_is_pid"]  # its own session: killable as a group
    assert echo["cwd"].endswith(f"/{fake_agent.dirname}")
    assert out.wall_s > 0


@pytest.mark.lab
def test_failed_job_and_crashed_agent_are_outcomes_not_errors(ssh_lab: SshdLab, fake_agent) -> None:
    with SSHTarget(ssh_lab.spec("onnx-only"), bundle=fake_agent) as target:
        failed = target.run_job({"job_id": "f", "fake": {"fail": True}}, timeout_s=60)
        crashed = target.run_job({"job_id": "c", "fake": {"crash": True}}, timeout_s=60)
    assert failed.returncode == 0 and failed.result["status"] == "failed"
    assert crashed.returncode == 3 and crashed.result is None
    assert "crashing as asked" in crashed.stderr_tail
    assert crashed.extra["result_error"] == "agent wrote no result file"


@pytest.mark.lab
def test_nasty_strings_reach_the_remote_process_literally(ssh_lab: SshdLab, fake_agent, tmp_path: Path) -> None:
    """env values, workdir and job id full of shell syntax arrive as literal strings."""
    for leftover in ("/tmp/eb-pwned-bt",):
        Path(leftover).unlink(missing_ok=True)
    workdir = tmp_path / f"work {NASTY}"
    spec = ssh_lab.spec("legacy-pi", workdir=str(workdir), env={"EB_NASTY": NASTY, "EB_PLAIN": "x"})
    job_id = f"job {NASTY} ../../escape"
    with SSHTarget(spec, bundle=fake_agent) as target:
        out = target.run_job({"job_id": job_id, "fake": {"echo_env": ["EB_NASTY", "EB_PLAIN"]}},
                             timeout_s=60)
        blob = tmp_path / "m.bin"
        blob.write_bytes(b"weird path blob")
        assert target.push(blob).bytes_sent == len(b"weird path blob")
        assert target.push(blob).bytes_sent == 0  # remote hashing copes with the path too
    assert out.returncode == 0, out.stderr_tail
    echo = out.result["echo"]
    assert echo["env"] == {"EB_NASTY": NASTY, "EB_PLAIN": "x"}
    assert out.result["job_id"] == job_id
    jobs = workdir / "jobs"
    assert echo["argv"][2] == str(jobs / f"{safe_job_name(job_id)}.json")
    assert echo["argv"][4] == str(jobs / f"{safe_job_name(job_id)}.result.json")
    assert echo["cwd"] == str(workdir / fake_agent.dirname)
    assert sorted(p.parent for p in workdir.rglob("*.json")) == [jobs, jobs]
    assert not list(Path("/tmp").glob("eb-pwned-*"))


@pytest.mark.lab
def test_bad_env_name_is_a_config_error(ssh_lab: SshdLab, fake_agent) -> None:
    with SSHTarget(ssh_lab.spec("litert", env={"A;B": "1"}), bundle=fake_agent) as target:
        with pytest.raises(ConfigError):
            target.run_job({"job_id": "x"}, timeout_s=30)


@pytest.mark.lab
def test_timeout_kills_the_whole_remote_process_group(ssh_lab: SshdLab, fake_agent) -> None:
    marker = f"eb-sleeper-{uuid.uuid4().hex}"
    with SSHTarget(ssh_lab.spec("litert"), bundle=fake_agent) as target:
        started = time.monotonic()
        out = target.run_job({"job_id": "slow", "fake": {"sleep_s": 300, "marker": marker}}, timeout_s=2)
        assert out.timed_out and out.returncode is None and out.result is None
        assert time.monotonic() - started < 15
        assert "sleeping" in out.extra["stdout_tail"]
        deadline = time.monotonic() + 5
        while _processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_with(marker) == []  # the agent's grandchild died with the group
        ok = target.run_job({"job_id": "after", "fake": {}}, timeout_s=60)  # target still usable
        assert ok.result["status"] == "ok"


@pytest.mark.lab
def test_lost_connection_mid_job_is_a_device_error_then_recovers(
    ssh_lab: SshdLab, scratch_device: str, fake_agent
) -> None:
    marker = f"eb-orphan-{uuid.uuid4().hex}"
    target = SSHTarget(ssh_lab.spec(scratch_device), bundle=fake_agent)
    running = _JobInThread(target, "cut", marker, timeout_s=120)
    ssh_lab.kill(scratch_device)  # the link drops; the job keeps running on the device
    running.worker.join(30)
    errors = running.errors
    assert len(errors) == 1 and type(errors[0]) is DeviceError, errors
    assert errors[0].data.get("connection_lost") is True
    assert _processes_with(marker)  # orphaned, like on a real device
    ssh_lab.start(scratch_device)
    out = target.run_job({"job_id": "retry", "fake": {}}, timeout_s=60)  # the fleet's retry
    assert out.result["status"] == "ok"
    assert _wait_until(lambda: not _processes_with(marker), 10, 0.1)  # reconnecting reaped the orphan
    target.close()


@pytest.mark.lab
@pytest.mark.parametrize("env_name", ["legacy-pi", "litert", "onnx-only"])
def test_inventory_reports_each_envs_runtimes(ssh_lab: SshdLab, lab_envs: LabEnvs, fake_agent, env_name) -> None:
    env = lab_envs.get(env_name)
    with SSHTarget(ssh_lab.spec(env_name), bundle=fake_agent) as target:
        info = target.inventory()
    runtimes = info["runtimes"]
    for module, prefix in env.spec.expect_runtimes.items():
        assert module in runtimes and str(runtimes[module]).startswith(prefix), (module, runtimes)
    for module in env.spec.expect_absent:
        assert module not in runtimes
    assert info["machine"]["executable"] == env.python
    assert info["disk_free_bytes"] > 0
    assert info["ssh"]["port"] == ssh_lab.devices[env_name].port
    assert info["ssh"]["host_key_fingerprint"].startswith("SHA256:")
    if env_name == "legacy-pi" and "3.9" in env.spec.python:
        assert info["machine"]["python"].startswith("3.9.")


REAL_AGENT = (REPO / "edgebench" / "agent" / "__main__.py").is_file()


@pytest.mark.lab
@pytest.mark.skipif(not REAL_AGENT, reason="the real agent (edgebench/agent/__main__.py) is not written yet")
@pytest.mark.parametrize("env_name", ["legacy-pi", "onnx-only"])
def test_real_agent_inventory(ssh_lab: SshdLab, lab_envs: LabEnvs, env_name: str) -> None:
    lab_envs.get(env_name)
    with SSHTarget(ssh_lab.spec(env_name)) as target:
        info = target.inventory()
    if env_name == "legacy-pi":
        assert info["runtimes"]["onnxruntime"] is None
        assert info["runtimes"]["tflite_all"]["tflite_runtime"] == "2.14.0"
        assert info["machine"]["numpy"].startswith("1.")
    else:
        assert info["runtimes"]["onnxruntime"]["version"]
        assert info["runtimes"]["tflite_all"].get("tflite_runtime") is None


@pytest.mark.lab
@pytest.mark.skipif(not REAL_AGENT, reason="the real agent (edgebench/agent/__main__.py) is not written yet")
def test_real_agent_runs_a_tiny_onnx_model(ssh_lab: SshdLab, lab_envs: LabEnvs, tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from edgebench.agent.schema import BenchmarkSettings, JobSpec, validate_result

    lab_envs.get("onnx-only")
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by older onnxruntime builds on devices
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    with SSHTarget(ssh_lab.spec("onnx-only")) as target:
        pushed = target.push(path)
        spec = JobSpec(job_id="tiny-relu", model_path=pushed.remote_path, format="onnx",
                       benchmark=BenchmarkSettings(warmup_runs=1, warmup_min_s=0, min_runs=5,
                                                   min_duration_s=0, max_duration_s=10))
        out = target.run_job(spec.to_dict(), timeout_s=120)
    assert out.returncode == 0, out.stderr_tail
    assert validate_result(out.result) == [], json.dumps(out.result)[:2000]
    assert out.result["status"] == "ok", out.result.get("error")
    assert len(out.result["timing"]["latencies_s"]) >= 5


@pytest.mark.lab
def test_close_from_another_thread_kills_the_job_in_flight(ssh_lab: SshdLab, fake_agent) -> None:
    """The fleet's Ctrl-C path: close() must not wait for the job, and must kill it."""
    marker = f"eb-ctrlc-{uuid.uuid4().hex}"
    target = SSHTarget(ssh_lab.spec("onnx-only"), bundle=fake_agent)
    running = _JobInThread(target, "ctrl-c", marker, timeout_s=300)
    worker, errors, outcomes = running.worker, running.errors, running.outcomes
    started = time.monotonic()
    target.close()
    worker.join(15)
    assert not worker.is_alive() and time.monotonic() - started < 10
    # either the link closed first (DeviceError) or the killed job's exit status won the race
    if errors:
        assert len(errors) == 1 and isinstance(errors[0], DeviceError), errors
    else:
        assert outcomes[0].result is None and outcomes[0].returncode != 0
    assert _wait_until(lambda: not _processes_with(marker), 5, 0.1)
    target.close()  # idempotent
