"""``edgebench devices list|check|trust`` against the real-sshd lab and a devices.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.lab.plugin import LabEnvs
from tests.lab.sshd import SshdLab, free_port

pytestmark = pytest.mark.lab

cli = pytest.importorskip("edgebench.cli")
pytest.importorskip("edgebench.config")


def _yaml_with_ghost(ssh_lab: SshdLab, tmp_path: Path, **overrides: dict) -> Path:
    path = ssh_lab.devices_yaml(tmp_path / "devices.yaml", **overrides)
    data = yaml.safe_load(path.read_text())
    data["devices"]["ghost"] = {"host": "127.0.0.1", "port": free_port(), "connect_timeout_s": 2,
                                "known_hosts": str(ssh_lab.known_hosts)}
    path.write_text(yaml.safe_dump(data))
    return path


def test_list_shows_the_registry(ssh_lab: SshdLab, tmp_path: Path, capsys) -> None:
    path = _yaml_with_ghost(ssh_lab, tmp_path)
    assert cli.main(["devices", "list", "--devices", str(path), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"local", "legacy-pi", "litert", "onnx-only", "ghost"} <= set(rows)
    assert rows["litert"]["where"] == f"{ssh_lab.user}@127.0.0.1:{ssh_lab.devices['litert'].port}"
    assert cli.main(["devices", "list", "--devices", str(path)]) == 0
    assert "ghost" in capsys.readouterr().out


def test_check_reports_each_device_and_one_row_per_failure(
    ssh_lab: SshdLab, lab_envs: LabEnvs, tmp_path: Path, capsys
) -> None:
    lab_envs.get("legacy-pi")
    path = _yaml_with_ghost(ssh_lab, tmp_path)
    code = cli.main(["devices", "check", "legacy-pi", "litert", "onnx-only", "ghost",
                     "--devices", str(path), "--json"])
    assert code == 1  # ghost is unreachable
    rows = {r["device"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ghost"]["ok"] is False and "cannot connect" in rows["ghost"]["error"]
    for name in ("legacy-pi", "litert", "onnx-only"):
        assert rows[name]["ok"], rows[name]["error"]
        info = rows[name]["info"]
        assert info["machine"]["cores"] >= 1 and info["disk_free_bytes"] > 0
        assert info["ssh"]["host_key_fingerprint"].startswith("SHA256:")
    legacy = rows["legacy-pi"]["info"]
    assert legacy["runtimes"]["tflite_all"]["tflite_runtime"] == "2.14.0"
    assert legacy["runtimes"]["onnxruntime"] is None
    assert rows["onnx-only"]["info"]["runtimes"]["onnxruntime"]["version"]
    # the table form names the failure and the runtimes
    assert cli.main(["devices", "check", "legacy-pi", "ghost", "--devices", str(path)]) == 1
    out = capsys.readouterr()
    assert "FAILED" in out.out and "tflite_runtime 2.14.0" in out.out
    assert "1 of 2 device(s) failed" in out.err


def test_check_unknown_name_is_a_usage_error(ssh_lab: SshdLab, tmp_path: Path, capsys) -> None:
    path = ssh_lab.devices_yaml(tmp_path / "devices.yaml")
    assert cli.main(["devices", "check", "nope", "--devices", str(path)]) == 2
    assert "no device or tag named 'nope'" in capsys.readouterr().err


def test_trust_records_the_key_after_confirmation(ssh_lab: SshdLab, tmp_path: Path, capsys) -> None:
    kh = tmp_path / "kh" / "known_hosts"
    path = ssh_lab.devices_yaml(tmp_path / "devices.yaml", litert={"known_hosts": str(kh)})
    dev = ssh_lab.devices["litert"]
    # not a TTY and no --yes: refuse, write nothing
    assert cli.main(["devices", "trust", "litert", "--devices", str(path)]) == 2
    err = capsys.readouterr().err
    assert "stdin is not a terminal" in err and not kh.exists()
    # check fails with the trust hint before
    assert cli.main(["devices", "check", "litert", "--devices", str(path), "--json"]) == 1
    assert "edgebench devices trust litert" in json.loads(capsys.readouterr().out)[0]["error"]
    assert cli.main(["devices", "trust", "litert", "--yes", "--devices", str(path)]) == 0
    out = capsys.readouterr().out
    assert "SHA256:" in out and "trusted" in out
    assert kh.read_text().split()[:2] == [f"[127.0.0.1]:{dev.port}", "ssh-ed25519"]
    assert cli.main(["devices", "trust", "litert", "--yes", "--devices", str(path)]) == 0
    assert "already trusted" in capsys.readouterr().out
    assert len(kh.read_text().splitlines()) == 1


def test_trust_refuses_a_changed_key_without_replace(ssh_lab: SshdLab, scratch_device: str,
                                                     tmp_path: Path, capsys) -> None:
    path = ssh_lab.devices_yaml(tmp_path / "devices.yaml")
    ssh_lab.restart(scratch_device, new_host_key=True)
    assert cli.main(["devices", "trust", scratch_device, "--yes", "--devices", str(path)]) == 1
    assert "DIFFERENT" in capsys.readouterr().out
    assert cli.main(["devices", "trust", scratch_device, "--yes", "--replace", "--devices", str(path)]) == 0
    capsys.readouterr()
    assert cli.main(["devices", "check", scratch_device, "--devices", str(path), "--json"]) == 0
