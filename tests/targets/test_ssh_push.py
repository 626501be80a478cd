"""Content-addressed pushes over SFTP, against real sshd processes (tests/lab)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edgebench.errors import DeviceError, PushError
from edgebench.targets import ssh as ssh_mod
from edgebench.targets.ssh import AGENT_MARKER, SSHTarget
from tests.lab.sshd import SshdLab

pytestmark = pytest.mark.lab


def _blob(path: Path, size_bytes: int, seed: int = 0) -> tuple[Path, str]:
    data = hashlib.sha256(str(seed).encode()).digest() * (size_bytes // 32 + 1)
    path.write_bytes(data[:size_bytes])
    return path, hashlib.sha256(data[:size_bytes]).hexdigest()


def test_push_dedups_by_verified_hash(ssh_lab: SshdLab, tmp_path: Path) -> None:
    local, sha = _blob(tmp_path / "model.onnx", 300_000, seed=1)
    workdir = Path(ssh_lab.spec("litert").workdir)
    with SSHTarget(ssh_lab.spec("litert")) as target:
        first = target.push(local)
        assert (first.sha256, first.size_bytes, first.bytes_sent) == (sha, 300_000, 300_000)
        assert first.remote_path == f"{workdir}/blobs/{sha}"
        assert hashlib.sha256(Path(first.remote_path).read_bytes()).hexdigest() == sha
        second = target.push(local)
        assert second.bytes_sent == 0 and second.remote_path == first.remote_path
    assert not [p for p in (workdir / "blobs").iterdir() if p.name.startswith(".tmp-")]


def test_corrupted_remote_blob_is_detected_and_resent(ssh_lab: SshdLab, tmp_path: Path) -> None:
    local, sha = _blob(tmp_path / "m.tflite", 100_000, seed=2)
    with SSHTarget(ssh_lab.spec("onnx-only")) as target:
        remote = Path(target.push(local).remote_path)
        data = bytearray(remote.read_bytes())
        data[5000] ^= 0xFF  # same size, different content: only a hash can tell
        remote.write_bytes(bytes(data))
        again = target.push(local)
        assert again.bytes_sent == 100_000
        assert hashlib.sha256(remote.read_bytes()).hexdigest() == sha
        assert target.push(local).bytes_sent == 0


def test_leftover_temp_file_is_not_taken_for_a_blob(ssh_lab: SshdLab, tmp_path: Path) -> None:
    """A cut upload leaves only ``.tmp-*``; the next push must send the whole file."""
    local, sha = _blob(tmp_path / "cut.bin", 50_000, seed=3)
    blobs = Path(ssh_lab.spec("legacy-pi").workdir) / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / f".tmp-deadbeef0000-{sha[:16]}").write_bytes(local.read_bytes()[:20_000])
    with SSHTarget(ssh_lab.spec("legacy-pi")) as target:
        report = target.push(local)
    assert report.bytes_sent == 50_000
    assert hashlib.sha256((blobs / sha).read_bytes()).hexdigest() == sha


def test_connection_cut_mid_upload_leaves_no_blob(ssh_lab: SshdLab, scratch_device: str, tmp_path: Path) -> None:
    local, sha = _blob(tmp_path / "big.bin", 96 * 1024 * 1024, seed=4)
    blobs = Path(ssh_lab.spec(scratch_device).workdir) / "blobs"
    target = SSHTarget(ssh_lab.spec(scratch_device))
    errors: list[BaseException] = []

    def push() -> None:
        try:
            target.push(local)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    worker = threading.Thread(target=push)
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the upload is under way
        tmps = [p for p in blobs.glob(".tmp-*")] if blobs.exists() else []
        if tmps and tmps[0].stat().st_size > 1024 * 1024:
            break
        time.sleep(0.01)
    ssh_lab.kill(scratch_device)
    worker.join(60)
    assert errors and isinstance(errors[0], DeviceError), errors
    assert not (blobs / sha).exists()
    ssh_lab.start(scratch_device)
    report = target.push(local)  # reconnects by itself
    assert report.bytes_sent == local.stat().st_size
    assert (blobs / sha).stat().st_size == local.stat().st_size
    target.close()


def test_push_refuses_clearly_when_the_disk_is_full(ssh_lab: SshdLab, tmp_path: Path) -> None:
    small = tmp_path / "tiny-fs"
    small.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        local, _ = _blob(tmp_path / "big.onnx", 4 * 1024 * 1024, seed=5)
        with SSHTarget(ssh_lab.spec("litert", workdir=str(small / "wd"))) as target:
            with pytest.raises(PushError) as info:
                target.push(local)
        msg = str(info.value)
        assert "not enough disk" in msg and "4194304 bytes" in msg
        assert info.value.data["free_bytes"] <= 8 * 1024 * 1024
        assert not list((small / "wd" / "blobs").iterdir())
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_push_missing_local_file_is_a_push_error(ssh_lab: SshdLab, tmp_path: Path) -> None:
    with pytest.raises(PushError):
        SSHTarget(ssh_lab.spec("litert")).push(tmp_path / "nope.onnx")


def test_agent_push_is_skipped_when_marker_matches(ssh_lab: SshdLab, fake_agent, tmp_path: Path) -> None:
    spec = ssh_lab.spec("litert", workdir=str(tmp_path / "agentwd"))
    with SSHTarget(spec, bundle=fake_agent) as target:
        first = target.push_agent()
        total = sum(len(d) for _, d in fake_agent.files)
        assert first.bytes_sent == total > 0
        agent_dir = Path(first.remote_path)
        assert agent_dir.name == fake_agent.dirname
        assert (agent_dir / AGENT_MARKER).read_text() == fake_agent.sha256
    with SSHTarget(spec, bundle=fake_agent) as target:  # new connection: checks the marker
        assert target.push_agent().bytes_sent == 0
    (agent_dir / AGENT_MARKER).unlink()  # an interrupted push: files but no marker
    (agent_dir / "edgebench_agent" / "__main__.py").write_text("broken")
    with SSHTarget(spec, bundle=fake_agent) as target:
        assert target.push_agent().bytes_sent == total
    assert (agent_dir / "edgebench_agent" / "__main__.py").read_bytes() == dict(fake_agent.files)[
        "edgebench_agent/__main__.py"]
    assert not list(agent_dir.parent.glob(".agent-tmp-*"))


def test_disk_margin_is_enforced(ssh_lab: SshdLab, tmp_path: Path, monkeypatch) -> None:
    """Without root (no tmpfs) still prove the check runs before any byte is sent."""
    monkeypatch.setattr(ssh_mod, "DISK_MARGIN_BYTES", 1 << 62)
    local, sha = _blob(tmp_path / "x.bin", 1000, seed=6)
    with SSHTarget(ssh_lab.spec("onnx-only")) as target:
        with pytest.raises(PushError, match="not enough disk"):
            target.push(local)
    assert not (Path(ssh_lab.spec("onnx-only").workdir) / "blobs" / sha).exists()
