"""A slow device (CPU quota, thin link) through SSHTarget; root-only lab helpers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgebench.targets.ssh import SSHTarget
from tests.lab.plugin import skip_or_fail
from tests.lab.slow import CpuQuota, SlowLink, cpu_quota_unavailable, slow_link_unavailable
from tests.lab.sshd import SshdLab

pytestmark = pytest.mark.lab

BUSY = "import time\nt=time.process_time();s=time.time()\nwhile time.process_time()-t<0.3: pass\nprint(time.time()-s)"


def test_cpu_quota_slows_the_devices_jobs(ssh_lab: SshdLab, scratch_device: str) -> None:
    reason = cpu_quota_unavailable()
    if reason:
        pytest.skip(reason)  # optional helper: never required, even in CI
    spec = ssh_lab.spec(scratch_device)
    with SSHTarget(spec) as target:
        fast_wall_s = float(target.check_output([*target.python_argv(), "-c", BUSY]))
    with CpuQuota(scratch_device, 0.1) as quota:
        quota.add(ssh_lab.devices[scratch_device].proc.pid)
        with SSHTarget(spec) as target:  # a new connection forks inside the group
            slow_wall_s = float(target.check_output([*target.python_argv(), "-c", BUSY]))
    # 0.3 s of CPU at 10% of a core needs ~3 s of wall time
    assert slow_wall_s > max(4 * fast_wall_s, 1.5), (fast_wall_s, slow_wall_s)


def test_thin_link_slows_pushes(ssh_lab: SshdLab, tmp_path: Path) -> None:
    reason = slow_link_unavailable()
    if reason:
        pytest.skip(reason)
    name = "thin-link"
    blob = tmp_path / "m.bin"
    blob.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    with SlowLink(7, rate_kbit=2000) as link:
        try:
            ssh_lab.add(name, host=link.device_ip, port=22, netns=link.netns,
                        python=ssh_lab.devices["onnx-only"].python)
        except Exception as exc:  # noqa: BLE001
            skip_or_fail(f"sshd in a netns did not start: {exc}")
        try:
            with SSHTarget(ssh_lab.spec(name)) as target:
                started = time.monotonic()
                report = target.push(blob)
                took_s = time.monotonic() - started
        finally:
            ssh_lab.kill(name)
            del ssh_lab.devices[name]
    assert report.bytes_sent == 1024 * 1024
    # 8 Mbit at 2 Mbit/s is >= 4 s; loopback would take milliseconds
    assert took_s > 3.5, took_s
