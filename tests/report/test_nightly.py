"""The nightly loop end to end with an injected runner (no devices): exit codes,
regressions.json, the published site."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from edgebench.errors import DeviceError
from edgebench.results.record import JobRecord
from tests.store.runfactory import RunSpec, make_run

SLOW = ("resnet18", "pruned50", "jetson-nano")


class FakeRunner:
    """Stands in for edgebench.run.run_suite: writes a run directory, reports each record."""

    def __init__(self, spec: RunSpec, exit_code: int = 0) -> None:
        self.spec, self.exit_code, self.calls = spec, exit_code, 0

    def __call__(self, suite_path: Path, *, devices_path: Any = None, out_dir: Path,
                 on_record: Any = None, **_: Any) -> SimpleNamespace:
        self.calls += 1
        run_dir = make_run(Path(out_dir), self.spec)
        meta = json.loads((run_dir / "run.json").read_text())
        records = [JobRecord.from_dict(json.loads(x))
                   for x in (run_dir / "results.jsonl").read_text().splitlines()]
        for rec in records:
            on_record(meta, rec)
        return SimpleNamespace(run_id=self.spec.run_id, run_dir=run_dir, records=records,
                               exit_code=self.exit_code)


def _nightly(tmp_path: Path, runner: Any, *extra: str) -> int:
    from edgebench.cli import build_parser

    args = build_parser().parse_args(
        ["nightly", "suites/nightly.yaml", "--out", str(tmp_path / "results"), *extra])
    args.runner = runner
    return int(args.func(args))


@pytest.fixture()
def with_baseline(tmp_path: Path) -> Path:
    rc = _nightly(tmp_path, FakeRunner(RunSpec("n1", seed=11,
                                               started_at="2026-11-20T02:00:00.000+00:00")))
    assert rc == 0  # first night: nothing to compare with
    data = json.loads((tmp_path / "results" / "n1" / "regressions.json").read_text())
    assert data["baseline_run_id"] is None and "nothing to compare" in data["notes"][0]
    return tmp_path


def test_slower_model_exits_1_and_names_it(with_baseline: Path, capsys) -> None:
    tmp_path = with_baseline
    capsys.readouterr()
    runner = FakeRunner(RunSpec("n2", seed=12, started_at="2026-11-21T02:00:00.000+00:00",
                                slow={SLOW: 1.5}))
    assert _nightly(tmp_path, runner, "--site", str(tmp_path / "site")) == 1
    out = capsys.readouterr().out
    assert re.search(r"REGRESSION resnet18/pruned50 \(onnx\) on jetson-nano: "
                     r"regression: latency ×1\.[45]\d* \(p=", out), out
    data = json.loads((tmp_path / "results" / "n2" / "regressions.json").read_text())
    assert data["exit_code"] == 1 and data["baseline_run_id"] == "n1"
    assert [(r["model"], r["variant"], r["device"]) for r in data["regressions"]] == [SLOW]
    assert data["regressions"][0]["ratio"] == pytest.approx(1.5, rel=0.05)
    index = (tmp_path / "site" / "index.html").read_text()
    assert "resnet18/pruned50 (onnx) on jetson-nano" in index
    from edgebench import results

    assert set(results.load(tmp_path / "results" / "edgebench.db")["run_id"]) == {"n1", "n2"}


def test_unchanged_night_exits_0(with_baseline: Path) -> None:
    runner = FakeRunner(RunSpec("n2", seed=99, started_at="2026-11-21T02:00:00.000+00:00"))
    assert _nightly(with_baseline, runner) == 0
    data = json.loads((with_baseline / "results" / "n2" / "regressions.json").read_text())
    assert data["regressions"] == [] and data["baseline_run_id"] == "n1"


def test_explicit_baseline_and_unknown_baseline(with_baseline: Path, capsys) -> None:
    runner = FakeRunner(RunSpec("n2", seed=12, started_at="2026-11-21T02:00:00.000+00:00"))
    assert _nightly(with_baseline, runner, "--baseline", "n1") == 0
    runner3 = FakeRunner(RunSpec("n3", seed=13, started_at="2026-11-22T02:00:00.000+00:00"))
    assert _nightly(with_baseline, runner3, "--baseline", "nope") == 2
    assert "unknown run id 'nope'" in capsys.readouterr().err


def test_runner_error_exits_2(tmp_path: Path, capsys) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise DeviceError("unreachable", device="rpi4")

    assert _nightly(tmp_path, broken) == 2
    assert "device 'rpi4': unreachable" in capsys.readouterr().err


def test_run_exit_2_makes_nightly_exit_2(with_baseline: Path) -> None:
    runner = FakeRunner(RunSpec("n2", seed=12, started_at="2026-11-21T02:00:00.000+00:00"),
                        exit_code=2)
    assert _nightly(with_baseline, runner) == 2
    data = json.loads((with_baseline / "results" / "n2" / "regressions.json").read_text())
    assert data["exit_code"] == 2


def test_failed_jobs_are_never_a_silent_night(with_baseline: Path, capsys) -> None:
    runner = FakeRunner(RunSpec("n2", seed=99, started_at="2026-11-21T02:00:00.000+00:00"),
                        exit_code=1)
    assert _nightly(with_baseline, runner) == 0  # no regression: the exit code says only that
    data = json.loads((with_baseline / "results" / "n2" / "regressions.json").read_text())
    assert any("failed or were skipped" in n for n in data["notes"])
    assert "failed or were skipped" in capsys.readouterr().out


def test_command_is_registered() -> None:
    from edgebench.cli import build_parser

    args = build_parser().parse_args(["nightly", "s.yaml"])
    assert isinstance(args, argparse.Namespace) and args.runner is None


def test_nightly_rewrites_run_report_with_verdict_and_history(with_baseline: Path) -> None:
    runner = FakeRunner(RunSpec("n2", seed=12, started_at="2026-11-21T02:00:00.000+00:00",
                                slow={SLOW: 1.5}))
    assert _nightly(with_baseline, runner) == 1
    run_dir = with_baseline / "results" / "n2"
    md = (run_dir / "report.md").read_text()
    assert "## Regressions" in md and "resnet18/pruned50 (onnx) on jetson-nano" in md
    html = (run_dir / "report.html").read_text()
    assert "p50 over runs" in html  # history chart across n1 and n2
