"""The controller itself as a device: the agent in a fresh subprocess per job.

Same path as a remote device (staged agent bundle, JSON spec file, JSON result file,
its own process group killed on timeout), so what passes on ``local`` exercises the
protocol the SSH devices use; only the transport differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from ..agent_bundle import AGENT_PACKAGE, AgentBundle, bundle as default_bundle
from ..errors import AgentProtocolError, DeviceError
from .base import JobOutcome, PushReport, Target, info_args

_STDERR_TAIL_BYTES = 4000


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def kill_group(proc: subprocess.Popen, grace_s: float = 2.0) -> None:
    """TERM then KILL the whole process group the agent leads."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


class LocalTarget(Target):
    """Runs jobs on this machine under ``python`` (default: the controller's interpreter)."""

    def __init__(self, device: Any, *, bundle: Optional[AgentBundle] = None) -> None:
        self.device = device
        self.name = device.name
        explicit = "python" in getattr(device, "model_fields_set", set())
        self.python = os.path.expanduser(device.python) if explicit else sys.executable
        self.workdir = Path(os.path.expanduser(device.workdir)) / "local"
        self.bundle = bundle or default_bundle()
        self._agent_dir: Optional[Path] = None
        self._running: set[subprocess.Popen] = set()

    def _agent(self) -> Path:
        if self._agent_dir is None:
            try:
                self._agent_dir = self.bundle.write_to(self.workdir)
            except OSError as exc:
                raise DeviceError(f"cannot stage the agent in {self.workdir}: {exc.strerror}",
                                  device=self.name) from exc
        return self._agent_dir

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.device.env)
        env["PYTHONPATH"] = str(self._agent())
        env.setdefault("PYTHONHASHSEED", "0")
        return env

    def close(self) -> None:
        for proc in list(self._running):
            kill_group(proc)
        self._running.clear()

    def inventory(self) -> dict[str, Any]:
        cmd = [self.python, "-m", AGENT_PACKAGE, "info", "--workdir", str(self.workdir),
               *info_args(self.device)]
        try:
            out = subprocess.run(cmd, env=self._env(), capture_output=True, text=True,
                                 timeout=self.device.connect_timeout_s + 60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeviceError(f"agent info failed: {exc}", device=self.name) from exc
        if out.returncode != 0:
            tail = out.stderr.strip().splitlines()[-1:] or ["no output"]
            raise DeviceError(f"agent info exited {out.returncode}: {tail[0]}", device=self.name,
                              hint=f"check that {self.python} has numpy installed")
        try:
            return json.loads(out.stdout)
        except json.JSONDecodeError as exc:
            raise AgentProtocolError(f"device {self.name!r}: agent info is not JSON") from exc

    def push(self, local_path: Path) -> PushReport:
        """Local jobs read the file in place: nothing is copied, and we say so."""
        path = Path(local_path).resolve()
        return PushReport(remote_path=str(path), sha256=_sha256(path),
                          size_bytes=path.stat().st_size, bytes_sent=0)

    def run_job(self, spec: dict[str, Any], *, timeout_s: float) -> JobOutcome:
        jobs = self.workdir / "jobs"
        jobs.mkdir(parents=True, exist_ok=True)
        fd, spec_path = tempfile.mkstemp(prefix="spec-", suffix=".json", dir=jobs)
        with os.fdopen(fd, "w") as fh:
            json.dump(spec, fh)
        result_path = spec_path.replace("spec-", "result-")
        cmd = [self.python, "-m", AGENT_PACKAGE, "run", spec_path, "--out", result_path]
        start = time.perf_counter()
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(cmd, env=self._env(), stdout=subprocess.DEVNULL, stderr=err,
                                    cwd=str(self._agent()), start_new_session=True)
            self._running.add(proc)
            timed_out = False
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                kill_group(proc)
            finally:
                self._running.discard(proc)
            err.seek(0, os.SEEK_END)
            err.seek(max(0, err.tell() - _STDERR_TAIL_BYTES))
            stderr_tail = err.read().decode("utf-8", "replace")
        wall_s = time.perf_counter() - start
        result = None
        if not timed_out and os.path.exists(result_path):
            try:
                with open(result_path) as fh:
                    result = json.load(fh)
            except (OSError, json.JSONDecodeError):
                result = None
        for p in (spec_path, result_path):
            if os.path.exists(p):
                os.unlink(p)
        return JobOutcome(result=result, returncode=proc.returncode, stderr_tail=stderr_tail,
                          timed_out=timed_out, wall_s=wall_s)
