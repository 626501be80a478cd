"""SSHTarget: run the agent on a device over SSH (paramiko), one job at a time.

Design points, each because a benchmark fleet punishes its absence:

* Lazy, fabric-style: ``SSHTarget(device)`` does no I/O; the connection opens on first use
  and ``close()`` / ``__exit__`` release SFTP, channels and jump-host transports.
* Host keys are checked against the device's known_hosts with a reject policy
  (:mod:`edgebench.targets.hostkeys`); nothing is ever auto-trusted.
* Every remote command is built from ``shlex.quote``-d argv tokens.  Device ``env`` goes
  through ``env VAR=value`` argv, so a value with ``;``, ``$( )`` or a newline arrives as
  that literal string, never as shell code.
* Blobs are content-addressed (``<workdir>/blobs/<sha256>``), uploaded to a temp name and
  ``posix_rename``-d only once their hash checks out: a cut connection cannot leave a
  half file that looks complete, and an existing blob is re-hashed, not assumed good.
* A job runs in its own session (``setsid``) so a timeout can kill its whole process
  group; a dropped connection raises :class:`DeviceError` (the fleet retries) while a job
  that ran and failed comes back as a :class:`JobOutcome`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import shlex
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any

from edgebench import agent_bundle
from edgebench.agent_bundle import AGENT_PACKAGE, AgentBundle
from edgebench.errors import AgentProtocolError, DeviceError, PushError
from edgebench.targets.base import JobOutcome, PushReport, Target, info_args
from edgebench.targets.linkerrors import LINK_ERRORS
from edgebench.targets.ssh_connect import DEFAULT_SSH_CONFIG, DeviceLike
from edgebench.targets.ssh_remote import RemoteResult, SSHSession

__all__ = ["SSHTarget", "RemoteResult", "safe_job_name", "sha256_file", "AGENT_MARKER"]

log = logging.getLogger(__name__)

#: Written last into ``agent-<hash>/``; holds the full bundle hash.
AGENT_MARKER = ".edgebench-agent-complete"
#: Keep this much free beyond the file itself: a full disk breaks the agent's result write.
DISK_MARGIN_BYTES = 16 * 1024 * 1024
STDERR_TAIL_BYTES = 8192
KILL_GRACE_S = 3.0
_KILLPG_PY = (
    "import os,signal,sys,time\n"
    "try: pid=int(open(sys.argv[1]).read().split()[0])\nexcept (OSError,ValueError,IndexError): sys.exit(0)\n"
    "try: os.killpg(pid,signal.SIGTERM)\nexcept ProcessLookupError: sys.exit(0)\n"
    "end=time.time()+float(sys.argv[2])\n"
    "while time.time()<end:\n"
    " try: os.killpg(pid,0)\n except ProcessLookupError: sys.exit(0)\n time.sleep(0.1)\n"
    "try: os.killpg(pid,signal.SIGKILL)\nexcept ProcessLookupError: pass\n"
)


def safe_job_name(job_id: str) -> str:
    """A filename for a job id: no separators, no leading dot, plus a hash against collisions."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", job_id).strip("._-")[:80] or "job"
    return f"{cleaned}-{hashlib.sha256(job_id.encode()).hexdigest()[:8]}"


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex digest, size in bytes) of a local file, streamed."""
    digest = hashlib.sha256()
    size_bytes = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size_bytes += len(chunk)
    return digest.hexdigest(), size_bytes


class _StallWatchdog:
    """Calls ``on_stall`` when ``progress`` has not been called for ``timeout_s``.

    A link that goes down mid-upload leaves paramiko blocked in a socket write that it
    retries forever (TCP keeps retransmitting for many minutes); closing the transport
    from this thread is what makes that write fail.
    """

    def __init__(self, timeout_s: float, on_stall: Any) -> None:
        self.timeout_s, self.on_stall = timeout_s, on_stall
        self.fired = False
        self._last = time.monotonic()
        self._done = threading.Event()

    def progress(self, *_: Any) -> None:
        self._last = time.monotonic()

    def _watch(self) -> None:
        while not self._done.wait(min(0.5, self.timeout_s / 4)):
            if time.monotonic() - self._last > self.timeout_s:
                self.fired = True
                self.on_stall()
                return

    def __enter__(self) -> "_StallWatchdog":
        self._last = time.monotonic()
        threading.Thread(target=self._watch, name="ssh-stall-watchdog", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()


class SSHTarget(SSHSession, Target):
    """One device reached over SSH.  Thread-safe, but runs one operation at a time."""

    def __init__(
        self,
        device: DeviceLike,
        *,
        bundle: AgentBundle | None = None,
        ssh_config_path: str = DEFAULT_SSH_CONFIG,
    ) -> None:
        super().__init__(device, ssh_config_path=ssh_config_path)
        self._bundle = bundle  # resolved lazily: bundle() reads the agent's files
        self._agent_ok_for: str | None = None  # bundle hash verified on this connection
        self._orphan_pidfile: str | None = None  # job left running by a lost connection

    def _on_reconnect(self) -> None:
        self._agent_ok_for = None
        self._reap_orphan()

    @property
    def bundle(self) -> AgentBundle:
        if self._bundle is None:
            self._bundle = agent_bundle.bundle()
        return self._bundle

    def push(self, local_path: Path) -> PushReport:
        """Upload into ``<workdir>/blobs/<sha256>``; verify an existing blob by hash first."""
        local_path = Path(local_path)
        try:
            sha, size_bytes = sha256_file(local_path)
        except OSError as exc:
            raise PushError(f"cannot read {local_path}: {exc}", device=self.name) from exc
        with self._lock:
            blobs = f"{self.workdir}/blobs"
            remote = f"{blobs}/{sha}"
            self.mkdirs(blobs)
            if self._exists(remote):
                if self.remote_sha256(remote) == sha:
                    return PushReport(remote, sha, size_bytes, 0)
                log.warning("%s: blob %s is corrupt on the device; re-sending", self.name, remote)
            with local_path.open("rb") as fh:
                sent = self._upload(fh, size_bytes, remote, expect_sha=sha)
            return PushReport(remote, sha, size_bytes, sent)

    def _upload(self, fh: IO[bytes], size_bytes: int, remote: str, *, expect_sha: str | None) -> int:
        """Write to ``.tmp-*`` beside ``remote``, check size (+hash), then posix_rename."""
        parent = remote.rsplit("/", 1)[0]
        free = self.free_disk_bytes(parent)
        if free < size_bytes + DISK_MARGIN_BYTES:
            raise PushError(
                f"no room: not enough disk for {remote.rsplit('/', 1)[1][:12]}: need {size_bytes} bytes "
                f"+ {DISK_MARGIN_BYTES} margin, {free} free in {parent}",
                device=self.name,
                hint="free space on the device (old blobs live in <workdir>/blobs) or move workdir",
                free_bytes=free,
                size_bytes=size_bytes,
            )
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex[:12]}-{remote.rsplit('/', 1)[1][:16]}"
        sftp = self._sftp()
        watchdog = _StallWatchdog(self.io_timeout_s, self._conn.close)
        try:
            with watchdog:
                attrs = sftp.putfo(fh, tmp, file_size=size_bytes, confirm=True,
                                   callback=watchdog.progress)
            if attrs.st_size != size_bytes:
                raise PushError(f"uploaded {attrs.st_size} of {size_bytes} bytes", device=self.name)
            if expect_sha is not None and self.remote_sha256(tmp) != expect_sha:
                raise PushError(f"hash mismatch after uploading {remote}", device=self.name)
            sftp.posix_rename(tmp, remote)
        except PushError:
            self._try_remove(tmp)
            raise
        except LINK_ERRORS as exc:
            if watchdog.fired or isinstance(exc, TimeoutError):  # no progress: the link is gone
                self._drop()
                raise PushError(f"upload of {remote} stalled: no progress for "
                                f"{self.io_timeout_s:g}s (link down?)", device=self.name,
                                connection_lost=True) from exc
            self._try_remove(tmp)
            if not self._conn.active:
                self._drop()
            raise PushError(f"upload of {remote} failed: {exc or type(exc).__name__}", device=self.name) from exc
        return size_bytes

    def agent_dir(self) -> str:
        return f"{self.workdir}/{self.bundle.dirname}"

    def push_agent(self) -> PushReport:
        """Ensure ``<workdir>/agent-<hash>/`` is complete; skip when its marker matches."""
        with self._lock:
            bundle = self.bundle
            final = self.agent_dir()
            marker = f"{final}/{AGENT_MARKER}"
            total = sum(len(data) for _, data in bundle.files)
            if self._agent_ok_for == bundle.sha256 and self._conn.active:
                return PushReport(final, bundle.sha256, total, 0)
            if self._read_text(marker) == bundle.sha256:
                self._agent_ok_for = bundle.sha256
                return PushReport(final, bundle.sha256, total, 0)
            tmp = f"{self.workdir}/.agent-tmp-{uuid.uuid4().hex[:12]}"
            dirs = sorted({f"{tmp}/{rel.rsplit('/', 1)[0]}" for rel, _ in bundle.files if "/" in rel})
            self.mkdirs(tmp, *dirs)
            try:
                for rel, data in bundle.files:
                    self._sftp().putfo(io.BytesIO(data), f"{tmp}/{rel}", file_size=len(data))
                self._sftp().putfo(io.BytesIO(bundle.sha256.encode()), f"{tmp}/{AGENT_MARKER}")
            except LINK_ERRORS as exc:
                if self._conn.active:
                    self.exec(f"rm -rf -- {shlex.quote(tmp)}", timeout_s=60)
                else:
                    self._drop()
                raise PushError(f"pushing the agent failed: {exc}", device=self.name) from exc
            # Replace an incomplete leftover; if a concurrent push won the rename, keep theirs.
            self._sh(f"rm -rf -- {shlex.quote(final)}", what="removing an incomplete agent")
            try:
                self._sftp().posix_rename(tmp, final)
            except OSError:
                self.exec(f"rm -rf -- {shlex.quote(tmp)}", timeout_s=60)
            if self._read_text(marker) != bundle.sha256:
                raise PushError(f"agent at {final} is incomplete after push", device=self.name)
            self._agent_ok_for = bundle.sha256
            return PushReport(final, bundle.sha256, total, total)

    def agent_command(self, *args: str) -> str:
        """``cd <agent dir> && env ... <python> -m edgebench_agent ARGS``, fully quoted."""
        argv = [*self.env_argv(), *self.python_argv(), "-m", AGENT_PACKAGE, *args]
        return f"cd {shlex.quote(self.agent_dir())} && " + " ".join(shlex.quote(a) for a in argv)

    def run_job(self, spec: dict[str, Any], *, timeout_s: float) -> JobOutcome:
        """Run ``agent run`` in a new session; kill its process group on timeout."""
        with self._lock:
            self.push_agent()
            job_id = str(spec.get("job_id", "job"))
            jobs = f"{self.workdir}/jobs"
            base = f"{jobs}/{safe_job_name(job_id)}"
            spec_path, result_path, pid_path = f"{base}.json", f"{base}.result.json", f"{base}.pid"
            self.mkdirs(jobs)
            self._sh(f"rm -f -- {shlex.quote(result_path)} {shlex.quote(pid_path)}", what="cleanup")
            try:
                self._write_bytes(spec_path, json.dumps(spec, indent=1, sort_keys=True).encode())
            except DeviceError:
                if not self._conn.active:
                    raise
                free = self.free_disk_bytes(jobs)  # the link is fine: is it the disk?
                if free < DISK_MARGIN_BYTES:
                    raise PushError(
                        f"no room: cannot write the job spec, {free} bytes free in {jobs}",
                        device=self.name, hint="free space on the device (old blobs live in "
                        "<workdir>/blobs) or move workdir", free_bytes=free, size_bytes=0) from None
                raise
            q = shlex.quote
            argv = [*self.env_argv(), "setsid", *self.python_argv(), "-m", AGENT_PACKAGE,
                    "run", spec_path, "--out", result_path]
            # `&` forks a child that is not a process-group leader, so setsid(1) makes it
            # the leader of a new session *without* forking again: $! is the group id.
            command = (
                f"cd {q(self.agent_dir())} || exit 97\n"
                f"{' '.join(q(a) for a in argv)} </dev/null &\n"
                f"pid=$!\necho \"$pid\" > {q(pid_path)}\nwait \"$pid\""
            )
            self._orphan_pidfile = pid_path
            res = self.exec(
                command,
                timeout_s=timeout_s,
                on_timeout=lambda: self.kill_job(pid_path),
                cap_bytes=STDERR_TAIL_BYTES,
            )
            self._orphan_pidfile = None
            stderr_tail = res.stderr.decode(errors="replace")[-STDERR_TAIL_BYTES:]
            extra: dict[str, Any] = {
                "spec_path": spec_path,
                "result_path": result_path,
                "stdout_tail": res.stdout.decode(errors="replace")[-2000:],
            }
            if res.timed_out:
                return JobOutcome(None, None, stderr_tail, True, res.wall_s, extra)
            if not self._conn.active:  # close() from another thread killed the job mid-run
                raise DeviceError("target closed while the job was running", device=self.name,
                                  connection_lost=True, job_id=job_id)
            self._try_remove(pid_path)
            result = None
            text = self._read_text(result_path)
            if text is not None:
                try:
                    result = json.loads(text)
                except json.JSONDecodeError as exc:
                    extra["result_error"] = f"result file is not JSON: {exc}"
            else:
                extra["result_error"] = "agent wrote no result file"
            return JobOutcome(result, res.returncode, stderr_tail, False, res.wall_s, extra)

    def _kill_command(self, pid_path: str, grace_s: float) -> str:
        py = " ".join(shlex.quote(a) for a in self.python_argv())
        return f"{py} -c {shlex.quote(_KILLPG_PY)} {shlex.quote(pid_path)} {grace_s:g}"

    def kill_job(self, pid_path: str, *, grace_s: float = KILL_GRACE_S) -> None:
        """TERM, then after ``grace_s`` KILL, the process group recorded in ``pid_path``."""
        try:
            self.exec(self._kill_command(pid_path, grace_s), timeout_s=grace_s + 30)
        except DeviceError:
            log.warning("%s: could not kill the job group from %s", self.name, pid_path)

    def _before_close(self) -> None:
        """Kill a job still running (close() from another thread, e.g. on Ctrl-C).

        Uses a raw channel on the live transport, not ``exec``: the worker thread running
        the job holds the lock, and waiting for it would make Ctrl-C wait for the job.
        """
        pid_path = self._orphan_pidfile
        client = self._conn.client
        transport = client.get_transport() if client is not None else None
        if not pid_path or transport is None or not transport.is_active():
            return
        try:
            chan = transport.open_session(timeout=5)
            chan.exec_command(self._kill_command(pid_path, KILL_GRACE_S))
            chan.status_event.wait(KILL_GRACE_S + 5)
            chan.close()
            self._orphan_pidfile = None
        except LINK_ERRORS:
            log.warning("%s: could not kill the running job while closing", self.name)

    def _reap_orphan(self) -> None:
        """After a reconnect, kill a job the lost connection left running (it skews timings)."""
        pid_path, self._orphan_pidfile = self._orphan_pidfile, None
        if pid_path:
            self.kill_job(pid_path, grace_s=1.0)

    def inventory(self) -> dict[str, Any]:
        """``agent info`` plus free disk in the workdir and the connection's facts."""
        with self._lock:
            self.push_agent()
            res = self.exec(self.agent_command("info", *info_args(self.device)),
                            timeout_s=max(120.0, self.device.connect_timeout_s))
            stderr = res.stderr.decode(errors="replace").strip()
            if res.timed_out or res.returncode != 0:
                hint = "is `python` in devices.yaml right?" if res.returncode == 127 else None
                raise DeviceError(
                    f"agent info failed (exit {res.returncode}): {stderr[-400:]}", device=self.name, hint=hint
                )
            try:
                info = json.loads(res.stdout)
            except json.JSONDecodeError as exc:
                raise AgentProtocolError(
                    f"device {self.name!r}: agent info did not print JSON: {res.stdout[:200]!r}"
                ) from exc
            if not isinstance(info, dict):
                raise AgentProtocolError(f"device {self.name!r}: agent info printed {type(info).__name__}")
            info["disk_free_bytes"] = self.free_disk_bytes()
            info["workdir"] = self.workdir
            info["ssh"] = self._conn.facts()
            return info
