"""What a person watching a run sees: a live view per device on a terminal, log lines otherwise.

Long work must show that it is alive and where it is; CI logs and cron mails must stay
readable, so without a TTY the same events become one plain line each.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from edgebench.results.record import JobRecord

from . import units
from .fleet import DeviceReport, Job
from .textsafe import plain, printable


def fmt_pm(summary: dict, which: str = "p50") -> str:
    """`` ±0.3 %`` of a summary row's percentile (:func:`edgebench.units.fmt_pm`), or ''."""
    return units.fmt_pm(*(summary.get(f"latency_{which}{part}_s")
                          for part in ("", "_ci_low", "_ci_high")))


def describe(rec: JobRecord) -> str:
    if rec.status == "ok":
        s = rec.summary
        text = f"ok  p50 {units.terminal_seconds(s.get('latency_p50_s'))}{fmt_pm(s)}  ({s.get('runs')} runs)"
        target = units.as_number(s.get("target_precision"))
        if target is not None and s.get("precision_reached") in (False, "False"):
            text += f"  target ±{target * 100:g} % NOT reached (max_duration_s)"
        between = units.as_number(s.get("between_process_cv"))
        if between is not None:
            text += f"  {s.get('processes')} processes, between-process CV {between * 100:.2g} %"
        if units.as_number(s.get("burst_p50_s")) is not None:
            onset = units.as_number(s.get("slowdown_onset_s"))
            text += (f"  burst {units.terminal_seconds(units.as_number(s.get('burst_p50_s')))} -> sustained "
                     f"{units.terminal_seconds(units.as_number(s.get('sustained_p50_s')))}"
                     + (f", +10 % from {onset:.3g} s" if onset is not None else ""))
        return text
    return f"{rec.status.upper()}: {rec.error}"


class ConsoleProgress:
    """Receives run events; renders with rich on a TTY, plain lines elsewhere."""

    def __init__(self, stream: Optional[TextIO] = None, *, quiet: bool = False,
                 live: Optional[bool] = None,
                 on_run_dir: Optional[Callable[[Path], None]] = None) -> None:
        stream = sys.stderr if stream is None else stream
        self.stream = stream
        self.on_run_dir = on_run_dir
        self.quiet = quiet
        self.live = stream.isatty() if live is None else live
        self._lock = threading.Lock()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._totals: dict[str, int] = {}
        self._done = 0
        self._total = 0
        self._start = time.perf_counter()

    def message(self, text: str) -> None:
        if self.quiet:
            return
        text = "\n".join(printable(line) for line in str(text).split("\n"))
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(text, markup=False, highlight=False)
            else:
                print(text, file=self.stream, flush=True)

    def run_dir_ready(self, path: Path) -> None:
        """The run's directory exists (files that belong to the run can go there now)."""
        if self.on_run_dir is not None:
            self.on_run_dir(path)

    def start(self, jobs: list[Job]) -> None:
        self._total = len(jobs)
        self._start = time.perf_counter()
        for job in jobs:
            self._totals[job.device.name] = self._totals.get(job.device.name, 0) + 1
        if self.quiet:
            return
        if self.live and jobs:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("[bold]{task.fields[device]:<16}"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                                      TimeElapsedColumn(), console=Console(file=self.stream))
            for name, total in self._totals.items():
                self._tasks[name] = self._progress.add_task("", total=total, device=plain(name), status="")
            self._progress.start()
        else:
            devices = ", ".join(f"{printable(n)} ({t})" for n, t in self._totals.items())
            self.message(f"running {self._total} job(s) on {len(self._totals)} device(s): {devices}")

    def job_done(self, device: str, rec: JobRecord, report: DeviceReport) -> None:
        with self._lock:
            self._done += 1
            done = self._done
        line = f"[{done}/{self._total}] {printable(rec.job_id)}: {printable(describe(rec))}"
        if self._progress is not None:
            failures = report.failed
            status = f"{report.ok} ok" + (f", [red]{failures} failed" if failures else "")
            self._progress.update(self._tasks[device], advance=1, status=status)
        self.message(line)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
