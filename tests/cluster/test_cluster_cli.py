"""--cluster without a cluster: Ray stays out of the default path, bad input is one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.cluster.connect import check_labs, resolve_address
from edgebench.config import load_devices
from edgebench.errors import ConfigError, UsageError

ROOT = Path(__file__).resolve().parents[2]


def test_edgebench_run_imports_no_ray() -> None:
    code = ("import sys, edgebench.run, edgebench.fleet, edgebench.cli, edgebench.commands.run, "
            "edgebench.cluster, edgebench.tuning.tuner, edgebench.commands.tune; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_addresses() -> None:
    assert resolve_address("ray://head.lab:10001") == "ray://head.lab:10001"
    assert resolve_address(" 10.0.0.5:6379 ") == "10.0.0.5:6379"
    with pytest.raises(UsageError, match="'head' is not a Ray address"):
        resolve_address("head")


def test_auto_reads_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "ray://127.0.0.1:10001")
    assert resolve_address("auto") == "ray://127.0.0.1:10001"
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(UsageError, match="RAY_ADDRESS is not set"):
        resolve_address("auto")


def test_lab_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  pi: {host: pi.lab, lab: room-a}\n  jet: {host: jet.lab, lab: 'room b'}\n")
    with pytest.raises(ConfigError, match=r"devices.yaml:3: devices.jet.lab: String should match pattern"):
        load_devices(path)
    path.write_text("devices:\n  pi: {host: pi.lab, lab: room-a}\n  jet: {host: jet.lab}\n")
    registry = load_devices(path)
    assert registry["pi"].lab == "room-a" and registry["jet"].lab is None
    check_labs([registry["pi"]])
    with pytest.raises(UsageError, match="device\\(s\\) jet have no lab"):
        check_labs([registry["pi"], registry["jet"]])


def test_cli_refuses_devices_without_lab_before_any_work(tmp_path: Path) -> None:
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  pi: {host: 127.0.0.1, port: 9}\n")
    out = subprocess.run([sys.executable, "-m", "edgebench", "run", "suites/quickstart.yaml", "--devices",
                          str(devices), "--device", "pi", "--out", str(tmp_path / "results"), "--cluster", "auto"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "RAY_ADDRESS": "ray://127.0.0.1:1"})
    assert out.returncode == 2, out.stderr
    assert "--cluster: device(s) pi have no lab" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_tune_refuses_devices_without_lab_before_any_work(tmp_path: Path, mlp_onnx: Path) -> None:
    """``tune --cluster``: the same check as ``run``, before the run directory or any build;
    the API refuses alike, and a bad address is one line too."""
    import edgebench

    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  pi: {host: 127.0.0.1, port: 9}\n  jet: {host: 127.0.0.1, port: 9, lab: a}\n")
    (tmp_path / "m.onnx").write_bytes(mlp_onnx.read_bytes())
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndevices: [pi, jet]\nmodels: [{name: m, path: m.onnx}]\n")
    for address, text in (("127.0.0.1:1", "--cluster: device(s) pi have no lab"),
                          ("head", "--cluster 'head' is not a Ray address")):
        picked = ["--device", "jet"] if address == "head" else []
        out = subprocess.run([sys.executable, "-m", "edgebench", "tune", str(suite), "--devices", str(devices),
                              "--out", str(tmp_path / "results"), "--cluster", address, *picked],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert out.returncode == 2, out.stderr
        assert text in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
    with pytest.raises(UsageError, match=r"device\(s\) pi have no lab"):
        edgebench.tune(suite, devices_path=devices, out_dir=tmp_path / "api", cluster="127.0.0.1:1")
    assert not (tmp_path / "api").exists()


def test_nightly_passes_cluster_to_the_run(tmp_path: Path) -> None:
    """``nightly --cluster`` hands the address to run_suite; without it run_suite sees no
    ``cluster`` at all (a custom runner need not know the option)."""
    from edgebench.cli import build_parser
    from tests.report.test_nightly import FakeRunner
    from tests.store.runfactory import RunSpec

    seen: list[dict] = []

    class Recording(FakeRunner):
        def __call__(self, suite_path: Path, **kwargs: object) -> object:
            seen.append({k: v for k, v in kwargs.items() if k == "cluster"})
            return super().__call__(suite_path, **kwargs)  # type: ignore[arg-type]

    for n, extra in enumerate((["--cluster", "ray://head.lab:10001"], [])):
        args = build_parser().parse_args(["nightly", "suites/nightly.yaml", "--out",
                                          str(tmp_path / f"r{n}"), *extra])
        args.runner = Recording(RunSpec(f"n{n}"))
        assert int(args.func(args)) == 0
    assert seen == [{"cluster": "ray://head.lab:10001"}, {}]
