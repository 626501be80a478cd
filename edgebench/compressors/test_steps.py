"""Recipe steps that exist only for tests: they crash the process that builds a variant.

They prove the build isolation (a quantizer that segfaults must fail only its variant), so
they must be reachable from a suite the way a real step is -- but never by accident: they
are registered only when ``EDGEBENCH_TEST_STEPS=1`` is in the environment (inherited by
the build's child process).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from pydantic import Field

from edgebench.compressors.stepbase import StepParams

ENV = "EDGEBENCH_TEST_STEPS"
NAMES = ("test-crash", "test-hang")


def enabled() -> bool:
    return os.environ.get(ENV) == "1"


class CrashParams(StepParams):
    signal: int = Field(int(signal.SIGSEGV), ge=1, le=64)  # what the build process dies of


class HangParams(StepParams):
    seconds: float = Field(3600.0, gt=0)


PARAMS: dict[str, type[StepParams]] = {"test-crash": CrashParams, "test-hang": HangParams}


def apply(name: str, params: dict[str, Any], state: Any) -> Any:
    """Kill (or stall) the current process, as a native toolchain crash would."""
    if name == "test-crash":
        os.kill(os.getpid(), CrashParams(**params).signal)
        time.sleep(5)  # the signal is delivered asynchronously on some platforms
    else:
        time.sleep(HangParams(**params).seconds)
    return state
