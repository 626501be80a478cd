"""Injection, path escapes, host keys, secrets and HTML escaping, proven on real runs.

* Device names, env values and workdir paths full of shell metacharacters reach the
  device literally (a wrapper interpreter on the real sshd dumps the env/argv it got).
* Model and variant names like ``../../etc/x`` or ``<img src=x onerror=alert(1)>`` create
  nothing outside the run directory, the variant cache and the device workdir, and every
  published HTML page escapes them.
* A changed host key is refused on every path (run: exit 1, both fingerprints, never
  retried, nothing ran on the device).
* EDGEBENCH_SSH_PASSPHRASE / EDGEBENCH_SSH_PASSWORD never appear in output, results,
  reports, the store, the published site or on the device.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import make_mlp_onnx
from tests.reliability.helpers import FAST, TALLY, cli, cli_env, devices_yaml, entry

XSS = "<img src=x onerror=alert(1)>"


def _canary_name() -> str:
    return f"ebpwn{uuid.uuid4().hex[:8]}"


def _nasty(canary: str) -> list[str]:
    return [f"a;touch /tmp/{canary}-semi", f"$(touch /tmp/{canary}-subst)", f"`touch /tmp/{canary}-tick`",
            f"'\"; touch /tmp/{canary}-quote; '\"", f"line1\nline2; touch /tmp/{canary}-nl",
            "../../../etc/passwd", "$HOME ${PATH} *?[a] ~ \\ |&<>!#%"]


def _dump_python(tmp_path: Path, real: str) -> tuple[Path, Path]:
    """An interpreter wrapper that records the env and argv it was started with."""
    dump = tmp_path / "dumps"
    dump.mkdir()
    script = tmp_path / "dump-python"
    script.write_text(f'#!/bin/sh\nenv -0 > "{dump}/env.$$"\nprintf "%s\\0" "$@" > "{dump}/argv.$$"\n'
                      f'exec "{real}" "$@"\n')
    script.chmod(0o755)
    return script, dump


def _dumps(dump: Path, kind: str) -> list[list[str]]:
    return [p.read_bytes().decode().split("\0") for p in sorted(dump.glob(f"{kind}.*"))]


def _no_canary_files(canary: str, *roots: Path) -> None:
    """Nothing named after the canary where an escape or an injected `touch` would put it."""
    where = {Path("/tmp"), Path("/"), Path.cwd(), Path.home(), *roots}
    hits = [str(p) for root in where for p in root.glob(f"{canary}*")]
    assert not hits, f"a shell ran code from a name/value, or a name escaped: {hits}"


@pytest.mark.lab
def test_names_env_and_paths_reach_the_device_literally(ssh_lab: Any, lab_envs: Any, tmp_path: Path) -> None:
    canary = _canary_name()
    nasty = _nasty(canary)
    wrapper, dump = _dump_python(tmp_path, lab_envs.python("onnx-only"))
    dev_name = f"pi;$(touch /tmp/{canary}-dev)`id`'\"x"
    env = {f"EB_NASTY_{i}": v for i, v in enumerate(nasty)}
    workdir = ssh_lab.devices["onnx-only"].workdir / f"w d;$(touch {canary}-wd)`id`'q\"" / ".." / "w2"
    make_mlp_onnx(tmp_path / "mlp.onnx")
    base = entry(ssh_lab, "onnx-only")
    devices = devices_yaml(tmp_path / "devices.yaml", {
        dev_name: {**base, "python": str(wrapper), "env": env, "workdir": str(workdir)}})
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "nasty", "devices": [dev_name], "benchmark": FAST,
                                     "models": [{"name": "mlp", "path": "mlp.onnx"}]}))
    res = cli("run", str(suite), "--devices", str(devices), "--out", str(tmp_path / "r"), "-q",
              cwd=tmp_path, timeout=180)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    envs = _dumps(dump, "env")
    assert envs, "the wrapper interpreter never ran"
    run_envs = [dict(kv.split("=", 1) for kv in e if "=" in kv) for e in envs]
    for got in run_envs:  # every interpreter start (info, job, kill) saw the values verbatim
        for key, value in env.items():
            assert got.get(key) == value, (key, got.get(key), value)
    argvs = _dumps(dump, "argv")
    specs = [a[a.index("run") + 1] for a in argvs if "run" in a]
    assert specs, argvs
    spec = json.loads(Path(specs[0]).read_text())
    assert spec["job_id"] == f"mlp/fp32/onnx@{dev_name}"  # the name arrived as data
    assert Path(specs[0]).parent.parent == workdir  # the literal path, `..` and all
    rec = json.loads(next((tmp_path / "r").glob("*/results.jsonl")).read_text().splitlines()[0])
    assert rec["device"] == dev_name and rec["status"] == "ok"
    _no_canary_files(canary, tmp_path, ssh_lab.devices["onnx-only"].workdir)
    TALLY["security: nasty strings delivered literally over real ssh"] += len(nasty) + 2


def _snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_model_and_variant_names_cannot_escape_or_inject_html(tmp_path: Path) -> None:
    canary = _canary_name()
    root = tmp_path / "box"
    for d in ("cwd", "out", "cache", "wd", "home", "site"):
        (root / d).mkdir(parents=True)
    make_mlp_onnx(root / "cwd" / "mlp.onnx")
    escape = f"../../../../../../../../tmp/{canary}"
    models = [{"name": escape, "path": "mlp.onnx"}, {"name": XSS, "path": "mlp.onnx"},
              {"name": "..", "path": "mlp.onnx"}, {"name": f"/tmp/{canary}-abs", "path": "mlp.onnx"}]
    variants = [{"name": "fp32", "steps": []}, {"name": f"../../{canary}-v", "steps": []},
                {"name": XSS + "v", "steps": []}]
    suite = root / "cwd" / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "escape", "devices": ["local"], "benchmark": FAST,
                                     "models": models, "variants": variants,
                                     "description": XSS}))
    (root / "cwd" / "devices.yaml").write_text(yaml.safe_dump(
        {"devices": {"local": {"kind": "local", "workdir": str(root / "wd"),
                               "tags": [XSS], "env": {"X": XSS}}}}))
    before = _snapshot(root)
    env = cli_env(EDGEBENCH_CACHE=str(root / "cache"), HOME=str(root / "home"))
    res = cli("run", str(suite), "--devices", "devices.yaml", "--out", str(root / "out"), "-q",
              cwd=root / "cwd", env=env, timeout=300)
    assert "Traceback" not in res.stdout + res.stderr, res.stderr[-3000:]
    run_dir = next(p for p in (root / "out").iterdir() if p.is_dir())
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(models) * len(variants)
    names = {(json.loads(ln)["model"], json.loads(ln)["variant"]) for ln in lines}
    assert (XSS, XSS + "v") in names and (escape, "fp32") in names  # kept verbatim as data
    pub = cli("publish", "--site", str(root / "site"), "--results", str(root / "out"), cwd=root / "cwd",
              env=env, timeout=120)
    assert pub.returncode == 0, pub.stderr[-2000:]
    allowed = [run_dir, root / "cache", root / "wd", root / "site", root / "out" / "edgebench.db",
               root / "home" / ".cache"]
    created = _snapshot(root) - before
    stray = [p for p in created
             if not any(p == a or a in p.parents or p in a.parents for a in allowed)]
    assert not stray, f"files created outside the run dir / cache / workdir / site: {stray}"
    _no_canary_files(canary, root)
    # every page escapes every string it shows
    pages = list((root / "site").rglob("*.html")) + [run_dir / "report.html"]
    assert len(pages) >= 3
    for page in pages:
        text = page.read_text()
        assert XSS not in text and "<img" not in text.lower(), page  # shown only as &lt;img ...
        assert not re.search(r"<script", text, re.I), page
    assert any(html.escape(XSS) in p.read_text() or html.escape(XSS, quote=False) in p.read_text()
               for p in pages), "the names should be shown, escaped"
    for p in (root / "site").rglob("*"):  # page names are safe file names, inside the site
        assert (root / "site") in p.parents and ".." not in p.name and "<" not in p.name
    TALLY["security: hostile names checked for path escape + HTML escaping"] += len(models) * len(variants)


@pytest.mark.lab
def test_changed_host_key_is_refused_by_a_run(ssh_lab: Any, scratch_device: str, tmp_path: Path) -> None:
    make_mlp_onnx(tmp_path / "mlp.onnx")
    devices = devices_yaml(tmp_path / "devices.yaml", {scratch_device: entry(ssh_lab, scratch_device)})
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "hk", "devices": [scratch_device], "benchmark": FAST,
                                     "models": [{"name": f"m{i}", "path": "mlp.onnx"} for i in range(3)]}))
    workdir = ssh_lab.devices[scratch_device].workdir
    ssh_lab.restart(scratch_device, new_host_key=True)  # re-imaged, or a man in the middle
    before = sorted(workdir.rglob("*"))
    res = cli("run", str(suite), "--devices", str(devices), "--out", str(tmp_path / "r"), "-q",
              cwd=tmp_path, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-2000:]
    assert len(set(re.findall(r"SHA256:[A-Za-z0-9+/]{20,}", res.stderr))) >= 2, "both fingerprints shown"
    assert "HOST KEY CHANGED" in res.stderr and "man-in-the-middle" in res.stderr
    recs = [json.loads(ln) for ln in next((tmp_path / "r").glob("*/results.jsonl")).read_text().splitlines()]
    assert len(recs) == 3 and all(r["status"] == "failed" for r in recs)
    assert recs[0]["error_kind"] in ("host_key", "unreachable")
    assert all(r["attempts"] == 1 for r in recs), "a host-key refusal is never retried"
    assert sorted(workdir.rglob("*")) == before, "nothing may run on a device we could not verify"
    # and an unknown key through `devices check`: refused, fingerprint shown
    kh = tmp_path / "empty_known_hosts"
    kh.write_text("")
    devices2 = devices_yaml(tmp_path / "d2.yaml", {scratch_device: entry(ssh_lab, scratch_device,
                                                                        known_hosts=str(kh))})
    chk = cli("devices", "check", "--devices", str(devices2), cwd=tmp_path, timeout=60)
    assert chk.returncode == 1 and "SHA256:" in chk.stdout + chk.stderr
    assert kh.read_text() == "", "never written without `devices trust`"
    TALLY["security: host-key refusals (changed via run, unknown via check)"] += 2


@pytest.mark.lab
def test_secrets_never_leak(ssh_lab: Any, lab_envs: Any, tmp_path: Path) -> None:
    passphrase = f"PASSPHRASE-{uuid.uuid4().hex}"
    password = f"PASSWORD-{uuid.uuid4().hex}"
    key = Ed25519PrivateKey.generate()
    key_path = tmp_path / "id_encrypted"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.BestAvailableEncryption(passphrase.encode())))
    key_path.chmod(0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    with ssh_lab.authorized_keys.open("a") as fh:
        fh.write(pub.decode() + " secrets-test\n")
    wrapper, dump = _dump_python(tmp_path, lab_envs.python("onnx-only"))
    make_mlp_onnx(tmp_path / "mlp.onnx")
    devices = devices_yaml(tmp_path / "devices.yaml", {
        "enc": entry(ssh_lab, "onnx-only", identity_file=str(key_path), python=str(wrapper),
                     workdir=str(tmp_path / "wd")),
        "denied": {**entry(ssh_lab, "litert", identity_file=str(key_path), user="no-such-user-x",
                           connect_timeout_s=3.0), "retries": 0},
        "untrusted": {**entry(ssh_lab, "litert"), "known_hosts": str(ssh_lab.empty_known_hosts)},
    })
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "secrets", "devices": ["enc", "denied", "untrusted"],
                                     "benchmark": FAST, "models": [{"name": "mlp", "path": "mlp.onnx"}]}))
    env = cli_env(EDGEBENCH_SSH_PASSPHRASE=passphrase, EDGEBENCH_SSH_PASSWORD=password)
    env.pop("SSH_AUTH_SOCK", None)
    res = cli("run", str(suite), "--devices", str(devices), "--out", str(tmp_path / "r"), cwd=tmp_path,
              env=env, timeout=180)
    recs = {json.loads(ln)["device"]: json.loads(ln)
            for ln in next((tmp_path / "r").glob("*/results.jsonl")).read_text().splitlines()}
    assert recs["enc"]["status"] == "ok", recs["enc"]["error"]  # the passphrase was used...
    assert recs["denied"]["status"] == "failed" and "authentication failed" in recs["denied"]["error"]
    assert recs["untrusted"]["status"] == "failed" and "SHA256:" in recs["untrusted"]["error"]
    chk = cli("devices", "check", "--devices", str(devices), "--json", cwd=tmp_path, env=env, timeout=60)
    pub = cli("publish", "--site", str(tmp_path / "site"), "--results", str(tmp_path / "r"), cwd=tmp_path,
              env=env, timeout=120)
    texts = {"run stdout/stderr": res.stdout + res.stderr, "check output": chk.stdout + chk.stderr,
             "publish output": pub.stdout + pub.stderr}
    scanned = 0
    for root in (tmp_path / "r", tmp_path / "site", tmp_path / "wd", dump):
        for p in root.rglob("*"):
            if p.is_file():
                texts[str(p)] = p.read_bytes().decode("latin-1")
                scanned += 1
    for where, text in texts.items():  # ...and is nowhere to be seen, not even on the device
        for secret in (passphrase, password):
            assert secret not in text, f"{secret[:10]} leaked into {where}"
    assert scanned >= 8
    TALLY["security: files + outputs scanned for secrets"] += scanned + 3
