"""Faults injected into real runs on the real-sshd lab, each while a job is in flight.

Every test runs ``python -m edgebench run`` (or run_suite with the CLI's LiveSink) against
an unaffected device (``onnx-only``) and a faulty scratch device, injects one fault, and
checks: jobs finished before the fault are in results.jsonl and the SQLite store exactly
once; the affected jobs say what happened (``error_kind`` + text); the other device's jobs
are all ok; nothing the fault left behind (a process, a mount, a netns) survives the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from edgebench.results.journal import read_journal
from tests.conftest import make_mlp_onnx
from tests.reliability.helpers import (
    FIGURES,
    TALLY,
    assert_once_in_journal_and_store,
    cli,
    devices_yaml,
    entry,
    group_alive,
    journal_lines,
    kill_group,
    need_root,
    run_dir_of,
    running_job_pids,
    start_cli,
    store_jobs,
    suite_yaml,
    wait_for,
)

pytestmark = pytest.mark.lab
GOOD = "onnx-only"


@pytest.fixture
def reaper() -> Iterator[list[Path]]:
    """Workdirs whose leftover job process groups are killed at teardown, pass or fail."""
    workdirs: list[Path] = []
    yield workdirs
    for wd in workdirs:
        for pgid in running_job_pids(wd):
            kill_group(pgid)


def _setup(ssh_lab: Any, scratch: str, tmp_path: Path, lab_envs: Any, *, n_models: int = 4,
           scratch_overrides: dict | None = None, models: list[dict] | None = None,
           min_duration_s: float = 0.8) -> tuple[Path, Path]:
    py = lab_envs.python(GOOD)
    make_mlp_onnx(tmp_path / "mlp.onnx")
    devices = devices_yaml(tmp_path / "devices.yaml", {
        GOOD: entry(ssh_lab, GOOD),
        scratch: entry(ssh_lab, scratch, python=py, connect_timeout_s=3.0,
                       **(scratch_overrides or {})),
    })
    models = models or [{"name": f"m{i}", "path": "mlp.onnx"} for i in range(n_models)]
    suite = suite_yaml(tmp_path / "suite.yaml", name="faults", devices=[GOOD, scratch],
                       models=models, benchmark={"min_duration_s": min_duration_s})
    return devices, suite


def _wait_mid_job(out: Path, device: str, workdir: Path, after_records: int = 1,
                  timeout: float = 90) -> int:
    """Wait until ``device`` has ``after_records`` journaled jobs and the next one is running."""
    def ready() -> Any:
        rd = run_dir_of(out)
        if rd is None:
            return None
        done = [r for r in journal_lines(rd) if r.get("device") == device]
        if len(done) < after_records:
            return None
        pids = running_job_pids(workdir)
        return pids[0] if pids else None
    return wait_for(ready, timeout, f"a running job on {device}")


@contextlib.contextmanager
def _running(suite: Path, devices: Path, out: Path, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """``edgebench run`` in the background (log in tmp_path/cli.log); its process group is
    killed if the test leaves the block before the run ended (a failed wait, a hang)."""
    proc = start_cli("run", str(suite), "--devices", str(devices), "--out", str(out), "-q",
                     cwd=tmp_path, log=tmp_path / "cli.log")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _finish(proc: subprocess.Popen, timeout: float = 180) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"edgebench run did not finish within {timeout}s (hang)") from None


def _check(out: Path, finished_before: set[str]) -> tuple[Path, dict[str, Any]]:
    rd = run_dir_of(out)
    assert rd is not None
    journal = read_journal(rd / "results.jsonl")
    assert not journal.warnings, journal.warnings
    ids = [r.job_id for r in journal.records]
    assert len(ids) == len(set(ids)), "a job journaled twice in one run"
    assert_once_in_journal_and_store(rd, out / "edgebench.db", finished_before | set(ids))
    latest = journal.latest()
    good = [r for r in latest.values() if r.device == GOOD]
    assert len(good) >= 4 and all(r.status == "ok" for r in good), [(r.job_id, r.error) for r in good]
    return rd, latest


def _scratch_records(latest: dict[str, Any], scratch: str) -> list[Any]:
    return sorted((r for r in latest.values() if r.device == scratch), key=lambda r: r.model)


def test_sshd_killed_while_a_job_runs(ssh_lab: Any, scratch_device: str, lab_envs: Any,
                                      tmp_path: Path, reaper: list[Path]) -> None:
    workdir = ssh_lab.devices[scratch_device].workdir
    reaper.append(workdir)
    devices, suite = _setup(ssh_lab, scratch_device, tmp_path, lab_envs)
    out = tmp_path / "results"
    with _running(suite, devices, out, tmp_path) as proc:
        pgid = _wait_mid_job(out, scratch_device, workdir)
        before = {r["job_id"] for r in journal_lines(run_dir_of(out))}
        ssh_lab.kill(scratch_device)  # listener and every connection: the device vanishes
        assert group_alive(pgid), "the fault must land while the job is running"
        rc = _finish(proc)
    TALLY["faults injected: sshd killed mid-job"] += 1
    assert rc == 1, (tmp_path / "cli.log").read_text()[-2000:]
    _, latest = _check(out, before)
    recs = _scratch_records(latest, scratch_device)
    assert [r.status for r in recs] == ["ok", "failed", "failed", "failed"]
    assert recs[1].error_kind == "connection" and "connection lost" in recs[1].error, recs[1].error
    assert all(r.error_kind == "unreachable" for r in recs[2:]), [r.error for r in recs[2:]]
    TALLY["faults survived"] += 1


def test_agent_sigkill_fails_that_job_only(ssh_lab: Any, scratch_device: str, lab_envs: Any,
                                           tmp_path: Path, reaper: list[Path]) -> None:
    workdir = ssh_lab.devices[scratch_device].workdir
    reaper.append(workdir)
    devices, suite = _setup(ssh_lab, scratch_device, tmp_path, lab_envs)
    out = tmp_path / "results"
    with _running(suite, devices, out, tmp_path) as proc:
        pgid = _wait_mid_job(out, scratch_device, workdir)
        before = {r["job_id"] for r in journal_lines(run_dir_of(out))}
        kill_group(pgid, signal.SIGKILL)  # the OOM killer's way
        rc = _finish(proc)
    TALLY["faults injected: agent SIGKILL mid-job"] += 1
    assert rc == 1
    _, latest = _check(out, before)
    recs = _scratch_records(latest, scratch_device)
    assert [r.status for r in recs] == ["ok", "failed", "ok", "ok"], [r.error for r in recs]
    assert recs[1].error_kind == "agent_crashed", recs[1].error
    assert "killed by signal 9" in recs[1].error and "wrote no result" in recs[1].error, recs[1].error
    TALLY["faults survived"] += 1


def test_agent_sigstop_times_out_and_its_group_is_killed(ssh_lab: Any, scratch_device: str,
                                                         lab_envs: Any, tmp_path: Path,
                                                         reaper: list[Path]) -> None:
    workdir = ssh_lab.devices[scratch_device].workdir
    reaper.append(workdir)
    devices, suite = _setup(ssh_lab, scratch_device, tmp_path, lab_envs,
                            scratch_overrides={"job_timeout_s": 6.0})
    out = tmp_path / "results"
    with _running(suite, devices, out, tmp_path) as proc:
        pgid = _wait_mid_job(out, scratch_device, workdir)
        before = {r["job_id"] for r in journal_lines(run_dir_of(out))}
        kill_group(pgid, signal.SIGSTOP)  # a hung inference: alive, never finishing
        started = time.monotonic()
        wait_for(lambda: not group_alive(pgid), 30, "the stopped job's group to be killed")
        killed_after = time.monotonic() - started
        rc = _finish(proc)
    TALLY["faults injected: agent SIGSTOP (hung) mid-job"] += 1
    assert rc == 1 and killed_after < 6.0 + 3.0 + 5.0, killed_after
    _, latest = _check(out, before)
    recs = _scratch_records(latest, scratch_device)
    assert [r.status for r in recs] == ["ok", "failed", "ok", "ok"], [r.error for r in recs]
    assert recs[1].error_kind == "timeout" and "process group was killed" in recs[1].error
    TALLY["faults survived"] += 1


@pytest.fixture
def tmpfs_workdir(ssh_lab: Any, scratch_device: str) -> Iterator[Path]:
    need_root("mounting a tmpfs")
    workdir = ssh_lab.devices[scratch_device].workdir
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "eb-full", str(workdir)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        need_root(f"mount tmpfs failed: {res.stderr.strip()}; it")
    try:
        yield workdir
    finally:
        for pgid in running_job_pids(workdir):
            kill_group(pgid)
        time.sleep(0.2)
        subprocess.run(["umount", "-l", str(workdir)], capture_output=True)
    assert not os.path.ismount(workdir)


def test_full_workdir_fails_the_jobs_that_do_not_fit(ssh_lab: Any, scratch_device: str,
                                                     lab_envs: Any, tmp_path: Path,
                                                     tmpfs_workdir: Path) -> None:
    big = tmp_path / "big.onnx"
    make_mlp_onnx(big, n=1200)  # ~5.8 MB: with the 16 MB margin it cannot fit in 20 MB
    make_mlp_onnx(tmp_path / "other.onnx", n=48)
    models = [{"name": "m0", "path": "mlp.onnx"}, {"name": "big", "path": "big.onnx"},
              {"name": "m2", "path": "mlp.onnx"}, {"name": "m3", "path": "other.onnx"}]
    devices, suite = _setup(ssh_lab, scratch_device, tmp_path, lab_envs, models=models,
                            min_duration_s=0.3)
    out = tmp_path / "results"
    filled = {}

    with _running(suite, devices, out, tmp_path) as proc:
        # once the big model was refused, fill the disk completely while m2 runs
        def refused_big() -> bool:
            rd = run_dir_of(out)
            return bool(rd) and any(r.get("model") == "big" and r.get("device") == scratch_device
                                    for r in journal_lines(rd))
        wait_for(refused_big, 90, "the big model's job")
        filler = tmpfs_workdir / "filler"
        with open(filler, "wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * (1 << 20))
                    fh.flush()
            except OSError:
                pass
        filled["free"] = os.statvfs(tmpfs_workdir).f_bavail * os.statvfs(tmpfs_workdir).f_frsize
        rc = _finish(proc)
    TALLY["faults injected: device workdir full (tmpfs)"] += 1
    assert rc == 1
    rd, latest = _check(out, set())
    recs = {r.model: r for r in latest.values() if r.device == scratch_device}
    assert recs["m0"].status == "ok", recs["m0"].error
    assert recs["big"].status == "failed" and recs["big"].error_kind == "disk_full"
    assert "no room" in recs["big"].error and recs["big"].attempts == 1
    # m2's blob is already there (dedup), so the full disk bites at the job spec or result:
    # whatever it is, it says 'disk'/'no room', and the device is not written off as unreachable
    for name in ("m2", "m3"):
        rec = recs[name]
        if rec.status != "ok":
            assert rec.error_kind == "disk_full", (name, rec.error_kind, rec.error)
            assert "no room" in rec.error, rec.error
    assert not list((tmpfs_workdir / "blobs").glob(".tmp-*")), "a refused upload left a temp file"
    TALLY["faults survived"] += 1


def test_controller_sigkill_then_resume(ssh_lab: Any, scratch_device: str, lab_envs: Any,
                                        tmp_path: Path, reaper: list[Path]) -> None:
    workdir = ssh_lab.devices[scratch_device].workdir
    reaper.append(workdir)
    reaper.append(ssh_lab.devices[GOOD].workdir)
    devices, suite = _setup(ssh_lab, scratch_device, tmp_path, lab_envs, n_models=6,
                            min_duration_s=0.5)
    out = tmp_path / "results"
    with _running(suite, devices, out, tmp_path) as proc:
        wait_for(lambda: run_dir_of(out) and len(journal_lines(run_dir_of(out))) >= 3, 120,
                 "three journaled jobs")
        os.kill(proc.pid, signal.SIGKILL)  # the controller only: no chance to clean up
        proc.wait(timeout=10)
    TALLY["faults injected: controller SIGKILL mid-run"] += 1
    rd = run_dir_of(out)
    run_id = rd.name
    assert json.loads((rd / "run.json").read_text())["complete"] is False
    journal = read_journal(rd / "results.jsonl")
    before = {r.job_id: r for r in journal.records}
    assert len(before) >= 3 and not journal.warnings
    # the store got live at most what the journal has (the journal is written first; a kill
    # between the two leaves the store one job behind until the resume / `edgebench ingest`)
    stored_live = sorted(j for j, _ in store_jobs(out / "edgebench.db", run_id))
    assert set(stored_live) <= set(before) and len(stored_live) >= len(before) - 2
    # a kill in the middle of an append leaves a torn last line: emulate one
    whole = (rd / "results.jsonl").read_bytes()
    torn = whole.splitlines()[0][: len(whole.splitlines()[0]) // 2]
    (rd / "results.jsonl").write_bytes(whole + torn)
    warned = read_journal(rd / "results.jsonl").warnings
    assert len(warned) == 1 and "truncated last line" in warned[0]

    resumed = cli("run", str(suite), "--devices", str(devices), "--out", str(out), "--resume",
                  run_id, cwd=tmp_path, timeout=240)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "truncated last line" in resumed.stdout + resumed.stderr  # reported, not read
    assert f"{len(before)} job(s) already ok" in resumed.stdout + resumed.stderr
    final = read_journal(rd / "results.jsonl")
    latest = final.latest()
    assert len(latest) == 12 and all(r.status == "ok" for r in latest.values())
    for job_id, rec in before.items():  # not redone: still the record written before the kill
        assert [r.job_id for r in final.records].count(job_id) == 1, job_id
        assert latest[job_id].started_at == rec.started_at
    assert_once_in_journal_and_store(rd, out / "edgebench.db", set(latest))
    assert len(store_jobs(out / "edgebench.db", run_id)) == 12
    meta = json.loads((rd / "run.json").read_text())
    assert meta["complete"] is True and meta["counts"] == {"ok": 12, "failed": 0, "skipped": 0}
    TALLY["faults survived"] += 1


@pytest.fixture
def slow_device(ssh_lab: Any, lab_envs: Any) -> Iterator[tuple[str, Any]]:
    """A lab device behind its own veth link (netns + tc tbf at 1 Mbit/s), removed afterwards."""
    need_root("a network namespace")
    from tests.lab.slow import SlowLink, slow_link_unavailable

    reason = slow_link_unavailable()
    if reason:
        need_root(f"{reason}; it")
    name = f"cut-{os.getpid() % 1000}"
    with SlowLink(41, rate_kbit=1000) as link:
        try:
            ssh_lab.add(name, host=link.device_ip, port=22, netns=link.netns,
                        python=lab_envs.python(GOOD))
            yield name, link
        finally:
            for pgid in running_job_pids(ssh_lab.devices[name].workdir) if name in ssh_lab.devices else []:
                kill_group(pgid)
            if name in ssh_lab.devices:
                ssh_lab.kill(name)
                del ssh_lab.devices[name]
    assert subprocess.run(["ip", "netns", "pids", link.netns], capture_output=True).returncode != 0


def test_link_cut_while_a_model_is_pushed(ssh_lab: Any, slow_device: tuple[str, Any],
                                          tmp_path: Path, reaper: list[Path]) -> None:
    name, link = slow_device
    reaper.append(ssh_lab.devices[GOOD].workdir)
    make_mlp_onnx(tmp_path / "big.onnx", n=560)  # ~1.25 MB: ~10 s over the 1 Mbit/s link
    make_mlp_onnx(tmp_path / "mlp.onnx")
    models = [{"name": "m0", "path": "mlp.onnx"}, {"name": "big", "path": "big.onnx"},
              {"name": "m2", "path": "mlp.onnx"}, {"name": "m3", "path": "mlp.onnx"}]
    devices = devices_yaml(tmp_path / "devices.yaml", {
        GOOD: entry(ssh_lab, GOOD),
        name: entry(ssh_lab, name, connect_timeout_s=3.0, io_timeout_s=10.0)})
    suite = suite_yaml(tmp_path / "suite.yaml", name="cut", devices=[GOOD, name], models=models,
                       benchmark={"min_duration_s": 0.3})
    blobs = ssh_lab.devices[name].workdir / "blobs"
    out = tmp_path / "results"
    with _running(suite, devices, out, tmp_path) as proc:
        def uploading() -> bool:
            return any(p.stat().st_size > 100_000 for p in blobs.glob(".tmp-*")) if blobs.exists() else False
        wait_for(uploading, 90, "the big model's upload to be under way")
        before = {r["job_id"] for r in journal_lines(run_dir_of(out))}
        cut_at = time.monotonic()
        subprocess.run(["ip", "link", "set", link.host_if, "down"], check=True)
        rc = _finish(proc, timeout=240)
        took = time.monotonic() - cut_at
    TALLY["faults injected: link cut mid-push"] += 1
    assert rc == 1, (tmp_path / "cli.log").read_text()[-2000:]
    _, latest = _check(out, before)
    recs = {r.model: r for r in latest.values() if r.device == name}
    assert recs["m0"].status == "ok", recs["m0"].error
    assert recs["big"].status == "failed" and recs["big"].error_kind == "connection", recs["big"].error
    assert all(recs[m].status == "failed" for m in ("m2", "m3"))
    # a cut upload never becomes a blob: only the temp name, never blobs/<sha256>
    import hashlib
    sha = hashlib.sha256((tmp_path / "big.onnx").read_bytes()).hexdigest()
    assert not (blobs / sha).exists()
    FIGURES["link cut mid-push: seconds until the run ended"] = round(took, 1)
    TALLY["faults survived"] += 1
