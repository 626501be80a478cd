"""Bad input, tried systematically: every case ends in one EdgebenchError line (exit 2 for
configuration) or a ``failed`` job with a reason -- never a traceback, never a hang.

* mutated / truncated suites and devices.yaml, through load_suite / load_devices (hypothesis)
  and a sample through the real CLI;
* absurd settings (negative runs, zero and huge timeouts, inf/nan) -- rejected, or run and
  bounded by max_duration_s;
* corrupt and truncated .onnx / .tflite files through the agent (one process per job, as on
  a device) and through a local run;
* .npz inputs with wrong shapes, dtypes, keys or bytes, through the agent and a local run.

The counts tried are printed in the terminal summary ("edgebench reliability").
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgebench.config import load_devices, load_suite
from edgebench.errors import ConfigError, EdgebenchError
from edgebench.run import run_suite
from tests.conftest import make_mlp_onnx
from tests.reliability.helpers import FAST, TALLY, cli, cli_env

SETTINGS = settings(max_examples=250, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

NASTY_VALUES = [-1, 0, 1, -0.0, 1e308, -1e308, 10**30, float("inf"), float("nan"), "", "x" * 5000,
                None, True, [], {}, [1, "a"], {"a": {"b": None}}, "../../etc/passwd", "$(touch /tmp/pwn)",
                "\x00", "\n\n", "é", 3.5, "1e309", {"steps": [{"nope": {}}]}]


@pytest.fixture(scope="module")
def work() -> Path:
    root = Path(tempfile.mkdtemp(prefix="eb-badinput-"))
    make_mlp_onnx(root / "mlp.onnx")
    np.savez(root / "ok.npz", x=np.zeros((4, 64), "float32"))
    return root


def base_suite() -> dict[str, Any]:
    return {"name": "bad", "devices": ["local"],
            "models": [{"name": "mlp", "path": "mlp.onnx", "formats": ["onnx"]}],
            "variants": [{"name": "fp32", "steps": []}],
            "benchmark": dict(FAST), "input_npz": "ok.npz",
            "onnxruntime": {"providers": ["CPUExecutionProvider"]}}


def base_devices() -> dict[str, Any]:
    return {"devices": {"pi": {"host": "127.0.0.1", "port": 2222, "user": "pi", "tags": ["arm"],
                               "env": {"OMP_NUM_THREADS": "1"}, "connect_timeout_s": 5,
                               "job_timeout_s": 60, "retries": 1, "runtimes": ["onnx"]}}}


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _set(obj: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = obj
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return obj


@st.composite
def mutated_text(draw: Any, base: dict[str, Any]) -> str:
    """A structural mutation (set/delete a key, rename one), then maybe a textual one."""
    data = json.loads(json.dumps(base))
    paths = _paths(data)
    kind = draw(st.sampled_from(["set", "delete", "rename", "truncate", "byte", "none"]))
    if kind in ("set", "delete", "rename"):
        path = draw(st.sampled_from(paths[1:]))
        if kind == "rename" and isinstance(path[-1], str):
            parent = data
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1] + draw(st.sampled_from(["x", "_", "S", " "]))] = parent.pop(path[-1])
        else:
            value = draw(st.sampled_from(NASTY_VALUES) | st.integers() | st.floats() | st.text(max_size=20))
            data = _set(data, path, value, kind == "delete" and path[-1] != 0)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if kind == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif kind == "byte":
        i = draw(st.integers(0, max(0, len(text) - 1)))
        text = text[:i] + draw(st.sampled_from(list(":-[]{}\"'\t\n&*!|>%@`#,?"))) + text[i + 1:]
    return text


def _one_line(exc: EdgebenchError) -> str:
    line = exc.one_line()
    assert "\n" not in line and line.strip() and "Traceback" not in line
    return line


@SETTINGS
@given(text=mutated_text(base_suite()))
def test_mutated_suites_load_or_fail_in_one_line(work: Path, text: str) -> None:
    path = work / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    TALLY["bad input: mutated suites (load_suite)"] += 1
    try:
        spec = load_suite(path)
    except ConfigError as exc:
        assert exc.exit_code == 2
        assert str(path) in _one_line(exc) or "suite" in _one_line(exc)
        return
    assert spec.name and spec.models  # what loads is valid by construction


@SETTINGS
@given(text=mutated_text(base_devices()))
def test_mutated_devices_load_or_fail_in_one_line(work: Path, text: str) -> None:
    path = work / "devices.yaml"
    path.write_text(text, encoding="utf-8")
    TALLY["bad input: mutated devices.yaml (load_devices)"] += 1
    try:
        reg = load_devices(path)
    except ConfigError as exc:
        assert exc.exit_code == 2 and str(path) in _one_line(exc)
        return
    assert "local" in reg
    for dev in reg.values():  # what loads must be usable: no timeout the OS would reject
        assert 0 < dev.connect_timeout_s <= 3600 and 0 < dev.job_timeout_s <= 7 * 86400
        # ... and nothing that only fails at job time (as "device unreachable")
        assert dev.name.isprintable() and all(t.isprintable() for t in dev.tags)
        assert all(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) and "\0" not in v for k, v in dev.env.items())
        assert dev.kind == "local" or shlex.split(dev.python)
        assert type(dev.port) is int and type(dev.retries) is int


ABSURD = [("benchmark", "min_runs", -1), ("benchmark", "min_runs", 0), ("benchmark", "warmup_runs", -5),
          ("benchmark", "min_duration_s", -1.0), ("benchmark", "max_duration_s", 0),
          ("benchmark", "max_duration_s", 1e308), ("benchmark", "max_duration_s", float("inf")),
          ("benchmark", "max_duration_s", float("nan")), ("benchmark", "job_timeout_s", 0),
          ("benchmark", "job_timeout_s", -3), ("benchmark", "job_timeout_s", 1e308),
          ("benchmark", "threads", 0), ("benchmark", "threads", 100000),
          ("benchmark", "default_dim", 0), ("benchmark", "eval_samples", -1),
          ("benchmark", "threads", True), ("benchmark", "min_runs", 2.5), ("benchmark", "seed", -1),
          ("benchmark", "warmup_min_s", float("inf")), ("benchmark", "memory_sample_interval_s", float("nan"))]
ABSURD_DEVICE = [("connect_timeout_s", 0), ("connect_timeout_s", 1e308), ("connect_timeout_s", float("inf")),
                 ("job_timeout_s", 0), ("job_timeout_s", float("nan")), ("job_timeout_s", 1e12),
                 ("port", 0), ("port", 70000), ("retries", -1), ("retries", 1000),
                 ("io_timeout_s", 0), ("io_timeout_s", 1e9), ("port", True), ("retries", 1.0),
                 ("idle_s", float("inf")), ("cooldown_below_c", float("nan")), ("energy_sample_hz", float("nan"))]


@pytest.mark.parametrize("section,key,value", ABSURD)
def test_absurd_benchmark_settings_are_config_errors(work: Path, section: str, key: str, value: Any) -> None:
    data = base_suite()
    data[section][key] = value
    path = work / f"absurd-{key}.yaml"
    path.write_text(yaml.safe_dump(data))
    TALLY["bad input: absurd settings"] += 1
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert key in _one_line(info.value) and info.value.exit_code == 2


@pytest.mark.parametrize("key,value", ABSURD_DEVICE)
def test_absurd_device_settings_are_config_errors(work: Path, key: str, value: Any) -> None:
    data = base_devices()
    data["devices"]["pi"][key] = value
    path = work / f"absurd-dev-{key}.yaml"
    path.write_text(yaml.safe_dump(data))
    TALLY["bad input: absurd settings"] += 1
    with pytest.raises(ConfigError) as info:
        load_devices(path)
    assert f"devices.pi.{key}" in _one_line(info.value)


def test_huge_but_legal_run_counts_are_bounded_by_max_duration(work: Path, tmp_path: Path) -> None:
    data = base_suite()
    data["benchmark"].update(min_runs=10**12, warmup_runs=10**12, max_duration_s=0.3,
                             energy_min_samples=10**9)
    suite = tmp_path / "huge.yaml"
    suite.write_text(yaml.safe_dump(data))
    (tmp_path / "mlp.onnx").write_bytes((work / "mlp.onnx").read_bytes())
    (tmp_path / "ok.npz").write_bytes((work / "ok.npz").read_bytes())
    out = run_suite(suite, devices_path=None,
                    out_dir=tmp_path / "r", cache_dir=tmp_path / "cache")
    TALLY["bad input: absurd settings"] += 1
    [rec] = out.records
    assert rec.status == "ok", rec.error
    timing = rec.result["timing"]
    assert timing["warmup_s"] < 1.0 and timing["timed_s"] < 1.0


def _cli_case(cwd: Path, args: list[str]) -> subprocess.CompletedProcess:
    res = cli(*args, cwd=cwd, timeout=120)
    TALLY["bad input: cases through the real CLI"] += 1
    assert "Traceback" not in res.stderr + res.stdout, res.stderr[-2000:]
    return res


def test_mutated_files_through_the_real_cli(work: Path, tmp_path: Path) -> None:
    """A deterministic sample of the hypothesis mutations, run as `edgebench run`."""
    rng = random.Random(7)
    (tmp_path / "mlp.onnx").write_bytes((work / "mlp.onnx").read_bytes())
    (tmp_path / "ok.npz").write_bytes((work / "ok.npz").read_bytes())
    good_suite = tmp_path / "good.yaml"
    good_suite.write_text(yaml.safe_dump(base_suite()))
    suite_text = yaml.safe_dump(base_suite())
    dev_text = yaml.safe_dump(base_devices())
    cases = [
        ("suite", suite_text[: len(suite_text) // 2] + "\n  - {"),
        ("suite", suite_text.replace("min_runs: 10", "min_runs: -3")),
        ("suite", suite_text.replace("name: mlp", "nmae: mlp")),
        ("suite", suite_text.replace("path: mlp.onnx", "path: ../../nope/missing.onnx")),
        ("suite", "\x00\x01garbage: [\n"),
        ("devices", dev_text.replace("port: 2222", "port: 99999")),
        ("devices", dev_text[: rng.randint(5, len(dev_text) - 5)] + "\n\t: ["),
        ("devices", dev_text.replace("connect_timeout_s: 5", "connect_timeout_s: 1.0e+308")),
    ]
    for i, (kind, text) in enumerate(cases):
        path = tmp_path / f"{kind}-{i}.yaml"
        path.write_text(text)
        args = (["run", str(path), "--out", str(tmp_path / "r"), "-q"] if kind == "suite" else
                ["run", str(good_suite), "--devices", str(path), "--out", str(tmp_path / "r"), "-q"])
        res = _cli_case(tmp_path, args)
        assert res.returncode == 2, (text, res.returncode, res.stderr[-500:])
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("edgebench: error: "), res.stderr
        assert str(path.name) in lines[0], lines[0]


# ---------------------------------------------------------------- corrupt models / data

AGENT_BATCH = r'''
import json, os, subprocess, sys
# one agent process per job, exactly as on a device; this driver only loops
specs = json.load(open(sys.argv[1]))
out = []
for spec in specs:
    spec_path = spec["job_id"] + ".spec.json"
    json.dump(spec, open(spec_path, "w"))
    res_path = spec["job_id"] + ".result.json"
    try:
        p = subprocess.run([sys.executable, "-m", "edgebench.agent", "run", spec_path, "--out", res_path],
                           capture_output=True, text=True, timeout=60)
        rc, err = p.returncode, p.stderr[-300:]
    except subprocess.TimeoutExpired:
        rc, err = "timeout", ""
    result = json.load(open(res_path)) if os.path.exists(res_path) else None
    out.append({"job_id": spec["job_id"], "rc": rc, "stderr": err, "result": result})
json.dump(out, open(sys.argv[2], "w"))
'''


def _spec(job_id: str, model: Path, fmt: str, npz: "Path | None" = None) -> dict[str, Any]:
    return {"job_id": job_id, "model_path": str(model), "format": fmt, "threads": 1,
            "providers": ["CPUExecutionProvider"], "graph_optimization_level": "all",
            "tflite_runtime": "auto", "delegate_path": None, "delegate_options": {},
            "use_xnnpack": True,
            "inputs": {"seed": 0, "npz_path": str(npz) if npz else None, "shapes": {}, "default_dim": 1},
            "benchmark": {**FAST, "max_duration_s": 2.0, "memory_sample_interval_s": 0.05},
            "eval": None, "probes": {"enabled": False}}


def _run_agent_batch(tmp_path: Path, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (tmp_path / "driver.py").write_text(AGENT_BATCH)
    (tmp_path / "specs.json").write_text(json.dumps(specs))
    subprocess.run([sys.executable, str(tmp_path / "driver.py"), "specs.json", "out.json"], cwd=tmp_path,
                   env=cli_env(), timeout=400, check=True)
    return json.loads((tmp_path / "out.json").read_text())


def _assert_failed_with_reason(outcome: dict[str, Any], allow_ok: bool) -> str:
    assert outcome["rc"] == 0, outcome  # the agent always reported (exit 0 = a result was written)
    result = outcome["result"]
    assert result is not None and result["status"] in ("ok", "failed"), outcome
    if result["status"] == "ok":
        assert allow_ok, outcome["job_id"]
        return "ok"
    err = result["error"]
    assert err["kind"] and err["message"].strip(), err
    assert "Traceback" not in err["message"]
    return err["kind"]


@st.composite
def corruption(draw: Any, size: int) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["truncate", "flip", "zero", "garbage", "splice", "empty"]))
    if kind == "truncate":
        return kind, draw(st.integers(0, size - 1))
    if kind in ("flip", "zero"):
        return kind, draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=8))
    if kind == "garbage":
        return kind, draw(st.binary(min_size=0, max_size=256))
    if kind == "splice":
        return kind, (draw(st.integers(0, size - 1)), draw(st.binary(min_size=1, max_size=64)))
    return kind, None


def _corrupt(data: bytes, how: tuple[str, Any]) -> bytes:
    kind, arg = how
    b = bytearray(data)
    if kind == "truncate":
        return bytes(b[:arg])
    if kind == "flip":
        for i in arg:
            b[i] ^= 0xFF
        return bytes(b)
    if kind == "zero":
        for i in arg:
            b[i] = 0
        return bytes(b)
    if kind == "garbage":
        return arg
    if kind == "splice":
        i, junk = arg
        return bytes(b[:i]) + junk + bytes(b[i:])
    return b""


@settings(max_examples=1, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_corrupt_models_through_the_agent(data: Any, work: Path, tiny_tflite: Path,
                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("corrupt")
    onnx_bytes = (work / "mlp.onnx").read_bytes()
    tfl_bytes = tiny_tflite.read_bytes()
    specs, must_fail = [], set()
    for fmt, raw, n in (("onnx", onnx_bytes, 24), ("tflite", tfl_bytes, 16)):
        hows = data.draw(st.lists(corruption(len(raw)), min_size=n, max_size=n), label=fmt)
        hows += [("truncate", len(raw) // 2), ("truncate", 9), ("empty", None)]
        for i, how in enumerate(hows):
            path = tmp / f"c{i}.{fmt}"
            path.write_bytes(_corrupt(raw, how))
            job_id = f"{fmt}-{i}-{how[0]}"
            specs.append(_spec(job_id, path, fmt))
            if how[0] in ("truncate", "empty", "garbage"):
                must_fail.add(job_id)
    outcomes = _run_agent_batch(tmp, specs)
    kinds: dict[str, int] = {}
    for outcome in outcomes:
        kind = _assert_failed_with_reason(outcome, allow_ok=outcome["job_id"] not in must_fail)
        kinds[kind] = kinds.get(kind, 0) + 1
    TALLY["bad input: corrupt/truncated models through the agent"] += len(outcomes)
    assert len(outcomes) == len(specs) and kinds.get("ok", 0) < len(outcomes)
    print(f"corrupt models: {len(outcomes)} cases -> {kinds}")


def _npz_cases(root: Path) -> dict[str, Path]:
    cases = {}

    def save(name: str, **arrays: Any) -> None:
        cases[name] = root / f"{name}.npz"
        np.savez(cases[name], **arrays)
    save("wrong_shape", x=np.zeros((4, 63), "float32"))
    save("wrong_rank", x=np.zeros((4, 8, 8), "float32"))
    save("scalar", x=np.float32(1.0))
    save("int_for_float", x=np.ones((4, 64), "int64"))
    save("float64", x=np.ones((4, 64), "float64"))
    save("bool", x=np.ones((4, 64), bool))
    save("complex", x=np.ones((4, 64), "complex64"))
    save("strings", x=np.array([["a"] * 64] * 4))
    save("no_x", y=np.zeros((4, 64), "float32"))
    save("empty_batch", x=np.zeros((0, 64), "float32"))
    save("nan_inf", x=np.full((4, 64), np.nan, "float32"))
    cases["object_pickle"] = root / "object_pickle.npz"
    np.savez(cases["object_pickle"], x=np.array([{"a": 1}] * 4, dtype=object))
    for name, payload in (("garbage", b"not a zip at all"), ("empty_file", b""),
                          ("truncated_zip", (root / "wrong_shape.npz").read_bytes()[:50])):
        cases[name] = root / f"{name}.npz"
        cases[name].write_bytes(payload)
    return cases


def test_bad_npz_inputs_through_the_agent(work: Path, tmp_path: Path) -> None:
    cases = _npz_cases(tmp_path)
    specs = [_spec(f"npz-{name}", work / "mlp.onnx", "onnx", path) for name, path in cases.items()]
    outcomes = _run_agent_batch(tmp_path, specs)
    by_id = {o["job_id"]: o for o in outcomes}
    TALLY["bad input: bad .npz inputs through the agent"] += len(outcomes)
    for name in cases:
        outcome = by_id[f"npz-{name}"]
        # float64 / int / bool / nan data of the right shape may legitimately run
        kind = _assert_failed_with_reason(outcome, allow_ok=name in ("float64", "int_for_float", "bool",
                                                                      "nan_inf"))
        if kind != "ok":
            assert kind == "input_error", (name, outcome["result"]["error"])


def test_bad_model_and_npz_through_a_local_run(work: Path, tmp_path: Path) -> None:
    """The run-level path: a failed job with a reason, the run goes on, exit code 1."""
    good = (work / "mlp.onnx").read_bytes()
    (tmp_path / "good.onnx").write_bytes(good)
    (tmp_path / "trunc.onnx").write_bytes(good[: len(good) // 3])
    (tmp_path / "garbage.tflite").write_bytes(b"TFL3" + os.urandom(200))
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 5), "float32"))
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "badfiles", "devices": ["local"], "benchmark": FAST, "input_npz": "bad.npz",
        "models": [{"name": "good", "path": "good.onnx"}, {"name": "trunc", "path": "trunc.onnx"},
                   {"name": "garbage", "path": "garbage.tflite"}]}))
    res = cli("run", str(suite), "--out", str(tmp_path / "r"), "-q", cwd=tmp_path, timeout=240)
    TALLY["bad input: cases through the real CLI"] += 3
    assert res.returncode == 1 and "Traceback" not in res.stdout + res.stderr, res.stderr[-2000:]
    run_dir = next(p for p in (tmp_path / "r").iterdir() if p.is_dir())
    recs = {json.loads(ln)["model"]: json.loads(ln) for ln in (run_dir / "results.jsonl").read_text().splitlines()}
    assert set(recs) == {"good", "trunc", "garbage"}
    for rec in recs.values():
        assert rec["status"] == "failed" and rec["error"] and rec["error_kind"], rec
    assert recs["good"]["error_kind"] == "input_error" and "bad.npz" in recs["good"]["error"]
