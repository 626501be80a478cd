"""Read a run directory (``results.jsonl`` + ``run.json``) without ever misreading it.

The controller appends one JSON line per finished job and may be killed mid-write, so
the last line can be a fragment.  That fragment is *reported* (``Journal.truncated``), never
parsed into a half record; any other unreadable line is reported as corrupt.  Store ingest
and the run report both read run directories through here, so they agree on what a run
contains.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.errors import StoreError

REQUIRED_RECORD_KEYS = ("run_id", "job_id", "model", "variant", "format", "device", "status")


@dataclass
class Journal:
    """The parsed journal: good records in file order, and what could not be read."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    #: (1-based line number, reason) for every line that is not a whole record.
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    #: True when the last line is an incomplete write (controller killed mid-append).
    truncated: bool = False

    def warnings(self) -> list[str]:
        """Human sentences for reports: one per unreadable line."""
        out = []
        for lineno, reason in self.bad_lines:
            out.append(f"{self.path.name} line {lineno}: {reason}; that job is not counted")
        return out


def read_journal(path: Path) -> Journal:
    """Parse ``results.jsonl``; a missing file is an empty journal (run not started)."""
    journal = Journal(path=path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return journal
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    lines = data.split(b"\n")
    ends_with_newline = data.endswith(b"\n")
    if ends_with_newline:
        lines = lines[:-1]
    for index, raw in enumerate(lines):
        lineno = index + 1
        is_last = index == len(lines) - 1
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if is_last and not ends_with_newline:
                journal.truncated = True
                journal.bad_lines.append(
                    (lineno, f"truncated last line ({len(raw)} bytes, controller killed "
                             f"mid-write?): {exc.msg if hasattr(exc, 'msg') else exc}"))
            else:
                journal.bad_lines.append((lineno, f"corrupt line: {exc}"))
            continue
        missing = [k for k in REQUIRED_RECORD_KEYS
                   if not isinstance(record, dict) or k not in record]
        if missing:
            journal.bad_lines.append((lineno, f"not a job record (missing {', '.join(missing)})"))
            continue
        journal.records.append(record)
    return journal


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """``run.json`` as a dict; synthesised from the journal when it is missing."""
    path = run_dir / "run.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        meta = {"schema_version": 1, "run_id": run_dir.name, "suite": {}, "devices": [],
                "controller": {}, "started_at": None, "finished_at": None,
                "complete": False, "counts": {}}
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(f"cannot read {path}: {exc}",
                         hint="run.json is written atomically; was it edited by hand?") from exc
    if not isinstance(meta, dict) or not meta.get("run_id"):
        raise StoreError(f"{path}: not a run.json (no run_id)")
    return meta


def latest_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per job_id, the last one written (a retried job's final attempt wins)."""
    by_job: dict[str, dict[str, Any]] = {}
    for record in records:
        by_job.pop(record["job_id"], None)
        by_job[record["job_id"]] = record
    return list(by_job.values())
