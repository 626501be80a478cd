"""A run directory on disk: the crash-safe journal and atomically written files.

``results.jsonl`` gets one line per finished job, flushed and fsync'd before the next job
starts, so a killed controller loses at most the job in flight.  Reading tolerates the
one thing a kill can leave behind -- a truncated last line -- and reports it instead of
misreading it.  Every other file (run.json, summary.csv, reports) is replaced atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from .errors import StoreError
from .record import JobRecord

JOURNAL = "results.jsonl"
RUN_JSON = "run.json"


def write_atomic(path: Path, data: Union[str, bytes]) -> None:
    """Write to a temp file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, payload: Any) -> None:
    write_atomic(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


@dataclass
class JournalRead:
    records: list[JobRecord]
    warnings: list[str] = field(default_factory=list)

    def latest(self) -> dict[str, JobRecord]:
        """The last record per job id: a resumed run appends a newer attempt."""
        out: dict[str, JobRecord] = {}
        for rec in self.records:
            out[rec.job_id] = rec
        return out


def read_journal(path: Path) -> JournalRead:
    """Parse results.jsonl; a truncated or corrupt line becomes a warning, never a record."""
    if not path.exists():
        raise StoreError(f"{path}: no such journal", hint="is this a run directory?")
    records: list[JobRecord] = []
    warnings: list[str] = []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_last = i == len(lines) or (i == len(lines) - 1 and lines[-1] == b"")
        try:
            data = json.loads(line)
            if not isinstance(data, dict) or "job_id" not in data:
                raise ValueError("not a job record")
            records.append(JobRecord.from_dict(data))
        except (ValueError, TypeError) as exc:
            what = "truncated last line" if is_last and not raw.endswith(b"\n") else "corrupt line"
            warnings.append(f"{path}:{i}: {what} ignored ({type(exc).__name__}); "
                            "that job will count as not finished")
    return JournalRead(records, warnings)


class RunDir:
    """One run's directory; ``append`` is thread-safe (devices finish jobs concurrently)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal_path = path / JOURNAL
        self._lock = threading.Lock()

    @classmethod
    def create(cls, out_dir: Path, run_id: str) -> "RunDir":
        path = out_dir / run_id
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError as exc:
            raise StoreError(f"{path} already exists", hint="use --resume RUN_ID to continue it") from exc
        except OSError as exc:
            raise StoreError(f"cannot create run directory {path}: {exc.strerror}") from exc
        return cls(path)

    def append(self, record: JobRecord) -> None:
        line = json.dumps(record.to_dict(), allow_nan=False, default=str) + "\n"
        with self._lock:
            with open(self.journal_path, "a", encoding="utf-8") as fh:
                self._repair_tail(fh)
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())

    def _repair_tail(self, fh: Any) -> None:
        """After a crash mid-line, start our line on a fresh line so it stays parseable."""
        if fh.tell() == 0:
            return
        with open(self.journal_path, "rb") as rd:
            rd.seek(-1, os.SEEK_END)
            if rd.read(1) != b"\n":
                fh.write("\n")

    def read(self) -> JournalRead:
        if not self.journal_path.exists():
            return JournalRead([])
        return read_journal(self.journal_path)

    def write_run_json(self, payload: dict[str, Any]) -> None:
        write_json_atomic(self.path / RUN_JSON, payload)

    def read_run_json(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / RUN_JSON).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{self.path / RUN_JSON}: unreadable ({exc})") from exc


def find_run(out_dir: Path, run_id: str) -> Optional[RunDir]:
    path = out_dir / run_id
    return RunDir(path) if (path / RUN_JSON).exists() else None


def iter_runs(out_dir: Path) -> Iterable[Path]:
    if not out_dir.exists():
        return []
    return sorted(p for p in out_dir.iterdir() if (p / RUN_JSON).exists())
