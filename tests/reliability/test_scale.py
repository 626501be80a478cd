"""Scale: 64 real sshd devices x 4 models in one run, and the handshake limit that needs.

The 64-device run goes through ``benchmarks/bench_scale.py`` (``python -m edgebench run``
as a subprocess, so the controller's own peak RSS is its VmHWM) and checks that every job
is accounted for in the journal and the store, that the controller stays within 300 MB,
and prints wall time against the ideal (the slowest device's total job time).  The same
lab first runs 16 devices, so the figures also say how the controller's peak grows per
added device (recorded, not asserted: it depends on how many devices queue at once).
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.helpers import FIGURES, TALLY

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))


def test_simultaneous_connects_to_one_sshd_with_default_maxstartups(ssh_lab: Any, lab_envs: Any) -> None:
    """24 devices behind one sshd (a ProxyJump gateway, a multi-device host) with OpenSSH's
    default MaxStartups 10:30:100: opened all at once, every one must connect."""
    from edgebench.targets.ssh import SSHTarget

    name = f"gw-{uuid.uuid4().hex[:6]}"
    ssh_lab.add(name, python=lab_envs.python("onnx-only"), max_startups="10:30:100")
    try:
        n = 24
        barrier = threading.Barrier(n)
        results: dict[int, str] = {}

        def one(i: int) -> None:
            spec = replace(ssh_lab.spec(name, connect_timeout_s=20.0), name=f"{name}-{i}")
            target = SSHTarget(spec)
            try:
                barrier.wait()
                results[i] = target.exec("echo up", timeout_s=30).stdout.decode().strip()
            except Exception as exc:  # noqa: BLE001
                results[i] = f"{type(exc).__name__}: {exc}"
            finally:
                target.close()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        failed = {i: r for i, r in results.items() if r != "up"}
        assert len(results) == n and not failed, failed
        TALLY["scale: simultaneous connects through one MaxStartups-10 sshd"] += n
    finally:
        ssh_lab.kill(name)
        del ssh_lab.devices[name]


@pytest.mark.slow
def test_64_devices_x_4_models(tmp_path: Path, lab_envs: Any) -> None:
    from bench_scale import run_with_growth

    devices, models = int(os.environ.get("EB_SCALE_DEVICES", 64)), 4
    figures = run_with_growth(tmp_path, devices=devices, growth_from=16, models=models,
                              min_duration_s=0.05, python=lab_envs.python("onnx-only"))
    FIGURES["scale"] = {k: v for k, v in figures.items() if k not in ("run_dir", "errors")}
    print(f"scale figures: {figures}")
    planned = devices * models
    assert figures["jobs_planned"] == planned
    assert figures["journal_lines"] == figures["distinct_jobs"] == planned, figures
    assert figures["store_rows"] == figures["store_distinct"] == planned, figures
    assert figures["statuses"] == {"ok": planned}, figures["errors"]
    assert figures["exit_code"] == 0
    # the build and the report run in child processes (edgebench/child.py); this bounds the
    # controller itself, which holds one thread and one SSH transport per device
    assert figures["controller_peak_rss_mb"] <= 300, figures
    if "at_growth_from" in figures:  # the 16-device run before it must have been whole too
        assert figures["at_growth_from"]["statuses"] == {"ok": 16 * models}, figures["at_growth_from"]
    TALLY["scale: devices"] += devices
    TALLY["scale: jobs accounted for"] += figures["distinct_jobs"]
