"""pytest fixtures for the device lab.  Register with ``pytest_plugins = ["tests.lab.plugin"]``.

Fixtures:

``lab_envs`` (session)
    The three fleet Python envs (``legacy-pi``, ``litert``, ``onnx-only``), built once and
    cached under ``~/.cache/edgebench-lab/envs``.  ``lab_envs.get(name)`` returns a
    :class:`~tests.lab.envs.LabEnv` or skips (fails under ``EDGEBENCH_REQUIRE_SSH=1``).
``ssh_lab`` (session)
    A :class:`~tests.lab.sshd.SshdLab` with one sshd per env, each device's ``python``
    pointing at its env interpreter (or this interpreter if the env could not be built).
``scratch_device`` (function)
    Name of a fresh, trusted device in ``ssh_lab`` for tests that kill, restart or re-key
    it; removed afterwards so it cannot disturb other tests.
``fake_agent`` (session)
    An AgentBundle with the stand-in agent of :mod:`tests.lab.fake_agent`.

Timings (env build, sshd start) are printed at the end of the session and written to
``<lab root>/timings.json``.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.envs import LabEnv, build_fleet_envs, require_lab
from tests.lab.fake_agent import fake_bundle
from tests.lab.sshd import LabUnavailable, SshdLab, sshd_available

FLEET = ("legacy-pi", "litert", "onnx-only")


def skip_or_fail(reason: str) -> None:
    """Skip -- unless CI demands the lab (EDGEBENCH_REQUIRE_SSH=1), then fail loudly."""
    if require_lab():
        pytest.fail(f"EDGEBENCH_REQUIRE_SSH=1 but {reason}", pytrace=False)
    pytest.skip(reason)


class LabEnvs:
    """Built envs plus the reasons the others failed."""

    def __init__(self, built: dict[str, LabEnv], failed: dict[str, str], total_s: float) -> None:
        self.built = built
        self.failed = failed
        self.total_s = total_s

    def get(self, name: str) -> LabEnv:
        if name not in self.built:
            skip_or_fail(f"lab env {name!r} unavailable: {self.failed.get(name, 'unknown')}")
        return self.built[name]

    def python(self, name: str) -> str:
        env = self.built.get(name)
        return env.python if env else sys.executable


_TIMINGS: dict[str, Any] = {}


@pytest.fixture(scope="session")
def lab_envs() -> LabEnvs:
    started = time.monotonic()
    built, failed = build_fleet_envs()
    total_s = time.monotonic() - started
    _TIMINGS["envs_total_s"] = round(total_s, 2)
    _TIMINGS["envs"] = {
        name: ("cached" if env.cached else f"built in {env.build_s:.1f}s") for name, env in built.items()
    } | {name: f"FAILED: {why[:120]}" for name, why in failed.items()}
    return LabEnvs(built, failed, total_s)


@pytest.fixture(scope="session")
def ssh_lab(tmp_path_factory: pytest.TempPathFactory, lab_envs: LabEnvs) -> Iterator[SshdLab]:
    reason = sshd_available()
    if reason:
        skip_or_fail(reason)
    try:
        lab = SshdLab(tmp_path_factory.mktemp("sshlab"))
        started = time.monotonic()
        for name in FLEET:
            lab.add(name, python=lab_envs.python(name))
        _TIMINGS["sshd_start_total_s"] = round(time.monotonic() - started, 3)
        _TIMINGS["sshd_start_s"] = {n: round(d.start_s, 3) for n, d in lab.devices.items()}
    except LabUnavailable as exc:
        skip_or_fail(str(exc))
    yield lab
    lab.close()
    (lab.root / "timings.json").write_text(json.dumps(_TIMINGS, indent=1))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the lab's env-build and sshd-start times once (the hook may be registered twice)."""
    if _TIMINGS and not _TIMINGS.get("_printed"):
        _TIMINGS["_printed"] = True
        shown = {k: v for k, v in _TIMINGS.items() if not k.startswith("_")}
        terminalreporter.write_line(f"edgebench lab timings: {json.dumps(shown)}")


@pytest.fixture
def scratch_device(ssh_lab: SshdLab, lab_envs: LabEnvs) -> Iterator[str]:
    name = f"scratch-{uuid.uuid4().hex[:6]}"
    try:
        ssh_lab.add(name, python=lab_envs.python("onnx-only"))
    except LabUnavailable as exc:
        skip_or_fail(str(exc))
    yield name
    ssh_lab.kill(name)
    del ssh_lab.devices[name]


@pytest.fixture(scope="session")
def fake_agent() -> Any:
    return fake_bundle()
