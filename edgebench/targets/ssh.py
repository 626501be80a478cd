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
import select
import shlex
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

import paramiko

from edgebench import agent_bundle
from edgebench.agent_bundle import AGENT_PACKAGE, AgentBundle
from edgebench.errors import AgentProtocolError, ConfigError, DeviceError, PushError
from edgebench.targets.base import JobOutcome, PushReport, Target
from edgebench.targets.ssh_connect import DEFAULT_SSH_CONFIG, Connection, DeviceLike

log = logging.getLogger(__name__)

#: Written last into ``agent-<hash>/``; holds the full bundle hash.
AGENT_MARKER = ".edgebench-agent-complete"
#: Keep this much free beyond the file itself: a full disk breaks the agent's result write.
DISK_MARGIN_BYTES = 16 * 1024 * 1024
STDERR_TAIL_BYTES = 8192
KILL_GRACE_S = 3.0
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_HASH_PY = (
    "import hashlib,sys\nh=hashlib.sha256()\nwith open(sys.argv[1],'rb') as f:\n"
    " for b in iter(lambda: f.read(1<<20), b''): h.update(b)\nprint(h.hexdigest())"
)
_DF_PY = "import os,sys\ns=os.statvfs(sys.argv[1])\nprint(s.f_bavail*s.f_frsize)"
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


@dataclass
class RemoteResult:
    """What one remote command did; ``stdout`` / ``stderr`` may be tails when capped."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    wall_s: float


class SSHTarget(Target):
    """One device reached over SSH.  Thread-safe, but runs one operation at a time."""

    def __init__(
        self,
        device: DeviceLike,
        *,
        bundle: AgentBundle | None = None,
        ssh_config_path: str = DEFAULT_SSH_CONFIG,
    ) -> None:
        self.device = device
        self.name = device.name
        self._bundle = bundle  # resolved lazily: bundle() reads the agent's files
        self._conn = Connection(device, ssh_config_path=ssh_config_path)
        self._sftp_client: paramiko.SFTPClient | None = None
        self._home: str | None = None
        self._agent_ok_for: str | None = None  # bundle hash verified on this connection
        self._orphan_pidfile: str | None = None  # job left running by a lost connection
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- connection
    @property
    def bundle(self) -> AgentBundle:
        if self._bundle is None:
            self._bundle = agent_bundle.bundle()
        return self._bundle

    def connect(self) -> None:
        """Open the connection now (normally implicit); raises DeviceError / HostKeyError."""
        with self._lock:
            was_active = self._conn.active
            self._conn.open()
            if not was_active:
                self._sftp_client = None
                self._home = None
                self._agent_ok_for = None
                self._reap_orphan()

    def close(self) -> None:
        with self._lock:
            if self._sftp_client is not None:
                try:
                    self._sftp_client.close()
                except Exception:  # noqa: BLE001 - the transport may already be gone
                    pass
            self._sftp_client = None
            self._conn.close()

    def _drop(self) -> None:
        """Forget a dead connection so the next call reconnects (the fleet retries)."""
        self.close()

    def _sftp(self) -> paramiko.SFTPClient:
        self.connect()
        if self._sftp_client is None:
            try:
                self._sftp_client = self._conn.open().open_sftp()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self._drop()
                raise DeviceError(f"cannot open SFTP: {exc}", device=self.name) from exc
        return self._sftp_client

    def remote_path(self, path: str) -> str:
        """Absolute remote path: ``~`` and relative paths resolve against the login home."""
        if self._home is None:
            try:
                self._home = self._sftp().normalize(".")
            except (OSError, paramiko.SSHException, EOFError) as exc:
                self._drop()
                raise DeviceError(f"cannot resolve home directory: {exc}", device=self.name) from exc
        if path == "~":
            return self._home
        if path.startswith("~/"):
            path = path[2:]
        return path if path.startswith("/") else f"{self._home.rstrip('/')}/{path}"

    @property
    def workdir(self) -> str:
        return self.remote_path(self.device.workdir).rstrip("/")

    # ----------------------------------------------------------- remote commands
    def python_argv(self) -> list[str]:
        """The device's interpreter as argv (``python: "nice -n 5 python3"`` is allowed)."""
        return shlex.split(self.device.python)

    def env_argv(self) -> list[str]:
        """``env VAR=value ...`` for the device's env; names are validated, values literal."""
        pairs = []
        for key, value in sorted(self.device.env.items()):
            if not _ENV_NAME.match(key):
                raise ConfigError(f"env name {key!r} is not a valid variable name", key=f"{self.name}.env")
            pairs.append(f"{key}={value}")
        return ["env", *pairs] if pairs else []

    def exec(
        self,
        command: str,
        *,
        timeout_s: float,
        on_timeout: Callable[[], None] | None = None,
        cap_bytes: int | None = None,
    ) -> RemoteResult:
        """Run a shell command line (already quoted!) and collect its output.

        On timeout ``on_timeout`` runs (e.g. to kill the process group) and the result
        has ``timed_out=True``.  A connection that dies first raises DeviceError.
        """
        self.connect()
        transport = self._conn.transport()
        started = time.monotonic()
        try:
            chan = transport.open_session(timeout=self.device.connect_timeout_s)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._drop()
            raise DeviceError(f"cannot start remote command: {exc}", device=self.name) from exc
        out, err = bytearray(), bytearray()
        timed_out = False
        try:
            while True:
                select.select([chan], [], [], 0.2)
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if cap_bytes is not None:
                    del out[:-cap_bytes]
                    del err[:-cap_bytes]
                pending = chan.recv_ready() or chan.recv_stderr_ready()
                # Not exit_status_ready(): paramiko also says "ready" for a channel that a
                # dropped connection closed, which would pass a lost job off as finished.
                if chan.exit_status != -1 and not pending:
                    break
                if not transport.is_active():
                    raise EOFError("transport closed")
                if chan.closed and not pending:
                    # paramiko closes channels just *before* marking the transport dead;
                    # only a link still alive after a moment means "exit-signal, no status".
                    time.sleep(0.5)
                    if not transport.is_active():
                        raise EOFError("transport closed")
                    break
                if time.monotonic() - started > timeout_s:
                    timed_out = True
                    if on_timeout is not None:
                        on_timeout()
                    break
        except (paramiko.SSHException, OSError, EOFError) as exc:
            chan.close()
            self._drop()
            raise DeviceError(
                f"connection lost after {time.monotonic() - started:.1f}s while running a remote command",
                device=self.name,
                hint="the fleet retries; check the device's network and power",
                connection_lost=True,
            ) from exc
        status = chan.exit_status if chan.exit_status != -1 else None
        returncode = None if timed_out else status
        chan.close()
        return RemoteResult(returncode, bytes(out), bytes(err), timed_out, time.monotonic() - started)

    def check_output(self, argv: list[str], *, timeout_s: float = 60.0, what: str = "") -> str:
        """Run argv (quoted here) and return stdout; non-zero exit -> DeviceError."""
        res = self.exec(" ".join(shlex.quote(a) for a in argv), timeout_s=timeout_s)
        if res.timed_out or res.returncode != 0:
            tail = res.stderr.decode(errors="replace").strip()[-300:]
            state = "timed out" if res.timed_out else f"exit {res.returncode}"
            raise DeviceError(f"{what or argv[0]} failed ({state}): {tail}", device=self.name)
        return res.stdout.decode(errors="replace")

    def _sh(self, script: str, *, timeout_s: float = 60.0, what: str) -> str:
        """Run a small fixed shell script whose variable parts were quoted by the caller."""
        res = self.exec(script, timeout_s=timeout_s)
        if res.timed_out or res.returncode != 0:
            tail = res.stderr.decode(errors="replace").strip()[-300:]
            raise DeviceError(f"{what} failed (exit {res.returncode}): {tail}", device=self.name)
        return res.stdout.decode(errors="replace")

    def _py_fallback(self, shell_cmd: str, py_src: str, arg: str) -> str:
        """``shell_cmd || python -c py_src arg``: coreutils where present, Python otherwise.

        ``shell_cmd`` must already be quoted by the caller.
        """
        q = shlex.quote
        py = " ".join(q(a) for a in self.python_argv())
        return f"{shell_cmd} 2>/dev/null || {py} -c {q(py_src)} {q(arg)}"

    def free_disk_bytes(self, path: str | None = None) -> int:
        """Bytes available to us in ``path`` (default: the workdir, created if missing)."""
        path = path or self.workdir
        self.mkdirs(path)
        cmd = self._py_fallback(f"df -Pk -- {shlex.quote(path)}", _DF_PY, path)
        out = self._sh(cmd, what="free-disk check").strip().splitlines()
        try:
            if len(out) >= 2:  # df -Pk: header, then "fs blocks used avail cap mount"
                return int(out[-1].split()[3]) * 1024
            return int(out[-1])
        except (IndexError, ValueError) as exc:
            raise DeviceError(f"cannot parse free disk output {out!r}", device=self.name) from exc

    def remote_sha256(self, path: str) -> str | None:
        """SHA-256 of a remote file (sha256sum, else the device's Python); None if unreadable."""
        # stdin, not an argument: GNU sha256sum escapes names with newlines ("\\<hash> ...").
        q = shlex.quote
        res = self.exec(self._py_fallback(f"sha256sum < {q(path)}", _HASH_PY, path), timeout_s=600)
        if res.returncode != 0 or not res.stdout.strip():
            return None
        return res.stdout.split()[0].decode()

    def mkdirs(self, *paths: str) -> None:
        self._sh(" ".join(["mkdir", "-p", "--", *(shlex.quote(p) for p in paths)]), what="mkdir")

    # ------------------------------------------------------------------ pushing
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

    def _exists(self, remote: str) -> bool:
        try:
            self._sftp().stat(remote)
            return True
        except FileNotFoundError:
            return False
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self._drop()
            raise DeviceError(f"cannot stat {remote}: {exc}", device=self.name) from exc

    def _upload(self, fh: IO[bytes], size_bytes: int, remote: str, *, expect_sha: str | None) -> int:
        """Write to ``.tmp-*`` beside ``remote``, check size (+hash), then posix_rename."""
        parent = remote.rsplit("/", 1)[0]
        free = self.free_disk_bytes(parent)
        if free < size_bytes + DISK_MARGIN_BYTES:
            raise PushError(
                f"not enough disk for {remote.rsplit('/', 1)[1][:12]}: need {size_bytes} bytes "
                f"+ {DISK_MARGIN_BYTES} margin, {free} free in {parent}",
                device=self.name,
                hint="free space on the device (old blobs live in <workdir>/blobs) or move workdir",
                free_bytes=free,
                size_bytes=size_bytes,
            )
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex[:12]}-{remote.rsplit('/', 1)[1][:16]}"
        sftp = self._sftp()
        try:
            attrs = sftp.putfo(fh, tmp, file_size=size_bytes, confirm=True)
            if attrs.st_size != size_bytes:
                raise PushError(f"uploaded {attrs.st_size} of {size_bytes} bytes", device=self.name)
            if expect_sha is not None and self.remote_sha256(tmp) != expect_sha:
                raise PushError(f"hash mismatch after uploading {remote}", device=self.name)
            sftp.posix_rename(tmp, remote)
        except PushError:
            self._try_remove(tmp)
            raise
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self._try_remove(tmp)
            if not self._conn.active:
                self._drop()
            raise PushError(f"upload of {remote} failed: {exc or type(exc).__name__}", device=self.name) from exc
        return size_bytes

    def _try_remove(self, remote: str) -> None:
        try:
            if self._conn.active and self._sftp_client is not None:
                self._sftp_client.remove(remote)
        except Exception:  # noqa: BLE001 - best effort; a stale .tmp-* is never used
            pass

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
            except (OSError, paramiko.SSHException, EOFError) as exc:
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

    def _read_text(self, remote: str) -> str | None:
        try:
            with self._sftp().open(remote, "r") as fh:
                return fh.read().decode(errors="replace").strip()
        except FileNotFoundError:
            return None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            if not self._conn.active:
                self._drop()
                raise DeviceError(f"connection lost reading {remote}", device=self.name) from exc
            return None

    def _write_bytes(self, remote: str, data: bytes) -> None:
        tmp = f"{remote}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            self._sftp().putfo(io.BytesIO(data), tmp, file_size=len(data))
            self._sftp().posix_rename(tmp, remote)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self._try_remove(tmp)
            if not self._conn.active:
                self._drop()
            raise DeviceError(f"cannot write {remote}: {exc}", device=self.name) from exc

    # -------------------------------------------------------------------- jobs
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
            self._write_bytes(spec_path, json.dumps(spec, indent=1, sort_keys=True).encode())
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

    def kill_job(self, pid_path: str, *, grace_s: float = KILL_GRACE_S) -> None:
        """TERM, then after ``grace_s`` KILL, the process group recorded in ``pid_path``."""
        py = " ".join(shlex.quote(a) for a in self.python_argv())
        cmd = f"{py} -c {shlex.quote(_KILLPG_PY)} {shlex.quote(pid_path)} {grace_s:g}"
        try:
            self.exec(cmd, timeout_s=grace_s + 30)
        except DeviceError:
            log.warning("%s: could not kill the job group from %s", self.name, pid_path)

    def _reap_orphan(self) -> None:
        """After a reconnect, kill a job the lost connection left running (it skews timings)."""
        pid_path, self._orphan_pidfile = self._orphan_pidfile, None
        if pid_path:
            self.kill_job(pid_path, grace_s=1.0)

    def inventory(self) -> dict[str, Any]:
        """``agent info`` plus free disk in the workdir and the connection's facts."""
        with self._lock:
            self.push_agent()
            res = self.exec(self.agent_command("info"), timeout_s=max(120.0, self.device.connect_timeout_s))
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
