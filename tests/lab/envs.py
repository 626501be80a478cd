"""Per-device Python environments that mirror a real fleet.

A real fleet is not uniform: an old Raspberry Pi runs Python 3.9 with ``tflite-runtime``
and numpy 1.x, a newer board has ``ai-edge-litert``, an x86 box only ONNX Runtime.  The
lab gives each simulated device such an interpreter so ``inventory()`` and jobs meet the
same mix of runtimes the controller will meet in the field.

Environments are expensive to build (pip downloads ~100 MB), so they are cached between
test sessions under ``~/.cache/edgebench-lab/envs/<name>-<hash>`` where the hash covers
the interpreter and the requirements: a changed pin builds a new env instead of reusing a
stale one.  Builds go to a temp dir that is renamed into place only when pip succeeded,
so an interrupted build never looks complete; an ``fcntl`` lock keeps two parallel test
sessions from building the same env twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Where built envs live; override with ``EDGEBENCH_LAB_CACHE`` (e.g. a CI cache dir).
CACHE_ROOT = Path(os.environ.get("EDGEBENCH_LAB_CACHE", "~/.cache/edgebench-lab")).expanduser()
ENVS_ROOT = CACHE_ROOT / "envs"

#: pip may take this long per env before we give up (a cold build is ~1-2 minutes).
PIP_TIMEOUT_S = float(os.environ.get("EDGEBENCH_LAB_PIP_TIMEOUT_S", "900"))


def require_lab() -> bool:
    """True when a missing sshd / env must fail the tests (CI sets EDGEBENCH_REQUIRE_SSH=1)."""
    return os.environ.get("EDGEBENCH_REQUIRE_SSH", "") not in ("", "0", "false", "no")


def _default_python() -> str:
    """A plain interpreter for envs that have no pinned Python (not the test venv itself)."""
    override = os.environ.get("EDGEBENCH_LAB_PYTHON")
    if override:
        return override
    base = getattr(sys, "_base_executable", None) or sys.executable
    return str(Path(base).resolve())


def _legacy_python() -> str:
    """Python 3.9 like Raspberry Pi OS Bullseye, when pyenv has it; else the default."""
    candidate = Path("/root/.pyenv/versions/3.9.18/bin/python3")
    return str(candidate) if candidate.is_file() else shutil.which("python3") or _default_python()


@dataclass(frozen=True)
class EnvSpec:
    """What one simulated device has installed."""

    name: str
    python: str
    requirements: tuple[str, ...]
    #: what inventory() must report for this env: module -> version prefix ('' = any)
    expect_runtimes: dict[str, str] = field(default_factory=dict)
    expect_absent: tuple[str, ...] = ()

    def key(self) -> str:
        """Hash of interpreter identity + requirements: the cache key of the env."""
        version = subprocess.run(
            [self.python, "-c", "import sys; print(sys.version)"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        blob = json.dumps(
            {"python": str(Path(self.python).resolve()), "version": version,
             "requirements": sorted(self.requirements)},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def fleet_specs() -> dict[str, EnvSpec]:
    """The three device kinds the lab simulates."""
    return {
        "legacy-pi": EnvSpec(
            "legacy-pi",
            _legacy_python(),
            ("tflite-runtime==2.14.0", "numpy<2"),
            expect_runtimes={"tflite_runtime": "2.14.0", "numpy": "1."},
            expect_absent=("onnxruntime", "ai_edge_litert"),
        ),
        "litert": EnvSpec(
            "litert",
            _default_python(),
            ("ai-edge-litert", "numpy"),
            expect_runtimes={"ai_edge_litert": "", "numpy": ""},
            expect_absent=("onnxruntime", "tflite_runtime"),
        ),
        "onnx-only": EnvSpec(
            "onnx-only",
            _default_python(),
            ("onnxruntime", "numpy"),
            expect_runtimes={"onnxruntime": "", "numpy": ""},
            expect_absent=("tflite_runtime", "ai_edge_litert"),
        ),
    }


@dataclass(frozen=True)
class LabEnv:
    """A built environment: its interpreter is what devices.yaml's ``python`` points at."""

    spec: EnvSpec
    path: Path
    build_s: float  # 0.0 when it came from the cache
    cached: bool

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")


class EnvBuildError(RuntimeError):
    """pip or venv failed (typically: no network); the message says which and why."""


def build_env(spec: EnvSpec, *, root: Path = ENVS_ROOT) -> LabEnv:
    """Return the cached env for ``spec``, building it first if needed (atomic, locked)."""
    if not Path(spec.python).is_file() and not shutil.which(spec.python):
        raise EnvBuildError(f"{spec.name}: interpreter {spec.python} not found")
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{spec.name}-{spec.key()}"
    if (final / ".complete").is_file():
        return LabEnv(spec, final, 0.0, True)
    with open(root / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building it right now
        if (final / ".complete").is_file():
            return LabEnv(spec, final, 0.0, True)
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{spec.name}-", dir=root))
        try:
            _run([spec.python, "-m", "venv", str(tmp)], f"{spec.name}: venv")
            _run(
                [str(tmp / "bin" / "python"), "-m", "pip", "install", "--no-input", "-q",
                 *spec.requirements],
                f"{spec.name}: pip install {' '.join(spec.requirements)}",
            )
            build_s = time.monotonic() - started
            (tmp / ".complete").write_text(
                json.dumps({"requirements": list(spec.requirements), "build_s": build_s})
            )
            if final.exists():  # a half-built leftover without .complete
                shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return LabEnv(spec, final, build_s, False)


def _run(argv: list[str], what: str) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise EnvBuildError(f"{what}: timed out after {PIP_TIMEOUT_S:.0f}s") from exc
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        tail = [ln for ln in lines if not ln.startswith("WARNING")][-2:] or lines[-2:]
        raise EnvBuildError(f"{what}: exit {proc.returncode}: {' | '.join(tail)}")


def build_fleet_envs() -> tuple[dict[str, LabEnv], dict[str, str]]:
    """Build every env; return (built envs, name -> reason for the ones that failed)."""
    built: dict[str, LabEnv] = {}
    failed: dict[str, str] = {}
    for name, spec in fleet_specs().items():
        try:
            built[name] = build_env(spec)
        except (EnvBuildError, OSError, subprocess.SubprocessError) as exc:
            failed[name] = str(exc)
    return built, failed


if __name__ == "__main__":  # pre-warm the cache in CI: python -m tests.lab.envs
    t0 = time.monotonic()
    envs, errors = build_fleet_envs()
    for env in envs.values():
        print(f"{env.spec.name}: {env.path} ({'cached' if env.cached else f'built in {env.build_s:.1f}s'})")
    for name, reason in errors.items():
        print(f"{name}: FAILED {reason}")
    print(f"total {time.monotonic() - t0:.1f}s")
    sys.exit(1 if errors else 0)
