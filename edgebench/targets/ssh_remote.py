"""The SSH session under :class:`~edgebench.targets.ssh.SSHTarget`: commands, files, paths.

Split from the target so each file stays reviewable: this layer knows how to run one
quoted command line with a deadline (telling a dropped link from a finished command),
resolve ``~`` against the login home, and do small SFTP operations; it knows nothing
about agents or jobs.  Connection problems become :class:`DeviceError` here, and a dead
connection is dropped so that the next call reconnects (the fleet's retry relies on it).
"""

from __future__ import annotations

import io
import re
import select
import shlex
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from edgebench.errors import ConfigError, DeviceError
from edgebench.targets.linkerrors import LINK_ERRORS, link_errors
from edgebench.targets.ssh_connect import DEFAULT_SSH_CONFIG, Connection, DeviceLike

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_HASH_PY = (
    "import hashlib,sys\nh=hashlib.sha256()\nwith open(sys.argv[1],'rb') as f:\n"
    " for b in iter(lambda: f.read(1<<20), b''): h.update(b)\nprint(h.hexdigest())"
)
_DF_PY = "import os,sys\ns=os.statvfs(sys.argv[1])\nprint(s.f_bavail*s.f_frsize)"


@dataclass
class RemoteResult:
    """What one remote command did; ``stdout`` / ``stderr`` may be tails when capped."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    wall_s: float


class SSHSession:
    """A lazily connected device: run commands, read/write small files.  Thread-safe."""

    def __init__(self, device: DeviceLike, *, ssh_config_path: str = DEFAULT_SSH_CONFIG) -> None:
        self.device = device
        self.name = device.name
        self._conn = Connection(device, ssh_config_path=ssh_config_path)
        self._sftp_client: paramiko.SFTPClient | None = None
        self._home: str | None = None
        self._lock = threading.RLock()

    def _on_reconnect(self) -> None:
        """Hook run after each new connection (the target reaps orphaned jobs here)."""

    def connect(self) -> None:
        """Open the connection now (normally implicit); raises DeviceError / HostKeyError."""
        with self._lock:
            was_active = self._conn.active
            self._conn.open()
            if not was_active:
                self._sftp_client = None
                self._home = None
                self._on_reconnect()

    def close(self) -> None:
        """Release SFTP, channels and transports; safe to call twice, and from another thread.

        Deliberately lock-free: the fleet closes a target from its main thread on Ctrl-C
        while a worker thread is inside ``run_job`` holding the lock.  Closing the
        transport makes that worker's wait fail at once with a DeviceError.
        """
        self._before_close()
        self._drop()

    def _before_close(self) -> None:
        """Hook: last words on a live connection (the target kills a job in flight)."""

    def _drop(self) -> None:
        """Forget a (dead) connection so the next call reconnects (the fleet retries)."""
        sftp, self._sftp_client = self._sftp_client, None
        if sftp is not None:
            try:
                sftp.close()
            except Exception:  # noqa: BLE001 - the transport may already be gone
                pass
        self._conn.close()

    def _sftp(self) -> paramiko.SFTPClient:
        self.connect()
        if self._sftp_client is None:
            with link_errors("open SFTP", self.name, self._drop):
                self._sftp_client = self._conn.open().open_sftp()
                # Without a deadline a link that goes down mid-transfer blocks the SFTP
                # client forever (TCP keeps retransmitting for many minutes): a read that
                # waits this long raises socket.timeout instead.
                self._sftp_client.get_channel().settimeout(self.io_timeout_s)
        return self._sftp_client

    @property
    def io_timeout_s(self) -> float:
        return float(getattr(self.device, "io_timeout_s", 60.0))

    def remote_path(self, path: str) -> str:
        """Absolute remote path: ``~`` and relative paths resolve against the login home."""
        if self._home is None:
            with link_errors("resolve home directory", self.name, self._drop):
                self._home = self._sftp().normalize(".")
        if path == "~":
            return self._home
        if path.startswith("~/"):
            path = path[2:]
        return path if path.startswith("/") else f"{self._home.rstrip('/')}/{path}"

    @property
    def workdir(self) -> str:
        return self.remote_path(self.device.workdir).rstrip("/")

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
        with link_errors("start remote command", self.name, self._drop):
            chan = transport.open_session(timeout=self.device.connect_timeout_s)
            chan.exec_command(command)
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
        except LINK_ERRORS as exc:
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
        try:
            chan.close()
        except LINK_ERRORS as exc:
            # on_timeout may have lost the link (its kill failed and dropped it): a timed-out
            # command is still a timeout; anything else finished without a trustworthy end.
            self._drop()
            if not timed_out:
                raise DeviceError("connection lost while closing a remote command", device=self.name,
                                  connection_lost=True) from exc
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
        path = path or self.workdir or "/"  # workdir "/" is "" once its slash is stripped
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

    def _exists(self, remote: str) -> bool:
        try:
            self._sftp().stat(remote)
            return True
        except FileNotFoundError:
            return False
        except LINK_ERRORS as exc:
            self._drop()
            raise DeviceError(f"cannot stat {remote}: {exc}", device=self.name) from exc

    def _try_remove(self, remote: str) -> None:
        try:
            if self._conn.active and self._sftp_client is not None:
                self._sftp_client.remove(remote)
        except Exception:  # noqa: BLE001 - best effort; a stale .tmp-* is never used
            pass

    def _read_text(self, remote: str) -> str | None:
        try:
            with self._sftp().open(remote, "r") as fh:
                return fh.read().decode(errors="replace").strip()
        except FileNotFoundError:
            return None
        except LINK_ERRORS as exc:
            if not self._conn.active:
                self._drop()
                raise DeviceError(f"connection lost reading {remote}", device=self.name) from exc
            return None

    def _write_bytes(self, remote: str, data: bytes) -> None:
        tmp = f"{remote}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            self._sftp().putfo(io.BytesIO(data), tmp, file_size=len(data))
            self._sftp().posix_rename(tmp, remote)
        except LINK_ERRORS as exc:
            self._try_remove(tmp)
            if not self._conn.active:
                self._drop()
            raise DeviceError(f"cannot write {remote}: {exc}", device=self.name) from exc
