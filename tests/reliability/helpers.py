"""Shared helpers for the reliability tests: lab devices.yaml, CLI runs, journal/store checks,
and a session-wide tally of what was tried (printed in pytest's terminal summary)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml

from tests.lab.envs import require_lab

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
FAST = {"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": 10, "min_duration_s": 0.05,
        "max_duration_s": 5.0}

#: name -> count; printed once at the end of the session (see conftest.py)
TALLY: Counter = Counter()
FIGURES: dict[str, Any] = {}


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        reason = f"{what} needs root"
        if require_lab():
            pytest.fail(f"EDGEBENCH_REQUIRE_SSH=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def entry(ssh_lab: Any, name: str, **overrides: Any) -> dict[str, Any]:
    spec = ssh_lab.spec(name, **overrides)
    return {k: v for k, v in vars(spec).items() if k != "name" and v not in (None, [], {})}


def devices_yaml(path: Path, entries: dict[str, dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"devices": entries}, sort_keys=False))
    return path


def suite_yaml(path: Path, *, name: str, devices: list[str], models: list[dict[str, Any]],
               **extra: Any) -> Path:
    bench = {**FAST, **extra.pop("benchmark", {})}
    path.write_text(yaml.safe_dump({"name": name, "devices": devices, "models": models,
                                    "benchmark": bench, **extra}, sort_keys=False))
    return path


def cli_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.setdefault("EDGEBENCH_CACHE", str(Path(env.get("TMPDIR", "/tmp")) / "eb-rel-cache"))
    return env


def cli(*args: str, cwd: Path = ROOT, timeout: float = 300, env: Optional[dict] = None
        ) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "edgebench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env or cli_env())


def start_cli(*args: str, cwd: Path = ROOT, env: Optional[dict] = None,
              log: Optional[Path] = None) -> subprocess.Popen:
    out = open(log, "wb") if log else subprocess.DEVNULL
    return subprocess.Popen([PY, "-m", "edgebench", *args], cwd=cwd, env=env or cli_env(),
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def run_dir_of(out: Path) -> Optional[Path]:
    runs = [p for p in out.iterdir() if (p / "run.json").exists()] if out.exists() else []
    return runs[0] if len(runs) == 1 else None


def journal_lines(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "results.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().split(b"\n"):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def running_job_pids(workdir: Path) -> list[int]:
    """Process-group ids of jobs running now on a lab device (from its jobs/*.pid files)."""
    pids = []
    for pid_file in (workdir / "jobs").glob("*.pid") if (workdir / "jobs").exists() else []:
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
            pids.append(pid)
        except (OSError, ValueError, IndexError):
            pass
    return pids


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def store_jobs(db: Path, run_id: str) -> list[tuple[str, str]]:
    """(job_id, status) rows the SQLite store holds for ``run_id``."""
    con = sqlite3.connect(str(db))
    try:
        return [tuple(r) for r in con.execute(
            "SELECT job_id, status FROM jobs WHERE run_id = ?", (run_id,))]
    finally:
        con.close()


def assert_once_in_journal_and_store(run_dir: Path, db: Path, job_ids: set[str]) -> None:
    """Each finished job id appears in the journal's latest view and the store exactly once."""
    from edgebench.results.journal import read_journal

    latest = read_journal(run_dir / "results.jsonl").latest()
    missing = job_ids - set(latest)
    assert not missing, f"finished jobs missing from the journal: {missing}"
    rows = store_jobs(db, run_dir.name)
    ids = [j for j, _ in rows]
    dupes = {j for j in ids if ids.count(j) > 1}
    assert not dupes, f"jobs stored twice: {dupes}"
    assert job_ids <= set(ids), f"finished jobs missing from the store: {job_ids - set(ids)}"
    statuses = dict(rows)
    for job_id in job_ids:
        assert statuses[job_id] == latest[job_id].status, job_id
