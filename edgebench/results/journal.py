"""A run directory on disk: the crash-safe journal and atomically written files.

``results.jsonl`` gets one line per finished job, flushed and fsync'd before the next job
starts, so a killed controller loses at most the job in flight.  Reading tolerates the
one thing a kill can leave behind -- a truncated last line -- and reports it instead of
misreading it.  Every other file (run.json, summary.csv, reports) is replaced atomically.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

from edgebench.errors import StoreConfigError, StoreError, UsageError

from .record import JobRecord

JOURNAL = "results.jsonl"
RUN_JSON = "run.json"

#: OSErrors that say the *path* is wrong (a file where a folder should be, a folder that
#: cannot exist there, no permission, read-only mount) -- the user's input, exit 2 -- as
#: opposed to the machine failing under a good path (disk full, I/O error), exit 1.
_PATH_ERRNOS = frozenset({errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.EACCES, errno.EPERM,
                          errno.EROFS, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP,
                          errno.EINVAL})


def path_error(path: "str | Path", exc: OSError, doing: str, *,
               hint: Optional[str] = None) -> StoreError:
    """``exc`` raised while trying to ``doing`` at ``path`` as one line naming the path.

    The shared classifier for output paths (run directories, report and site folders, the
    store's folder): a path that cannot work is a :class:`StoreConfigError` (exit 2, with
    ``hint`` saying what to do), anything else a :class:`StoreError` (exit 1).
    """
    why = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in _PATH_ERRNOS:
        return StoreConfigError(f"cannot {doing} {path}: {why}",
                                hint=hint or "choose a folder you can write to")
    return StoreError(f"cannot {doing} {path}: {why}")


def ensure_output_dir(path: "str | Path", flag: str = "--out") -> Path:
    """Make ``path`` a folder we can write into, or say in one line why it cannot be.

    Checked before anything is written, so that ``report --report-dir /proc/x`` or an ``--out``
    that is a file is an exit-2 usage error up front instead of an OSError half-way.
    """
    path = Path(path)
    hint = f"point {flag} at a folder you can write to"
    if path.exists() and not path.is_dir():
        raise StoreConfigError(f"{flag} {path} is a file, not a folder", hint=hint)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".edgebench-probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise path_error(path, exc, f"write into {flag}", hint=hint) from exc
    return path


def validate_run_id(run_id: str) -> str:
    """A run id names one folder under the results root: a single, plain path component.

    The one check shared by ``run --resume``, ``report`` and the run directory helpers,
    so that an id such as ``/elsewhere/run`` or ``../x`` never reads or writes outside the
    results root.
    """
    text = str(run_id)
    if (not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text
            or text != text.strip()):
        raise UsageError(f"{text!r} is not a run id",
                         hint="a run id is a folder name under the results root, "
                              "e.g. 20261124T020000Z-nightly-ab12")
    return text


def write_atomic(path: Path, data: Union[str, bytes]) -> Path:
    """Write to a temp file beside ``path``, fsync, then rename over it.

    A reader (the run, a browser, a CI upload) never sees half a file.  mkstemp creates
    0600; reports and site pages are meant to be read by others, so an existing file keeps
    its mode and a new one gets rw-r--r--.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise path_error(path, exc, "write") from exc
    return path


def write_json_atomic(path: Path, payload: Any) -> None:
    write_atomic(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


REQUIRED_RECORD_KEYS = ("run_id", "job_id", "model", "variant", "format", "device", "status")


@dataclass
class Journal:
    """The parsed journal as dicts: good records in file order, and what could not be read."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    #: (1-based line number, reason) for every line that is not a whole record.
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    #: True when the last line is an incomplete write (controller killed mid-append).
    truncated: bool = False
    #: 1-based line number of each of ``records``, to read one again whole (:meth:`whole`).
    record_lines: list[int] = field(default_factory=list)

    def warnings(self) -> list[str]:
        return [f"{self.path}:{lineno}: {reason}; that job counts as not finished"
                for lineno, reason in self.bad_lines]

    def whole(self, records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``records`` (some of this journal's, parsed with ``keep_samples=False``) read
        again with their raw latencies, one at a time, in file order.

        For consumers of every sample of a run (the store's ingest): parsing the whole
        journal at once held all of them -- 100+ MB of floats for 256 fast jobs."""
        line_of = {id(rec): lineno for rec, lineno in zip(self.records, self.record_lines, strict=False)}
        wanted = {line_of[id(rec)] for rec in records}
        if not wanted:
            return
        try:
            with self.path.open("rb") as fh:
                for index, raw in enumerate(fh):
                    if index + 1 not in wanted:
                        continue
                    again = Journal(self.path)
                    _parse_line(again, index + 1, raw, True)
                    if not again.records:
                        raise StoreError(f"{self.path}:{index + 1} changed while it was read",
                                         hint="a journal is only ever appended to")
                    yield again.records[0]
                    wanted.discard(index + 1)
                    if not wanted:
                        return
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc
        raise StoreError(f"{self.path} lost {len(wanted)} line(s) while it was read",
                         hint="a journal is only ever appended to")


def drop_samples(record: dict[str, Any]) -> dict[str, Any]:
    """Remove the raw per-run latencies (``result.timing.latencies_s``) from ``record``.

    They are the bulk of a record -- a fast model on a fast device times thousands of runs
    per job, ~13,000 on the scale test's MLP, ~0.4 MB each as Python floats -- and only the
    store's samples table and pytest-benchmark output use them.  Readers that need the
    rest of a whole run (the controller's end of run, md/html reports) drop them per line
    so a 256-job run does not hold 100+ MB of floats at once; the journal keeps them.
    """
    result = record.get("result")
    timing = result.get("timing") if isinstance(result, dict) else None
    if isinstance(timing, dict):
        timing.pop("latencies_s", None)
    return record


def parse_journal(path: Path, *, keep_samples: bool = True) -> Journal:
    """Parse results.jsonl; a missing file is an empty journal (run not started).

    Read line by line, not whole: the file of a big run is tens of MB, and holding it
    (plus its split lines) beside the parsed records doubled the controller's peak.
    ``keep_samples=False`` drops each record's raw latencies as it is parsed
    (:func:`drop_samples`)."""
    journal = Journal(path=path)
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return journal
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    with fh:
        try:
            for index, raw in enumerate(fh):
                _parse_line(journal, index + 1, raw, keep_samples)
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc
    return journal


def _parse_line(journal: Journal, lineno: int, raw: bytes, keep_samples: bool) -> None:
    """One journal line into ``journal``: a record, or why it is not one.  Only the last
    line can lack its newline; if it does not parse, it is a write a kill cut short."""
    complete = raw.endswith(b"\n")
    if not raw.strip():
        return
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if not complete:
            journal.truncated = True
            journal.bad_lines.append((lineno, f"truncated last line ({len(raw)} bytes, "
                                              f"controller killed mid-write?): {exc}"))
        else:
            journal.bad_lines.append((lineno, f"corrupt line: {exc}"))
        return
    missing = [k for k in REQUIRED_RECORD_KEYS if not isinstance(record, dict) or k not in record]
    if missing:
        journal.bad_lines.append((lineno, f"not a job record (missing {', '.join(missing)})"))
        return
    journal.records.append(record if keep_samples else drop_samples(record))
    journal.record_lines.append(lineno)


def latest_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per job_id, the last one written (a resumed or retried job's final attempt)."""
    by_job: dict[str, dict[str, Any]] = {}
    for record in records:
        by_job.pop(record["job_id"], None)
        by_job[record["job_id"]] = record
    return list(by_job.values())


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """run.json as a dict; synthesised from the directory name when it is missing."""
    path = Path(run_dir) / RUN_JSON
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        meta = {"schema_version": 1, "run_id": Path(run_dir).name, "suite": {}, "devices": [],
                "controller": {}, "started_at": None, "finished_at": None,
                "complete": False, "counts": {}}
    except OSError as exc:
        raise path_error(path, exc, "read") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:  # input the user pointed at: exit 2
        raise StoreConfigError(f"cannot read {path}: {exc}",
                               hint="run.json is written atomically; was it edited by hand?"
                               ) from exc
    if not isinstance(meta, dict) or not meta.get("run_id"):
        what = "an object" if isinstance(meta, dict) else f"a JSON {type(meta).__name__}"
        raise StoreConfigError(f"{path}: not a run.json ({what} without a run_id)",
                               hint="run.json is written atomically; was it edited by hand?")
    return meta


@dataclass
class JournalRead:
    """The journal as JobRecords, for the controller."""

    records: list[JobRecord]
    warnings: list[str] = field(default_factory=list)

    def latest(self) -> dict[str, JobRecord]:
        """The last record per job id: a resumed run appends a newer attempt."""
        out: dict[str, JobRecord] = {}
        for rec in self.records:
            out[rec.job_id] = rec
        return out


def read_journal(path: Path, *, keep_samples: bool = True) -> JournalRead:
    """results.jsonl as JobRecords; a truncated or corrupt line is a warning, never a record.
    ``keep_samples=False``: without the raw latencies (:func:`drop_samples`)."""
    journal = parse_journal(Path(path), keep_samples=keep_samples)
    return JournalRead([JobRecord.from_dict(d) for d in journal.records], journal.warnings())


class RunDir:
    """One run's directory; ``append`` is thread-safe (devices finish jobs concurrently)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal_path = path / JOURNAL
        self._lock = threading.Lock()

    @classmethod
    def create(cls, out_dir: Path, run_id: str) -> "RunDir":
        path = Path(out_dir) / validate_run_id(run_id)
        if Path(out_dir).exists() and not Path(out_dir).is_dir():
            raise StoreConfigError(f"--out {out_dir} is a file, not a folder",
                                   hint="point --out at a folder you can write to")
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError as exc:
            if path.is_dir():
                raise StoreError(f"{path} already exists",
                                 hint="use --resume RUN_ID to continue it") from exc
            raise path_error(path, exc, "create the run directory",
                             hint="point --out at a folder you can write to") from exc
        except OSError as exc:
            raise path_error(path, exc, "create the run directory",
                             hint="point --out at a folder you can write to") from exc
        return cls(path)

    @classmethod
    def open(cls, out_dir: Path, run_id: str) -> "RunDir":
        """An existing run ``run_id`` under ``out_dir`` (``--resume``); never a path elsewhere."""
        path = Path(out_dir) / validate_run_id(run_id)
        if not (path / RUN_JSON).exists():
            raise UsageError(f"no run {run_id!r} in {out_dir}",
                             hint=f"see the run ids under {out_dir}/")
        return cls(path)

    def append(self, record: JobRecord) -> None:
        """Journal one record (fsync'd); a failure is a :class:`StoreError` naming the file."""
        self.append_many([record])

    def append_many(self, records: list[JobRecord]) -> None:
        """Journal several records with one write and one fsync (group commit): the Ray
        driver journals every record that came back at once before it sends those devices
        their next jobs, and one fsync per job was a tenth of its time (py-spy)."""
        if not records:
            return
        text = "".join(json.dumps(r.to_dict(), allow_nan=False, default=str) + "\n" for r in records)
        with self._lock:
            try:
                with open(self.journal_path, "a", encoding="utf-8") as fh:
                    self._repair_tail(fh)
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise path_error(self.journal_path, exc, "append to") from exc

    def _repair_tail(self, fh: Any) -> None:
        """After a crash mid-line, start our line on a fresh line so it stays parseable."""
        if fh.tell() == 0:
            return
        with open(self.journal_path, "rb") as rd:
            rd.seek(-1, os.SEEK_END)
            if rd.read(1) != b"\n":
                fh.write("\n")

    def read(self, *, keep_samples: bool = True) -> JournalRead:
        return read_journal(self.journal_path, keep_samples=keep_samples)

    def write_run_json(self, payload: dict[str, Any]) -> None:
        write_json_atomic(self.path / RUN_JSON, payload)

    def read_run_json(self) -> dict[str, Any]:
        return read_run_json(self.path)


def find_run(out_dir: Path, run_id: str) -> Optional[RunDir]:
    path = Path(out_dir) / validate_run_id(run_id)
    return RunDir(path) if (path / RUN_JSON).exists() else None


def iter_runs(out_dir: Path) -> Iterable[Path]:
    if not out_dir.exists():
        return []
    return sorted(p for p in out_dir.iterdir() if (p / RUN_JSON).exists())
