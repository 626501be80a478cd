"""Open an authenticated paramiko connection to a device the way ``ssh`` would.

Devices are named either directly (``host``/``port``/``user``/``identity_file``) or by an
alias in ``~/.ssh/config`` -- the latter so a fleet's existing SSH setup (HostName, User,
IdentityFile, ProxyJump to a lab gateway) works unchanged.  One ProxyJump hop is supported
through a ``direct-tcpip`` channel on the jump host's transport; the jump host is checked
against the same known_hosts file with the same reject policy.

Every paramiko / socket exception is translated here into :class:`DeviceError` (or
:class:`HostKeyError`) with ``raise ... from exc``.  Secrets (passphrase, password) come
only from environment variables and never appear in messages.
"""

from __future__ import annotations

import getpass
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import paramiko

from edgebench.errors import DeviceError, HostKeyError
from edgebench.targets.hostkeys import (
    RejectUnknownHostKey,
    changed_host_key_error,
    fingerprint_sha256,
    known_hosts_name,
    load_known_hosts,
)
from edgebench.targets.linkerrors import LINK_ERRORS, connect_failure_reason, dropped_before_banner

#: SSH handshakes (TCP connect + key exchange + auth) in flight at once, controller-wide.
#: A fleet run opens every device at once; 64 simultaneous handshakes to one sshd -- a
#: gateway (ProxyJump) or a multi-device host -- trip OpenSSH's MaxStartups (default
#: 10:30:100: random refusals from the 11th unauthenticated connection on), and the storm
#: also starves the controller's CPU.  8 stays under that default; a handshake takes
#: ~50 ms on a LAN, so 64 devices are all connected within a second or two.
SSH_HANDSHAKES_ENV = "EDGEBENCH_SSH_HANDSHAKES"
DEFAULT_SSH_HANDSHAKES = 8


def _handshake_limit() -> int:
    try:
        return max(1, int(os.environ.get(SSH_HANDSHAKES_ENV, DEFAULT_SSH_HANDSHAKES)))
    except ValueError:
        return DEFAULT_SSH_HANDSHAKES


HANDSHAKES = threading.BoundedSemaphore(_handshake_limit())
#: handshakes closed before the banner are tried this many more times (see _handshake)
BANNER_RETRIES = 3
BANNER_RETRY_BACKOFF_S = 0.2


def quiet_paramiko_logging() -> None:
    """Keep paramiko's own error logging off the terminal.

    A handshake that fails (a port that accepts and closes, a silent server) is logged by
    paramiko's transport thread at ERROR with a 20-line traceback; with no logging set
    up, Python's last-resort handler prints that on stderr, next to the one-line error
    edgebench already reports for it.  Unless the application configured the
    ``paramiko`` logger itself, its records now go nowhere (add a handler to the
    ``paramiko`` logger to see them while debugging).
    """
    logger = logging.getLogger("paramiko")
    if not logger.handlers and logger.level == logging.NOTSET:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


quiet_paramiko_logging()


PASSPHRASE_ENV = "EDGEBENCH_SSH_PASSPHRASE"
PASSWORD_ENV = "EDGEBENCH_SSH_PASSWORD"
DEFAULT_SSH_CONFIG = "~/.ssh/config"


class DeviceLike(Protocol):
    """The fields of ``edgebench.config.DeviceSpec`` this module reads (duck-typed, read-only:
    a frozen DeviceSpec satisfies it)."""

    @property
    def name(self) -> str: ...

    @property
    def host(self) -> str | None: ...

    @property
    def port(self) -> int: ...

    @property
    def user(self) -> str | None: ...

    @property
    def identity_file(self) -> str | None: ...

    @property
    def ssh_config_host(self) -> str | None: ...

    @property
    def known_hosts(self) -> str: ...

    @property
    def python(self) -> str: ...

    @property
    def workdir(self) -> str: ...

    @property
    def env(self) -> dict[str, str]: ...

    @property
    def connect_timeout_s(self) -> float: ...

    @property
    def job_timeout_s(self) -> float: ...


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to connect, after ``~/.ssh/config`` has been applied."""

    host: str
    port: int
    user: str
    identity_files: tuple[str, ...] = ()
    jump: "Endpoint | None" = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        via = f" via {self.jump.user}@{self.jump.host}:{self.jump.port}" if self.jump else ""
        return f"{self.user}@{self.host}:{self.port}{via}"


def _load_ssh_config(path: str) -> paramiko.SSHConfig:
    file = Path(path).expanduser()
    if not file.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(file))
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise DeviceError(f"cannot read ssh config {file}: {exc}") from exc


def _parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` -> (user, host, port); ssh:// URIs are not supported."""
    user = None
    if "@" in spec:
        user, spec = spec.rsplit("@", 1)
    port = None
    if spec.startswith("["):  # [v6addr]:port
        host, _, rest = spec[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
        port = int(port_text)
    else:
        host = spec
    return user, host, port


def resolve_endpoint(device: DeviceLike, *, ssh_config_path: str = DEFAULT_SSH_CONFIG) -> Endpoint:
    """Combine the device record with its ``~/.ssh/config`` entry (explicit fields win)."""
    config = _load_ssh_config(ssh_config_path) if device.ssh_config_host else None
    options: dict[str, Any] = config.lookup(device.ssh_config_host) if config else {}
    host = device.host or options.get("hostname") or device.ssh_config_host
    if not host:
        raise DeviceError("has neither host nor ssh_config_host", device=device.name)
    port = device.port if device.port not in (None, 22) else int(options.get("port", 22))
    user = device.user or options.get("user") or getpass.getuser()
    identities = (device.identity_file,) if device.identity_file else tuple(options.get("identityfile", ()))
    identities = tuple(str(Path(p).expanduser()) for p in identities)
    jump = None
    proxy = options.get("proxyjump")
    if proxy and proxy.lower() != "none":
        if "," in proxy:
            raise DeviceError(
                f"ProxyJump {proxy!r} has several hops; edgebench supports one",
                device=device.name,
                hint="point ProxyJump at a single gateway, or set up the chain on the gateway",
            )
        juser, jhost, jport = _parse_jump(proxy)
        jopts: dict[str, Any] = config.lookup(jhost) if config else {}
        jump = Endpoint(
            host=jopts.get("hostname", jhost),
            port=jport or int(jopts.get("port", 22)),
            user=juser or jopts.get("user") or getpass.getuser(),
            identity_files=tuple(str(Path(p).expanduser()) for p in jopts.get("identityfile", ()))
            or identities,
        )
    return Endpoint(host=host, port=port, user=user, identity_files=identities, jump=jump)


class Connection:
    """One device's SSHClient plus, with ProxyJump, the jump host's client.  Lazy."""

    def __init__(self, device: DeviceLike, *, ssh_config_path: str = DEFAULT_SSH_CONFIG) -> None:
        self.device = device
        self.ssh_config_path = ssh_config_path
        self.endpoint: Endpoint | None = None
        self.client: paramiko.SSHClient | None = None
        self.jump_client: paramiko.SSHClient | None = None

    @property
    def active(self) -> bool:
        transport = self.client.get_transport() if self.client else None
        return bool(transport and transport.is_active())

    def open(self) -> paramiko.SSHClient:
        """Return a live client, (re)connecting if needed."""
        if self.active:
            assert self.client is not None
            return self.client
        self.close()
        self.endpoint = resolve_endpoint(self.device, ssh_config_path=self.ssh_config_path)
        sock = None
        if self.endpoint.jump is not None:
            self.jump_client = self._connect(self.endpoint.jump, sock=None)
            sock = self._tunnel(self.jump_client, self.endpoint)
        self.client = self._connect(self.endpoint, sock=sock)
        return self.client

    def transport(self) -> paramiko.Transport:
        transport = self.open().get_transport()
        if transport is None:  # pragma: no cover - open() guarantees it
            raise DeviceError("connection has no transport", device=self.device.name)
        return transport

    def facts(self) -> dict[str, Any]:
        """Connection facts for ``inventory()``: who, where, server banner, host key."""
        if not self.active or self.endpoint is None:
            return {}
        transport = self.transport()
        key = transport.get_remote_server_key()
        ep = self.endpoint
        return {
            "host": ep.host,
            "port": ep.port,
            "user": ep.user,
            "server_version": transport.remote_version,
            "host_key_type": key.get_name(),
            "host_key_fingerprint": fingerprint_sha256(key),
            "cipher": transport.remote_cipher,
            "jump": f"{ep.jump.user}@{ep.jump.host}:{ep.jump.port}" if ep.jump else None,
        }

    def close(self) -> None:
        """Close the device client, then the jump client; safe to call twice."""
        for client in (self.client, self.jump_client):
            if client is not None:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing a dead transport may raise anything
                    pass
        self.client = None
        self.jump_client = None

    def _tunnel(self, jump_client: paramiko.SSHClient, target: Endpoint) -> paramiko.Channel:
        transport = jump_client.get_transport()
        assert transport is not None
        try:
            return transport.open_channel(
                "direct-tcpip",
                (target.host, target.port),
                ("127.0.0.1", 0),
                timeout=self.device.connect_timeout_s,
            )
        except LINK_ERRORS as exc:
            raise DeviceError(
                f"jump host {target.jump} cannot reach {target.host}:{target.port}: {exc}",
                device=self.device.name,
            ) from exc

    def _connect(self, ep: Endpoint, *, sock: Any) -> paramiko.SSHClient:
        known_hosts = str(Path(self.device.known_hosts).expanduser())
        client = paramiko.SSHClient()
        # Load into the client's key store directly (not load_host_keys) so that paramiko
        # never writes known_hosts back; trusting is `edgebench devices trust`'s job only.
        # Only this endpoint's keys, under the name paramiko looks up (hashed entries
        # match too): every key of the file in every client is O(devices x entries) --
        # a fleet's shared known_hosts, or a user's with hundreds of hosts.
        name = known_hosts_name(ep.host, ep.port)
        for key in (load_known_hosts(known_hosts).lookup(name) or {}).values():
            client.get_host_keys().add(name, key.get_name(), key)
        client.set_missing_host_key_policy(
            RejectUnknownHostKey(self.device.name, ep.host, ep.port, known_hosts)
        )
        timeout_s = float(self.device.connect_timeout_s)
        try:
            self._handshake(client, ep, sock=sock, timeout_s=timeout_s)
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise changed_host_key_error(
                self.device.name, ep.host, ep.port, exc.key, exc.expected_key, known_hosts
            ) from exc
        except paramiko.PasswordRequiredException as exc:
            client.close()
            raise DeviceError(
                f"private key for {ep} is encrypted", device=self.device.name,
                hint=f"load it into ssh-agent, or set {PASSPHRASE_ENV}",
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise DeviceError(
                f"authentication failed for {ep}", device=self.device.name,
                hint="set identity_file in devices.yaml, load the key into ssh-agent, "
                f"or set {PASSWORD_ENV}; check authorized_keys on the device",
            ) from exc
        except (socket.timeout, TimeoutError) as exc:
            client.close()
            raise DeviceError(
                f"timed out connecting to {ep} after {timeout_s:g}s", device=self.device.name,
                hint="is the device on and reachable? raise connect_timeout_s for slow links",
            ) from exc
        except LINK_ERRORS as exc:
            client.close()
            reason = connect_failure_reason(exc)
            raise DeviceError(f"cannot connect to {ep}: {reason}", device=self.device.name) from exc
        return client

    @staticmethod
    def _handshake(client: paramiko.SSHClient, ep: Endpoint, *, sock: Any, timeout_s: float) -> None:
        """``client.connect``, tried again when the server closed the connection before its
        banner: an sshd over its MaxStartups threshold (default 10:30:100) refuses new
        connections that way, at random, while too many are unauthenticated -- 1 of 24
        simultaneous connects through one sshd failed so on a loaded 2-core box, although
        at most 8 handshakes run at once here.  A server that is not SSH fails the same way
        every time, so it is still reported after the retries (~1.4 s later)."""
        for attempt in range(BANNER_RETRIES + 1):
            try:
                with HANDSHAKES:
                    client.connect(
                        hostname=ep.host,
                        port=ep.port,
                        username=ep.user,
                        key_filename=list(ep.identity_files) or None,
                        passphrase=os.environ.get(PASSPHRASE_ENV) or None,
                        password=os.environ.get(PASSWORD_ENV) or None,
                        allow_agent=True,
                        look_for_keys=not ep.identity_files,
                        timeout=timeout_s,
                        banner_timeout=timeout_s,
                        auth_timeout=timeout_s,
                        channel_timeout=timeout_s,
                        sock=sock,
                    )
                return
            except paramiko.SSHException as exc:
                if sock is not None or attempt == BANNER_RETRIES or not dropped_before_banner(exc):
                    raise
                client.close()
                time.sleep(BANNER_RETRY_BACKOFF_S * 2 ** attempt * (0.5 + random.random()))


def fetch_device_host_key(
    device: DeviceLike, *, ssh_config_path: str = DEFAULT_SSH_CONFIG
) -> tuple[Endpoint, paramiko.PKey]:
    """The host key a device offers, fetched without authenticating to it.

    With ProxyJump the jump host is connected (and must already be trusted) and the key
    exchange with the device runs through a ``direct-tcpip`` channel, as ssh would.
    """
    from edgebench.targets.hostkeys import fetch_host_key

    endpoint = resolve_endpoint(device, ssh_config_path=ssh_config_path)
    if endpoint.jump is None:
        key = fetch_host_key(endpoint.host, endpoint.port, timeout_s=device.connect_timeout_s,
                             device=device.name)
        return endpoint, key
    conn = Connection(device, ssh_config_path=ssh_config_path)
    try:
        conn.endpoint = endpoint
        conn.jump_client = conn._connect(endpoint.jump, sock=None)
        channel = conn._tunnel(conn.jump_client, endpoint)
        key = fetch_host_key(endpoint.host, endpoint.port, timeout_s=device.connect_timeout_s,
                             sock=channel, device=device.name)
        return endpoint, key
    finally:
        conn.close()
