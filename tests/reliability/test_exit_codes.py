"""Exit codes, one-line errors and side effects of bad paths, through the real CLI.

Usage and path errors are exit 2, always, as one ``edgebench: error: ...`` line naming
the path and what to do -- never a traceback, never exit 1 (which means "a job failed").
Lookups (report, compare, publish) and refused commands create nothing: no database, no
run directory.  A run id is one plain folder name: ``--resume /elsewhere/run`` is refused
instead of resuming (and writing into) a run outside ``--out``.

Tests run as root, where permission bits do not stop writes: ``/proc`` stands in for an
unwritable folder (nothing can be created in it, even by root), and a path under a file
for a folder that cannot exist.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.reliability.helpers import TALLY, cli
from tests.reliability.test_store_sink import local_suite


def _one_line_2(res: Any, *needles: str) -> str:
    text = res.stderr + res.stdout
    assert "Traceback" not in text, res.stderr[-3000:]
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgebench: error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _no_side_effects(root: Path, before: set[Path]) -> None:
    """No database, no run directory (a folder holding run.json) appeared under root."""
    after = set(root.rglob("*"))
    made = sorted(str(p.relative_to(root)) for p in after - before
                  if p.name.startswith("edgebench.db") or p.name == "run.json")
    assert not made, f"a refused command created {made}"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exit-codes")
    local_suite(root, models=1)
    (root / "afile").write_text("not a folder\n")
    listed = root / "listrun" / "r1"
    listed.mkdir(parents=True)
    (listed / "run.json").write_text("[1, 2]\n")
    garbage = root / "garbage" / "r1"
    garbage.mkdir(parents=True)
    (garbage / "run.json").write_text("{not json\n")
    from edgebench.store import Store

    Store(root / "stored" / "edgebench.db").close()  # an existing (empty) store
    return root


#: (case id, argv, substrings of the one error line); {root} is the shared work folder,
#: {fresh} an empty results folder of the case's own (so one case's side effect cannot hide
#: another's)
CASES = [
    ("run --out FILE", ["run", "s.yaml", "-q", "--out", "{root}/afile"],
     ["cannot use {root}/afile as the results folder: it is a file", "--out"]),
    ("run --out FILE --no-store", ["run", "s.yaml", "-q", "--no-store", "--out", "{root}/afile"],
     ["--out {root}/afile is a file, not a folder"]),
    ("run --out FILE/sub --no-store", ["run", "s.yaml", "-q", "--no-store", "--out", "{root}/afile/sub"],
     ["cannot write into --out {root}/afile/sub: Not a directory"]),
    ("run --out /proc --no-store", ["run", "s.yaml", "-q", "--no-store", "--out", "/proc"],
     ["cannot write into --out /proc:", "a folder you can write to"]),
    ("run --out /proc", ["run", "s.yaml", "-q", "--out", "/proc"],
     ["cannot open results store sqlite:////proc/edgebench.db"]),
    ("run --out /proc/x", ["run", "s.yaml", "-q", "--out", "/proc/x"],
     ["cannot create the results folder /proc/x"]),
    ("run --resume ABS", ["run", "s.yaml", "-q", "--out", "{fresh}", "--resume", "{root}/listrun/r1"],
     ["is not a run id"]),
    ("run --resume ../x", ["run", "s.yaml", "-q", "--out", "{fresh}", "--resume", "../listrun/r1"],
     ["'../listrun/r1' is not a run id"]),
    ("report --results FILE", ["report", "r1", "--results", "{root}/afile"],
     ["cannot use {root}/afile as the results folder: it is a file"]),
    ("report --report-dir /proc/x", ["report", "r1", "--results", "{fresh}", "--report-dir", "/proc/x"],
     ["cannot write into --report-dir /proc/x"]),
    ("report ../x", ["report", "../listrun", "--results", "{fresh}"],
     ["'../listrun' is not a run id"]),
    ("report unknown, no store", ["report", "nosuch", "--results", "{fresh}"],
     ["unknown run id 'nosuch'"]),
    ("publish --site /proc/x", ["publish", "--site", "/proc/x", "--results", "{root}/stored"],
     ["cannot write into --site /proc/x"]),
    ("publish --site FILE", ["publish", "--site", "{root}/afile", "--results", "{root}/stored"],
     ["--site {root}/afile is a file, not a folder"]),
    ("publish, no store", ["publish", "--site", "{root}/site", "--out", "{fresh}"],
     ["no results store at sqlite:///{fresh}/edgebench.db"]),
    ("compare, no store", ["compare", "nosuchA", "nosuchB", "--results", "{fresh}"],
     ["no results store at sqlite:///{fresh}/edgebench.db"]),
    ("ingest run.json list", ["ingest", "{root}/listrun/r1", "--store", "{root}/ingest.db"],
     ["run.json: not a run.json (a JSON list without a run_id)"]),
    ("ingest run.json garbage", ["ingest", "{root}/garbage/r1", "--store", "{root}/ingest.db"],
     ["garbage/r1/run.json"]),
]


@pytest.mark.parametrize("argv, needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_path_and_usage_errors_exit_2_with_one_line(work: Path, tmp_path: Path, argv: list[str],
                                                     needles: list[str]) -> None:
    fresh = tmp_path / "results"
    fresh.mkdir()
    before = set(work.rglob("*"))
    res = cli(*[a.format(root=work, fresh=fresh) for a in argv], cwd=work, timeout=120)
    TALLY["exit codes: path / usage cases through the CLI"] += 1
    _one_line_2(res, *[n.format(root=work, fresh=fresh) for n in needles])
    _no_side_effects(work, before)
    _no_side_effects(tmp_path, {fresh})


def test_resume_of_a_run_outside_out_leaves_it_untouched(work: Path, tmp_path: Path) -> None:
    """Before: ``--resume /other/dir/run`` resumed that run and rewrote its files."""
    other = tmp_path / "elsewhere" / "20260101T000000Z-follower-0000"
    other.mkdir(parents=True)
    (other / "run.json").write_text(json.dumps({"run_id": other.name, "complete": False}))
    stamp = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in other.iterdir()}
    res = cli("run", "s.yaml", "-q", "--out", str(tmp_path / "results"), "--resume", str(other),
              cwd=work, timeout=120)
    TALLY["exit codes: path / usage cases through the CLI"] += 1
    _one_line_2(res, f"{str(other)!r} is not a run id")
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in other.iterdir()} == stamp
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------- not an SSH server

@pytest.fixture()
def closing_port() -> Iterator[int]:
    """A real TCP listener on loopback that accepts each connection and closes it at once."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        srv.close()
        thread.join(timeout=5)


def test_a_port_that_is_not_ssh_fails_in_one_line_without_traceback(work: Path, tmp_path: Path,
                                                                    closing_port: int) -> None:
    devices = tmp_path / "devices.yaml"
    devices.write_text(yaml.safe_dump({"devices": {"notssh": {
        "host": "127.0.0.1", "port": closing_port, "user": "pi", "connect_timeout_s": 5,
        "retries": 0, "known_hosts": str(tmp_path / "known_hosts")}}}))
    suite = tmp_path / "s.yaml"
    data = yaml.safe_load((work / "s.yaml").read_text())
    data["devices"] = ["notssh"]
    for model in data["models"]:
        model["path"] = str(work / "mlp.onnx")
    data["input_npz"] = str(work / "ok.npz")
    suite.write_text(yaml.safe_dump(data))
    needle = "not an SSH server (no SSH banner"

    check = cli("devices", "check", "--devices", str(devices), "notssh", cwd=tmp_path, timeout=120)
    run = cli("run", str(suite), "--devices", str(devices), "--out", str(tmp_path / "out"), "-q",
              cwd=tmp_path, timeout=300)
    TALLY["exit codes: not-SSH port (devices check, run)"] += 2
    for res in (check, run):
        assert "Traceback" not in res.stderr + res.stdout, res.stderr[-3000:]
        assert "SSHException" not in res.stderr, res.stderr[-3000:]
        assert res.returncode == 1, (res.returncode, res.stderr[-2000:])
    assert needle in check.stdout + check.stderr, check.stdout[-2000:]
    assert needle in run.stderr, run.stderr[-2000:]
    (run_dir,) = [p for p in (tmp_path / "out").iterdir() if (p / "run.json").exists()]
    (record,) = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    assert record["status"] == "failed" and needle in record["error"], record


# ---------------------------------------------------------------- SSH workdir "/"

def test_ssh_workdir_root_is_a_path_not_an_empty_string(tmp_path: Path) -> None:
    """``workdir: /`` was stripped to "" and ``free_disk_bytes()`` then ran ``mkdir -p ''``
    (inventory failed after the agent had been written to /agent-<hash>).  Commands run
    locally here: only the path handling is under test."""
    import subprocess
    import time

    from edgebench.config import DeviceSpec
    from edgebench.targets.ssh_remote import RemoteResult, SSHSession

    ran: list[str] = []

    class LocalShell(SSHSession):
        def exec(self, command: str, *, timeout_s: float, **_: Any) -> RemoteResult:
            ran.append(command)
            start = time.monotonic()
            p = subprocess.run(["sh", "-c", command], capture_output=True, timeout=timeout_s)
            return RemoteResult(p.returncode, p.stdout, p.stderr, False, time.monotonic() - start)

    session = LocalShell(DeviceSpec(name="rootdir", kind="ssh", host="127.0.0.1", workdir="/"))
    session._home = "/root"  # what SFTP normalize('.') would say; no connection needed
    assert f"{session.workdir}/agent-x" == "/agent-x"
    free = session.free_disk_bytes()
    assert free == os.statvfs("/").f_bavail * os.statvfs("/").f_frsize or free > 0
    assert ran and all("''" not in cmd for cmd in ran), ran
