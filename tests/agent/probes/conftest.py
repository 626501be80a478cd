"""Shared pytest fixtures: fixture trees, fake tools on PATH, thread-leak check."""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.agent.probes.probes_helpers import FAKEBIN, FIXTURES


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's EDGEBENCH_SYSFS_ROOT must not leak into tests."""
    monkeypatch.delenv("EDGEBENCH_SYSFS_ROOT", raising=False)


@pytest.fixture
def fakebin(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the fake vcgencmd / tegrastats / nvpmodel first on PATH."""
    for tool in FAKEBIN.iterdir():
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{FAKEBIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return FAKEBIN


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a fixture tree into tmp_path (symlinks kept) so a test may change it."""

    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(FIXTURES / name, dest, symlinks=True)
        return dest

    return copy


@pytest.fixture
def probe_threads_gone() -> Iterator[None]:
    """Fail a test that leaves a probe thread running."""
    yield
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        left = [t.name for t in threading.enumerate() if t.name.startswith("edgebench-")]
        if not left:
            return
        time.sleep(0.05)
    raise AssertionError(f"probe threads still running: {left}")
