"""Shared fixture: one variant cache per session so built-ins train once."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def eb_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "ebcache"
