"""Host-key checking and connecting, against real sshd processes (tests/lab)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import paramiko
import pytest

from edgebench.errors import DeviceError, HostKeyError
from edgebench.targets.hostkeys import add_known_host, fetch_host_key, fingerprint_sha256, known_hosts_name
from edgebench.targets.ssh import SSHTarget
from tests.lab.sshd import SshdLab, free_port

pytestmark = pytest.mark.lab


def _fingerprint_of(pub_line: str) -> str:
    """Fingerprint of a ``.pub`` line, computed independently of our code where possible."""
    if shutil.which("ssh-keygen"):
        out = subprocess.run(["ssh-keygen", "-lf", "-"], input=pub_line, capture_output=True,
                             text=True, check=True).stdout
        return out.split()[1]
    kind, b64 = pub_line.split()[:2]
    return fingerprint_sha256(paramiko.PKey.from_type_string(kind, __import__("base64").b64decode(b64)))


def test_fingerprint_matches_ssh_keygen(ssh_lab: SshdLab) -> None:
    dev = ssh_lab.devices["litert"]
    key = fetch_host_key(dev.host, dev.port, timeout_s=5)
    assert key.get_name() == "ssh-ed25519"
    assert fingerprint_sha256(key) == _fingerprint_of(dev.host_key_pub)
    assert fingerprint_sha256(key).startswith("SHA256:") and not fingerprint_sha256(key).endswith("=")


def test_unknown_host_key_is_refused_with_fingerprint_and_hint(ssh_lab: SshdLab) -> None:
    dev = ssh_lab.devices["litert"]
    target = SSHTarget(ssh_lab.untrusted_spec("litert"))
    with pytest.raises(HostKeyError) as info:
        target.connect()
    msg = info.value.one_line()
    assert f"127.0.0.1:{dev.port}" in msg
    assert "ssh-ed25519" in msg
    assert _fingerprint_of(dev.host_key_pub) in msg
    assert "edgebench devices trust litert" in msg
    assert info.value.data["reason"] == "unknown"
    target.close()
    target.close()  # idempotent


def test_after_trust_the_connection_works(ssh_lab: SshdLab) -> None:
    spec = ssh_lab.untrusted_spec("onnx-only")
    dev = ssh_lab.devices["onnx-only"]
    key = fetch_host_key(dev.host, dev.port, timeout_s=5)
    assert add_known_host(spec.known_hosts, dev.host, dev.port, key) is True
    assert add_known_host(spec.known_hosts, dev.host, dev.port, key) is False  # already there
    text = open(spec.known_hosts).read()
    assert text.startswith(f"[127.0.0.1]:{dev.port} ssh-ed25519 ")
    with SSHTarget(spec) as target:
        assert target.check_output(["echo", "hello"]).strip() == "hello"


def test_changed_host_key_is_refused_naming_both_fingerprints(ssh_lab: SshdLab, scratch_device: str) -> None:
    dev = ssh_lab.devices[scratch_device]
    old_fp = _fingerprint_of(dev.host_key_pub)
    with SSHTarget(ssh_lab.spec(scratch_device)) as target:
        target.check_output(["true"])
    ssh_lab.restart(scratch_device, new_host_key=True)
    new_fp = _fingerprint_of(dev.host_key_pub)
    assert new_fp != old_fp
    with pytest.raises(HostKeyError) as info:
        SSHTarget(ssh_lab.spec(scratch_device)).connect()
    msg = info.value.one_line()
    assert repr(scratch_device) in msg and old_fp in msg and new_fp in msg
    assert "CHANGED" in msg
    assert info.value.data == {"expected_fingerprint": old_fp, "offered_fingerprint": new_fp,
                               "reason": "changed"}
    # trusting over a changed key needs replace=True, and then works
    key = fetch_host_key(dev.host, dev.port)
    with pytest.raises(HostKeyError):
        add_known_host(ssh_lab.known_hosts, dev.host, dev.port, key)
    assert add_known_host(ssh_lab.known_hosts, dev.host, dev.port, key, replace=True)
    with SSHTarget(ssh_lab.spec(scratch_device)) as target:
        assert target.check_output(["echo", "ok"]).strip() == "ok"
    assert old_fp not in "".join(
        _fingerprint_of(line.split(None, 1)[1]) for line in ssh_lab.known_hosts.read_text().splitlines()
        if line.startswith(known_hosts_name(dev.host, dev.port) + " ")
    )


def test_hashed_known_hosts_entries_are_understood(ssh_lab: SshdLab, tmp_path) -> None:
    dev = ssh_lab.devices["litert"]
    name = known_hosts_name(dev.host, dev.port)
    kind, b64 = dev.host_key_pub.split()[:2]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{paramiko.HostKeys.hash_host(name)} {kind} {b64}\n")
    with SSHTarget(ssh_lab.spec("litert", known_hosts=str(kh))) as target:
        assert target.check_output(["echo", "hashed"]).strip() == "hashed"


def test_a_connection_keeps_only_its_own_host_keys(ssh_lab: SshdLab, tmp_path) -> None:
    """Each of a fleet's clients used to hold every key of known_hosts: 64 devices x a
    shared 64-line file (or a user's file of hundreds of hosts) is quadratic memory."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    dev = ssh_lab.devices["litert"]
    kind, b64 = dev.host_key_pub.split()[:2]
    lines = []
    for i in range(200):
        pub = Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        lines.append(f"[10.9.{i // 250}.{i % 250}]:22{i:03d} {pub}")
    lines.insert(100, f"{paramiko.HostKeys.hash_host(known_hosts_name(dev.host, dev.port))} {kind} {b64}")
    kh = tmp_path / "known_hosts"
    kh.write_text("\n".join(lines) + "\n")
    with SSHTarget(ssh_lab.spec("litert", known_hosts=str(kh))) as target:
        assert target.check_output(["echo", "one"]).strip() == "one"
        held = target._conn.client.get_host_keys()
        assert list(held.keys()) == [known_hosts_name(dev.host, dev.port)]
        assert [k.get_base64() for k in held[known_hosts_name(dev.host, dev.port)].values()] == [b64]


def test_auth_failure_is_a_device_error_without_secrets(ssh_lab: SshdLab, tmp_path, monkeypatch) -> None:
    from tests.lab.sshd import _keypair

    stranger = tmp_path / "stranger"
    _keypair(stranger, "not-authorized")
    monkeypatch.setenv("EDGEBENCH_SSH_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("EDGEBENCH_SSH_PASSPHRASE", "passphrase-secret")
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    target = SSHTarget(ssh_lab.spec("litert", identity_file=str(stranger)))
    with pytest.raises(DeviceError) as info:
        target.connect()
    text = info.value.one_line() + repr(info.value.data) + repr(info.value.__cause__)
    assert "authentication failed" in text
    assert "hunter2" not in text and "passphrase-secret" not in text
    assert not isinstance(info.value, HostKeyError)


def test_unreachable_device_fails_fast(ssh_lab: SshdLab) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(DeviceError) as info:
        SSHTarget(ssh_lab.spec("litert", port=port)).connect()
    assert time.monotonic() - started < 5
    assert f"127.0.0.1:{port}" in str(info.value)


def test_proxyjump_through_ssh_config(ssh_lab: SshdLab, tmp_path) -> None:
    """`ssh_config_host` with ProxyJump: device B reached via a direct-tcpip channel on A."""
    gw, dst = ssh_lab.devices["legacy-pi"], ssh_lab.devices["onnx-only"]
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host lab-gw\n  HostName {gw.host}\n  Port {gw.port}\n  User {ssh_lab.user}\n"
        f"  IdentityFile {ssh_lab.client_key}\n\n"
        f"Host lab-dst\n  HostName {dst.host}\n  Port {dst.port}\n  User {ssh_lab.user}\n"
        f"  IdentityFile {ssh_lab.client_key}\n  ProxyJump lab-gw\n"
    )
    spec = ssh_lab.spec("onnx-only", host=None, port=22, user=None, identity_file=None,
                        ssh_config_host="lab-dst")
    with SSHTarget(spec, ssh_config_path=str(cfg)) as target:
        assert target.check_output(["echo", "via-jump"]).strip() == "via-jump"
        facts = target._conn.facts()
        assert facts["jump"] == f"{ssh_lab.user}@{gw.host}:{gw.port}"
        assert facts["port"] == dst.port
        assert target._conn.jump_client is not None
    assert target._conn.jump_client is None  # close() released the jump transport too


def test_fetch_host_key_from_a_non_ssh_port_is_a_device_error() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        with pytest.raises(DeviceError):
            fetch_host_key("127.0.0.1", port, timeout_s=1)
