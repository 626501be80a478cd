"""The results store as a follower of the journal.

* live ingest under the fleet's concurrency (devices finish jobs at once);
* a store that cannot be opened (driver missing, bad URL, unwritable folder): one exit-2
  line before any job, through every command that takes --store;
* a store that breaks mid-run (corrupted file, full disk, any exception type): every job
  still runs and is journaled, one warning, exit code as per the jobs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edgebench.results.record import JobRecord
from edgebench.results.sink import LiveSink
from tests.conftest import make_mlp_onnx
from tests.reliability.helpers import (
    FAST,
    PY,
    TALLY,
    cli,
    cli_env,
    journal_lines,
    need_root,
    run_dir_of,
    store_jobs,
    wait_for,
)


def test_concurrent_first_records_all_reach_a_fresh_store(tmp_path: Path) -> None:
    warnings: list[str] = []
    sink = LiveSink(None, tmp_path, warnings.append)
    meta = {"schema_version": 1, "run_id": "r1", "started_at": "2026-01-01T00:00:00+00:00",
            "suite": {"name": "s"}, "devices": [], "complete": False}
    barrier = threading.Barrier(8)

    def one(i: int) -> None:
        rec = JobRecord(run_id="r1", job_id=f"m/fp32/onnx@d{i}", model="m", variant="fp32",
                        format="onnx", device=f"d{i}", status="failed", error="x",
                        error_kind="test", started_at="2026-01-01T00:00:00+00:00")
        barrier.wait()
        sink(meta, rec)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    assert not warnings, warnings
    assert sorted(j for j, _ in store_jobs(tmp_path / "edgebench.db", "r1")) == \
        sorted(f"m/fp32/onnx@d{i}" for i in range(8))


# ------------------------------------------------------------ the store is a follower
#
# The journal is the source of truth.  A store that cannot be opened is a configuration
# error found before any job runs (exit 2, one line); a store that breaks mid-run (any
# exception type) is warned about once while every job still runs and is journaled.

#: (URL, module its driver imports): the first whose driver is absent is the test's store.
MISSING_DRIVER_URLS = [("postgresql+psycopg://nobody:s3cret@127.0.0.1:1/x", "psycopg"),
                       ("postgresql+psycopg2://nobody:s3cret@127.0.0.1:1/x", "psycopg2"),
                       ("mysql+pymysql://nobody:s3cret@127.0.0.1:1/x", "pymysql")]


def _missing_driver_url() -> tuple[str, str]:
    for url, module in MISSING_DRIVER_URLS:
        if importlib.util.find_spec(module) is None:
            return url, module
    pytest.skip("every candidate database driver is installed here")


def local_suite(root: Path, *, models: int = 4, min_duration_s: float = 0.05) -> Path:
    """``models`` copies of a tiny MLP on the built-in local device: ``models`` jobs."""
    if not (root / "mlp.onnx").exists():
        make_mlp_onnx(root / "mlp.onnx")
        np.savez(root / "ok.npz", x=np.zeros((4, 64), "float32"))
    suite = root / "s.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "follower", "devices": ["local"],
        "models": [{"name": f"m{i}", "path": "mlp.onnx", "formats": ["onnx"]} for i in range(models)],
        "variants": [{"name": "fp32", "steps": []}], "input_npz": "ok.npz",
        "benchmark": {**FAST, "min_duration_s": min_duration_s},
        "onnxruntime": {"providers": ["CPUExecutionProvider"]}}))
    return suite


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


@pytest.mark.parametrize("command", ["run", "report", "compare", "ingest", "nightly", "publish"])
def test_store_with_a_missing_driver_is_one_line_exit_2(tmp_path: Path, command: str) -> None:
    url, module = _missing_driver_url()
    suite = local_suite(tmp_path, models=1)
    out = tmp_path / "out"
    args = {"run": ["run", str(suite), "--out", str(out), "-q", "--store", url],
            "nightly": ["nightly", str(suite), "--out", str(out), "--store", url],
            "report": ["report", "r1", "--results", str(out), "--store", url],
            "compare": ["compare", "r1", "r2", "--results", str(out), "--store", url],
            "publish": ["publish", "--site", str(tmp_path / "site"), "--results", str(out),
                        "--store", url],
            "ingest": ["ingest", str(tmp_path), "--results", str(out), "--store", url]}[command]
    if command == "ingest":  # something to ingest, so the store is what fails
        (tmp_path / "r1").mkdir()
        (tmp_path / "r1" / "run.json").write_text(json.dumps({"run_id": "r1"}))
    res = cli(*args, cwd=tmp_path, timeout=120)
    TALLY["store: unopenable store through the CLI"] += 1
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr + res.stdout, res.stderr[-2000:]
    lines = _error_lines(res.stderr)
    assert len(lines) == 1, lines
    masked = url.replace("s3cret", "***")
    assert masked in lines[0] and f"database driver {module!r} is not installed" in lines[0], lines[0]
    assert "s3cret" not in res.stderr + res.stdout
    assert run_dir_of(out) is None, "a job ran although the store could not be opened"


@pytest.mark.parametrize("url, needle", [
    ("nosuchdb://x/y", "unknown database kind 'nosuchdb'"),
    ("sqlite://x", "is not a valid results store URL"),
    ("/proc/edgebench.db", "cannot open results store sqlite:////proc/edgebench.db"),
])
def test_unusable_store_urls_stop_the_run_before_any_job(tmp_path: Path, url: str, needle: str) -> None:
    suite = local_suite(tmp_path, models=1)
    res = cli("run", str(suite), "--out", str(tmp_path / "out"), "-q", "--store", url,
              cwd=tmp_path, timeout=120)
    TALLY["store: unopenable store through the CLI"] += 1
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = _error_lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("edgebench: error: ") and needle in lines[0], lines
    assert run_dir_of(tmp_path / "out") is None


def _corrupt_sqlite(db: Path) -> None:
    """Overwrite the database and its WAL files in place (same inodes): the open
    connection's next transaction fails with 'file is not a database'."""
    for path in db.parent.glob(db.name + "*"):
        with open(path, "r+b") as fh:
            fh.write(os.urandom(8192))


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


@pytest.fixture()
def small_tmpfs(tmp_path: Path) -> Any:
    need_root("mounting a tmpfs")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "eb-store-full", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        need_root(f"mount tmpfs failed: {res.stderr.strip()}; it")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.parametrize("fault", ["corrupted", "disk_full"])
def test_store_failing_mid_run_costs_no_job(tmp_path: Path, fault: str, request: Any) -> None:
    """The store breaks right after the first job: the other jobs still run, every job is
    in results.jsonl and summary.csv, one warning, and the exit code is the jobs' (0)."""
    folder = request.getfixturevalue("small_tmpfs") if fault == "disk_full" else tmp_path / "db"
    folder.mkdir(exist_ok=True)
    db = folder / "store.db"
    suite = local_suite(tmp_path, models=4, min_duration_s=1.0)
    out = tmp_path / "out"
    log = tmp_path / "run.log"
    proc = subprocess.Popen([PY, "-m", "edgebench", "run", str(suite), "--out", str(out), "-q",
                             "--store", str(db)], cwd=tmp_path, env=cli_env(),
                            stdout=open(log, "wb"), stderr=subprocess.PIPE, text=True)
    try:
        run_dir = wait_for(lambda: run_dir_of(out), 120, "the run directory")
        wait_for(lambda: journal_lines(run_dir), 120, "the first journal line", step=0.02)
        if fault == "corrupted":
            _corrupt_sqlite(db)
        else:
            _fill(folder)
        stderr = proc.communicate(timeout=300)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    TALLY["store: failed mid-run, every job journaled"] += 1
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = journal_lines(run_dir)
    assert sorted(r["job_id"] for r in lines) == [f"m{i}/fp32/onnx@local" for i in range(4)]
    assert {r["status"] for r in lines} == {"ok"}, [r.get("error") for r in lines]
    rows = (run_dir / "summary.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4, rows
    assert json.loads((run_dir / "run.json").read_text())["complete"] is True
    warnings = [ln for ln in stderr.splitlines() if "results store" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("warning: "), stderr
    assert f"edgebench ingest {out / run_dir.name}" in warnings[0], warnings[0]
    assert proc.returncode == 0, (proc.returncode, stderr[-2000:])


def test_any_exception_from_the_store_is_one_warning(tmp_path: Path) -> None:
    """Not only EdgebenchError: a bug's RuntimeError in the store must not reach the device."""
    warnings: list[str] = []
    sink = LiveSink(None, tmp_path, warnings.append).open()

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("boom\nsecond line")

    sink.store.ingest_records = broken
    sink.store.ingest_dir = broken
    meta = {"schema_version": 1, "run_id": "r1", "started_at": "2026-01-01T00:00:00+00:00"}
    for i in range(3):
        sink(meta, JobRecord(run_id="r1", job_id=f"j{i}", model="m", variant="v", format="onnx",
                             device="d", status="ok", started_at="2026-01-01T00:00:00+00:00"))
    sink.finish(tmp_path / "r1")
    sink.close()
    assert len(warnings) == 1 and "RuntimeError: boom" in warnings[0], warnings
    assert "second line" not in warnings[0]


def test_a_failing_follower_never_stops_a_device(tmp_path: Path) -> None:
    """fleet's _emit guards the sink: an on_record raising anything leaves the device's
    thread running; every job is journaled, the run is complete."""
    from edgebench.run import run_suite

    suite = local_suite(tmp_path, models=3)
    calls: list[str] = []

    def on_record(_meta: dict, rec: Any) -> None:
        calls.append(rec.job_id)
        raise KeyError("follower bug")

    out = run_suite(suite, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache",
                    on_record=on_record)
    TALLY["store: failed mid-run, every job journaled"] += 1
    assert len(calls) == 3 and len(out.records) == 3, (calls, out.records)
    assert json.loads((out.run_dir / "run.json").read_text())["complete"] is True
    assert out.exit_code == 0


def test_nightly_live_ingest_failure_is_noted_once(tmp_path: Path, monkeypatch: Any) -> None:
    from edgebench.nightly import run_nightly
    from edgebench.store import Store
    from tests.report.test_nightly import FakeRunner
    from tests.store.runfactory import RunSpec

    def broken(*_: Any, **__: Any) -> None:
        raise ValueError("driver hiccup")

    monkeypatch.setattr(Store, "ingest_records", broken)
    outcome = run_nightly(Path("suites/nightly.yaml"), out_dir=tmp_path / "results",
                          runner=FakeRunner(RunSpec("n1")))
    live = [n for n in outcome.notes if "live ingest" in n]
    assert len(live) == 1 and "ValueError: driver hiccup" in live[0], outcome.notes
    assert outcome.exit_code == 0  # the journal was ingested from the directory afterwards


def test_a_group_commit_journals_and_stores_every_record_in_order(tmp_path: Path) -> None:
    """``JournalSink.many`` (the Ray driver's group commit): one journal write, one store
    transaction, every record kept in the order given; an ``on_record`` without ``many``
    is still called once per record."""
    import sqlite3

    from edgebench.results.journal import RunDir
    from edgebench.results.sink import JournalSink

    meta = {"schema_version": 1, "run_id": "20261130T000000Z-g-0000",
            "started_at": "2026-11-30T00:00:00+00:00"}
    recs = [JobRecord(run_id=meta["run_id"], job_id=f"j{i}", model="m", variant="v", format="onnx",
                      device=f"d{i % 2}", status="ok",
                      result={"timing": {"latencies_s": [1e-3 * (i + 1)] * 5}})
            for i in range(3)]
    live = LiveSink(None, tmp_path, lambda _w: None).open()
    run_dir = RunDir.create(tmp_path, meta["run_id"])
    JournalSink(run_dir, meta, live).many(recs)
    lines = (run_dir.path / "results.jsonl").read_text().splitlines()
    assert [json.loads(ln)["job_id"] for ln in lines] == ["j0", "j1", "j2"]
    live.close()
    con = sqlite3.connect(str(tmp_path / "edgebench.db"))
    assert con.execute("SELECT job_id FROM jobs ORDER BY job_id").fetchall() == [("j0",), ("j1",), ("j2",)]
    assert con.execute("SELECT job_id, count FROM samples ORDER BY job_id").fetchall() == [
        ("j0", 5), ("j1", 5), ("j2", 5)]
    con.close()

    seen: list[str] = []
    other = RunDir.create(tmp_path / "b", meta["run_id"])
    JournalSink(other, meta, lambda _m, rec: seen.append(rec.job_id)).many(recs)
    assert seen == ["j0", "j1", "j2"]
    assert len((other.path / "results.jsonl").read_text().splitlines()) == 3
