"""The controller itself as a device: the agent in a fresh subprocess per job.

Same path as a remote device (staged agent bundle, JSON spec file, JSON result file,
its own process group killed on timeout), so what passes on ``local`` exercises the
protocol the SSH devices use; only the transport differs.  ``agent info`` gets its own
process group too, so :meth:`LocalTarget.interrupt` (Ctrl-C) can kill whatever agent the
target has started, and none can start after it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

from ..agent_bundle import AGENT_PACKAGE, AgentBundle
from ..agent_bundle import bundle as default_bundle
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
        # held while an agent is being started, so interrupt() either sees the new process
        # (and kills it) or the starter sees _interrupted (and starts nothing): no agent
        # started in the instant of a Ctrl-C is left running after the controller exits
        self._start_lock = threading.Lock()
        self._interrupted = False

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

    def close(self, grace_s: float = 2.0) -> None:
        with self._start_lock:
            running = list(self._running)
            self._running.clear()
        for proc in running:
            kill_group(proc, grace_s)

    def interrupt(self) -> None:
        """Ctrl-C: kill the agent running now and refuse to start another, for good.

        Unlike ``close`` (after which the fleet may reuse the target) this is final, so a
        job that was about to start when the run was stopped does not start after the
        kill.  A shorter grace: the agent has no SIGTERM handler and dies at once; one
        that does not gets SIGKILL quickly enough for the run to end within 2 s.
        """
        with self._start_lock:
            self._interrupted = True
        self.close(grace_s=0.5)

    def _start(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen:
        """Start an agent process in its own process group, registered for killing."""
        env = self._env()
        with self._start_lock:
            if self._interrupted:
                raise DeviceError("the run was interrupted", device=self.name)
            proc = subprocess.Popen(cmd, env=env, start_new_session=True, **kwargs)
            self._running.add(proc)
        return proc

    def inventory(self) -> dict[str, Any]:
        cmd = [self.python, "-m", AGENT_PACKAGE, "info", "--workdir", str(self.workdir),
               *info_args(self.device)]
        try:
            proc = self._start(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            raise DeviceError(f"agent info failed: {exc}", device=self.name) from exc
        try:
            stdout, stderr = proc.communicate(timeout=self.device.connect_timeout_s + 60)
        except subprocess.TimeoutExpired as exc:
            kill_group(proc)
            proc.communicate()
            raise DeviceError(f"agent info failed: {exc}", device=self.name) from exc
        finally:
            self._running.discard(proc)
        if proc.returncode != 0:
            tail = stderr.strip().splitlines()[-1:] or ["no output"]
            raise DeviceError(f"agent info exited {proc.returncode}: {tail[0]}", device=self.name,
                              hint=f"check that {self.python} has numpy installed")
        try:
            return json.loads(stdout)
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
            try:
                proc = self._start(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=str(self._agent()))
            except BaseException:
                os.unlink(spec_path)
                raise
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
