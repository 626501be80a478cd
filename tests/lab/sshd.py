"""A device lab of real OpenSSH servers on 127.0.0.1, for testing SSHTarget end to end.

Mocks of paramiko would test our assumptions about SSH, not SSH.  So each simulated
device is a real ``/usr/sbin/sshd -D -e`` on its own high port with its own freshly
generated ed25519 host key; one client key is authorized on all of them; a known_hosts
file lists them (a device can also be left out of it, or get a new key, to test host-key
checking); a devices.yaml describes the fleet.  Each device has its own workdir so blobs
and agents never leak between devices, and can be killed or restarted mid-test.

Usage (fixtures are in :mod:`tests.lab.plugin`)::

    def test_x(ssh_lab):
        dev = ssh_lab.spec("litert")          # a DeviceSpec-like record
        with SSHTarget(dev) as t: ...
        ssh_lab.kill("litert")                # listener + live connections: a cut
        ssh_lab.restart("litert", new_host_key=True)
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SSHD = os.environ.get("EDGEBENCH_LAB_SSHD", "/usr/sbin/sshd")
READY_TIMEOUT_S = 15.0


class LabUnavailable(RuntimeError):
    """sshd is missing or cannot start here; the fixture skips (or fails under REQUIRE)."""


@dataclass
class LabDeviceSpec:
    """Stand-in for ``edgebench.config.DeviceSpec`` with the same field names."""

    name: str
    host: str | None = None
    port: int = 22
    user: str | None = None
    identity_file: str | None = None
    ssh_config_host: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    python: str = "python3"
    workdir: str = "~/.cache/edgebench"
    tags: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    runtimes: list[str] | None = None
    connect_timeout_s: float = 10.0
    io_timeout_s: float = 60.0
    job_timeout_s: float = 600.0
    kind: str = "ssh"


def _keypair(path: Path, comment: str) -> str:
    """Write an OpenSSH ed25519 private key (0600) and ``.pub``; return the public line."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    line = f"{pub.decode()} {comment}"
    path.with_suffix(".pub").write_text(line + "\n")
    return line


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """All descendants of ``pid`` (from /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@dataclass
class LabDevice:
    """One sshd: its files, port, process and the workdir its SSHTarget should use."""

    name: str
    root: Path
    port: int
    host: str = "127.0.0.1"
    python: str = ""
    netns: str | None = None  # run sshd inside this network namespace (slow-link tests)
    max_startups: str = "100:30:200"  # OpenSSH's default is 10:30:100
    proc: subprocess.Popen[bytes] | None = None
    host_key_pub: str = ""
    start_s: float = 0.0

    @property
    def host_key(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    @property
    def config(self) -> Path:
        return self.root / "sshd_config"

    @property
    def log(self) -> Path:
        return self.root / "sshd.log"

    @property
    def workdir(self) -> Path:
        return self.root / "workdir"

    def known_hosts_line(self) -> str:
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{name} {' '.join(self.host_key_pub.split()[:2])}"


class SshdLab:
    """A set of sshd 'devices' sharing one client key and one known_hosts file."""

    def __init__(self, root: Path) -> None:
        if not Path(SSHD).is_file():
            raise LabUnavailable(f"{SSHD} not found (apt-get install openssh-server)")
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.client_key = self.root / "id_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.known_hosts = self.root / "known_hosts"
        self.empty_known_hosts = self.root / "known_hosts.empty"
        self.empty_known_hosts.write_text("")
        self.authorized_keys.write_text(_keypair(self.client_key, "edgebench-lab-client") + "\n")
        self.devices: dict[str, LabDevice] = {}
        self.user = getpass.getuser()
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)

    # ------------------------------------------------------------------ lifecycle
    def add(self, name: str, *, python: str = "", host: str = "127.0.0.1", port: int | None = None,
            netns: str | None = None, trusted: bool = True,
            max_startups: str = "100:30:200") -> LabDevice:
        """Create a device's keys/config and start its sshd; ``trusted`` adds it to known_hosts."""
        dev = LabDevice(name, self.root / "devices" / name, port or free_port(), host=host,
                        python=python, netns=netns, max_startups=max_startups)
        dev.root.mkdir(parents=True, exist_ok=True)
        dev.workdir.mkdir(exist_ok=True)
        dev.host_key_pub = _keypair(dev.host_key, f"host-{name}")
        self.devices[name] = dev
        self.start(name)
        if trusted:
            self.trust(name)
        return dev

    def _write_config(self, dev: LabDevice) -> None:
        dev.config.write_text(
            "\n".join([
                f"Port {dev.port}",
                f"ListenAddress {dev.host}",
                f"HostKey {dev.host_key}",
                "PidFile none",
                f"AuthorizedKeysFile {self.authorized_keys}",
                "StrictModes no",
                "UsePAM no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "AllowTcpForwarding yes",
                "Subsystem sftp internal-sftp",
                f"MaxStartups {dev.max_startups}",
                "MaxSessions 64",
                "SetEnv SHLVL=2",  # bash skips ~/.bashrc (pyenv init: ~0.2 s CPU per command)
                "LogLevel ERROR",
                "",
            ])
        )

    def start(self, name: str) -> float:
        """Start (or restart) a device's sshd and wait for its banner; returns seconds taken."""
        dev = self.devices[name]
        if dev.proc is not None and dev.proc.poll() is None:
            return 0.0
        self._write_config(dev)
        argv = [SSHD, "-D", "-e", "-f", str(dev.config)]
        if dev.netns:
            argv = ["ip", "netns", "exec", dev.netns, *argv]
        started = time.monotonic()
        with dev.log.open("ab") as log:
            dev.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        start_new_session=True)
        deadline = started + READY_TIMEOUT_S
        while True:
            if dev.proc.poll() is not None:
                raise LabUnavailable(
                    f"sshd for {name} exited with {dev.proc.returncode}: {dev.log.read_text()[-500:]}"
                )
            try:
                with socket.create_connection((dev.host, dev.port), timeout=1.0) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill(name)
                raise LabUnavailable(f"sshd for {name} not ready after {READY_TIMEOUT_S}s")
            time.sleep(0.02)
        dev.start_s = time.monotonic() - started
        return dev.start_s

    def kill(self, name: str, *, connections: bool = True) -> None:
        """SIGKILL the listener and (default) every per-connection sshd: a network cut.

        Processes the sessions started (a running job) are left alone, as on a real device
        whose link drops.
        """
        dev = self.devices[name]
        if dev.proc is None:
            return
        victims = [dev.proc.pid]
        if connections:
            victims += [p for p in _children(dev.proc.pid) if _comm(p).startswith("sshd")]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            dev.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        dev.proc = None

    def restart(self, name: str, *, new_host_key: bool = False) -> float:
        """Kill and start again on the same port; ``new_host_key`` simulates a re-imaged device."""
        self.kill(name)
        dev = self.devices[name]
        if new_host_key:
            dev.host_key.unlink()
            dev.host_key_pub = _keypair(dev.host_key, f"host-{name}-new")
        return self.start(name)

    def close(self) -> None:
        for name in list(self.devices):
            self.kill(name)

    # ------------------------------------------------------------------ records
    def trust(self, name: str) -> None:
        with self.known_hosts.open("a") as fh:
            fh.write(self.devices[name].known_hosts_line() + "\n")

    def spec(self, name: str, **overrides: Any) -> LabDeviceSpec:
        """A DeviceSpec-like record for ``name``; override any field (e.g. ``env=``)."""
        dev = self.devices[name]
        base = LabDeviceSpec(
            name=name,
            host=dev.host,
            port=dev.port,
            user=self.user,
            identity_file=str(self.client_key),
            known_hosts=str(self.known_hosts),
            python=dev.python or "python3",
            workdir=str(dev.workdir),
            tags=["lab"],
            connect_timeout_s=5.0,
            job_timeout_s=120.0,
        )
        return replace(base, **overrides)

    def untrusted_spec(self, name: str, **overrides: Any) -> LabDeviceSpec:
        """The device as seen by a controller that has never trusted it (empty known_hosts)."""
        kh = self.root / f"known_hosts.{name}.untrusted"
        if "known_hosts" not in overrides:
            kh.write_text("")
        return self.spec(name, **{"known_hosts": str(kh), **overrides})

    def devices_yaml(self, path: Path | None = None, **per_device: dict[str, Any]) -> Path:
        """Write a devices.yaml for the whole lab (``per_device[name]`` overrides fields)."""
        path = path or self.root / "devices.yaml"
        entries = {}
        for name in self.devices:
            spec = self.spec(name, **per_device.get(name, {}))
            entry = {k: v for k, v in vars(spec).items() if k != "name" and v not in (None, [], {})}
            entries[name] = entry
        path.write_text(yaml.safe_dump({"devices": entries}, sort_keys=False))
        return path

    def sshd_processes(self, name: str) -> list[int]:
        dev = self.devices[name]
        return [dev.proc.pid, *_children(dev.proc.pid)] if dev.proc else []


def sshd_available() -> str | None:
    """None when the lab can run here, else why not."""
    if not Path(SSHD).is_file():
        return f"{SSHD} not found (apt-get install openssh-server)"
    return None
