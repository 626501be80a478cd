"""``edgebench run SUITE``: compress, benchmark on every selected device, write the results."""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HELP = """\
Build every variant of the suite's models, run each on every selected device (one job at a
time per device, devices in parallel) and write results/<run_id>/: results.jsonl (journal,
one line per finished job), summary.csv, report.md and run.json.  Exit 0 when every job is
ok, 1 when some job failed or was skipped, 2 for configuration errors.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="benchmark a suite on its devices", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", help="suite YAML file, e.g. suites/quickstart.yaml")
    p.add_argument("--devices", metavar="FILE", help="device registry (default: ./devices.yaml "
                   "if present; the built-in 'local' device always exists)")
    p.add_argument("--device", metavar="NAME", action="append", dest="device_names",
                   help="run only on this device or tag (repeatable); overrides the suite")
    p.add_argument("--model", action="append", metavar="NAME", dest="models",
                   help="only this model of the suite (repeatable)")
    p.add_argument("--out", metavar="DIR", default="results", help="results root (default: results)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue a run: redo only jobs not 'ok'")
    p.add_argument("--no-cache", action="store_true", help="rebuild every variant")
    p.add_argument("--store", metavar="URL", help="results database (default: sqlite at "
                   "OUT/edgebench.db; any SQLAlchemy URL)")
    p.add_argument("--no-store", action="store_true", help="do not ingest into the database")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the suite; Ctrl-C at any moment ends it within about a second with exit 130,
    the bookkeeping written and the exact command that resumes it printed.

    SIGINT is taken over first thing, whatever the process inherited: a run started with
    SIGINT ignored (a background job of a script) must stop on ``kill -INT`` all the same.
    """
    from ..interrupt import RunInterrupted, StopOnSigint, run_stage

    stop = threading.Event()
    with StopOnSigint(stop):
        from ..progress import ConsoleProgress
        from ..run import mark_interrupted, run_suite
        from ..view import print_run_summary

        progress = ConsoleProgress(quiet=args.quiet)
        sink = None if args.no_store else StoreSink(args.store, Path(args.out), _warn(progress))
        ingested = True
        try:
            outcome = run_suite(args.suite, devices_path=args.devices, device_names=args.device_names,
                                out_dir=Path(args.out), resume=args.resume, no_cache=args.no_cache,
                                models=args.models,
                                on_record=sink, progress=progress, stop=stop)
            if sink is not None and not stop.is_set():
                # the journal is the source of truth: a Ctrl-C need not wait for the store
                ingested = run_stage("store", lambda: sink.finish(outcome.run_dir), stop).done
        except RunInterrupted as exc:
            _say_interrupted(args, exc.run_id, exc.run_dir)
            return 130
        finally:
            if sink is not None and ingested:  # an ingest left running keeps its store
                sink.close()
        if stop.is_set():  # after the fleet and the reports: the store ingest was cut short
            mark_interrupted(outcome.run_dir)
            _say_interrupted(args, outcome.run_id, outcome.run_dir)
            return 130
        print_run_summary(outcome, stream=sys.stdout)
        for device in outcome.devices:  # the table cuts notes short; a lost device's reason (a
            if device.error:            # changed host key's two fingerprints) must be read whole
                print(f"edgebench: device {device.name!r} failed: {device.error}", file=sys.stderr)
        if stop.is_set():  # everything was written: only the table was cut short
            print("edgebench: interrupted after the run had finished", file=sys.stderr)
            return 130
        return outcome.exit_code


def resume_command(args: argparse.Namespace, run_id: str) -> str:
    """The ``edgebench run`` command line that continues ``run_id``: the suite as given, and
    the options that say where the run and its devices are (--out, --devices, --device,
    the store); ``--model`` is not needed, a resumed run keeps its own selection.  A store
    URL's password is shown as ``***``: the line lands in terminals and CI logs."""
    cmd = ["edgebench", "run", args.suite, "--resume", run_id]
    if Path(args.out) != Path("results"):
        cmd += ["--out", args.out]
    if args.devices:
        cmd += ["--devices", args.devices]
    for name in args.device_names or []:
        cmd += ["--device", name]
    if args.no_store:
        cmd.append("--no-store")
    elif args.store:
        cmd += ["--store", _without_password(args.store)]
    return shlex.join(cmd)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _say_interrupted(args: argparse.Namespace, run_id: str, run_dir: Path) -> None:
    print(f"edgebench: interrupted: run {run_id} stopped; jobs in flight were killed, finished "
          f"jobs are saved in {run_dir}\n"
          f"edgebench: continue with: {resume_command(args, run_id)}", file=sys.stderr, flush=True)


def _warn(progress: Any) -> Any:
    """Warnings go to stderr even with --quiet: a store that stopped taking results matters."""
    def warn(text: str) -> None:
        if progress.quiet:
            print(text, file=sys.stderr, flush=True)
        else:
            progress.message(text)
    return warn


class StoreSink:
    """Ingests each record into the database as it lands; the journal stays the source of
    truth, so a database problem is reported once and never stops the run.

    Devices finish jobs on their own threads, so calls are serialised: two threads opening
    a fresh SQLite file at once both tried to create its tables, one failed, and the store
    was then skipped for the rest of the run.  ``finish`` re-ingests the whole journal
    even after a live failure, so a transient problem costs nothing at the end.
    """

    def __init__(self, url: "str | None", out_dir: Path, warn: Any) -> None:
        self.url, self.out_dir, self.warn = url, out_dir, warn
        self.store: Any = None
        self.failed = False
        self._lock = threading.Lock()

    def _open(self) -> Any:
        if self.store is None and not self.failed:
            from ..store import Store, resolve_url

            self.store = Store(resolve_url(self.url, self.out_dir))
        return self.store

    def __call__(self, run_meta: dict, record: Any) -> None:
        from ..errors import EdgebenchError

        with self._lock:
            if self.failed:
                return
            try:
                self._open().ingest_record(run_meta, record.to_dict())
            except EdgebenchError as exc:
                self._live_failure(exc)

    def _live_failure(self, exc: Any) -> None:
        self.failed = True
        self.warn(f"warning: results store unavailable, journal only: {exc.one_line()} "
                      "(load it later with 'edgebench ingest')")

    def finish(self, run_dir: Path) -> None:
        from ..errors import EdgebenchError
        from ..journal import RunDir

        with self._lock:
            self.failed = False  # the journal is complete now: one more try, whole run
            try:
                self._open().ingest_dir(run_dir)  # idempotent: also records the final run.json
            except EdgebenchError as exc:
                self.warn(f"warning: could not finish ingesting {run_dir}: {exc.one_line()}")

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
