"""Careless and hostile config input: every case is one line at load, exit 2, in bounded time
and memory -- never a traceback, a hang, a job-time "device unreachable", or a silent guess.

* YAML that explodes: alias bombs (nested aliases, merge keys), deep nesting (flow and block,
  direct and through aliases), /dev/zero, a FIFO, a 50 MB file -- through the real CLI with
  wall time and peak RSS measured (wait4);
* duplicate keys at any level (hypothesis over random nested mappings) and duplicate
  device / model / variant names, naming both lines;
* settings that used to load and fail later or silently: non-positive / non-int dims,
  bool-as-int, NaN / inf / out-of-range numbers in the config and on the command line, SSH
  keys on a local device, unsplittable ``python``, a known_hosts that is not one, bad env
  names and NUL values, control characters in names.

The figures (time / RSS of each bomb case) are printed in the "edgebench reliability"
summary and quoted in RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edgebench import cliargs
from edgebench.cli import build_parser
from edgebench.config import load_devices, load_suite
from edgebench.errors import ConfigError
from edgebench.yamlload import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, MAX_SHOWN_CHARS, load_yaml
from tests.reliability.helpers import FIGURES, PY, TALLY, cli, cli_env

PROPS = settings(max_examples=120, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
MODEL = {"name": "m", "builtin": "digits-cnn"}  # a model that needs no file
BOMB_WALL_S, BOMB_CPU_S, BOMB_RSS_MB = 5.0, 5.0, 200.0


def one_line(exc: ConfigError) -> str:
    line = exc.one_line()
    assert exc.exit_code == 2 and "\n" not in line and "Traceback" not in line
    return line


def suite_error(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    return one_line(info.value)


def devices_error(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_devices(path)
    return one_line(info.value)


def suite_text(**extra: Any) -> str:
    return yaml.safe_dump({"name": "s", "models": [MODEL], **extra}, sort_keys=False)


# ------------------------------------------------------------------ YAML that explodes

def laughs(levels: int, fanout: int = 9) -> str:
    """The classic "billion laughs", as the suite's models: fanout ** levels strings."""
    lines = ["name: bomb", f"l0: &l0 [{', '.join(['lol'] * fanout)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fanout)}]")
    lines.append(f"models: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 12, fanout: int = 9) -> str:
    """The same through merge keys, which PyYAML flattens by copying key lists."""
    lines = ["name: bomb", "m0: &m0 {a: 1, b: 2}"]
    for i in range(1, levels):
        lines.append(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * fanout)}], k{i}: 1}}")
    lines.append(f"benchmark: *m{levels - 1}")
    return "\n".join(lines) + "\n"


def deep_block(depth: int) -> str:
    return "".join("  " * i + "a:\n" for i in range(depth - 1)) + "  " * (depth - 1) + "a: 1\n"


#: ``python -m edgebench`` that also writes its own peak RSS (VmHWM) at exit: wait4's
#: ru_maxrss of a child started with vfork + exec also counts the parent's (pytest's) peak.
MEASURED_MAIN = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as fh:
        kb = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    with open(os.environ["EB_PEAK_FILE"], "w") as fh:
        fh.write(kb)
atexit.register(_peak)
sys.argv = ["edgebench", *sys.argv[1:]]
runpy.run_module("edgebench", run_name="__main__", alter_sys=True)
"""


def measured_cli(args: list[str], cwd: Path, timeout: float = 60) -> dict[str, Any]:
    """Run ``python -m edgebench ARGS``: exit code, stderr, wall time, CPU time (wait4) and
    peak RSS (the child's own VmHWM; wait4's ru_maxrss as an upper bound)."""
    stamp = time.monotonic_ns()
    err_path, peak_path = cwd / f"stderr.{stamp}", cwd / f"peak.{stamp}"
    with open(err_path, "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen([PY, "-c", MEASURED_MAIN, *args], cwd=cwd,
                                env=cli_env(EB_PEAK_FILE=str(peak_path)),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    peak_kb = int(peak_path.read_text()) if peak_path.exists() else None
    return {"rc": proc.returncode, "stderr": err_path.read_text(errors="replace"),
            "wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "rss_mb": round(peak_kb / 1024, 1) if peak_kb else None,
            "ru_maxrss_mb": round(usage.ru_maxrss / 1024, 1)}


def _wall_bound() -> float:
    """5 s of wall time, stretched only when the box is oversubscribed (the CPU bound is not):
    on a shared 2-core CI box at load 40, starting Python alone can take seconds."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return BOMB_WALL_S * max(1.0, load)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], Path]]:
    root = tmp_path_factory.mktemp("bombs")
    cases: dict[str, str] = {
        "billion laughs (9 levels x 9)": laughs(9),
        "laughs, one level less (8 x 9)": laughs(8),
        "merge-key bomb (12 x 9)": merge_bomb(),
        "500 nested flow brackets": "name: s\nmodels: " + "[" * 500 + "]" * 500 + "\n",
        "5000 nested flow brackets": "name: s\nmodels: " + "[" * 5000 + "]" * 5000 + "\n",
        "500 nested block mappings": "name: s\nmodels:\n  - name: m\n    builtin: digits-cnn\n" + deep_block(500),
    }
    out: dict[str, tuple[list[str], Path]] = {}
    for i, (name, text) in enumerate(cases.items()):
        path = root / f"case{i}.yaml"
        path.write_text(text)
        out[name] = (["run", path.name], path)
    big = root / "big50.yaml"
    with big.open("w") as fh:  # a valid suite, then 50 MB of comment lines
        fh.write(suite_text())
        line = "# " + "x" * 1021 + "\n"
        for _ in range(50 * 1024):
            fh.write(line)
    out["50 MB suite"] = (["run", big.name], big)
    out["/dev/zero"] = (["run", "/dev/zero"], Path("/dev/zero"))
    fifo = root / "fifo.yaml"
    os.mkfifo(fifo)
    out["FIFO without a writer"] = (["run", fifo.name], fifo)
    good = root / "good.yaml"
    good.write_text(suite_text())
    dev_bomb = root / "devices-bomb.yaml"
    dev_bomb.write_text(laughs(9).replace("models:", "devices:"))
    out["billion laughs as devices.yaml"] = (["run", good.name, "--devices", dev_bomb.name], dev_bomb)
    return out


BOMB_CASES = ["billion laughs (9 levels x 9)", "laughs, one level less (8 x 9)", "merge-key bomb (12 x 9)",
              "500 nested flow brackets", "5000 nested flow brackets", "500 nested block mappings",
              "50 MB suite", "/dev/zero", "FIFO without a writer", "billion laughs as devices.yaml"]
EXPECTED = {"billion laughs (9 levels x 9)": f"more than {MAX_NODES:,} values once aliases are expanded",
            "laughs, one level less (8 x 9)": f"more than {MAX_NODES:,} values once aliases are expanded",
            "merge-key bomb (12 x 9)": f"more than {MAX_NODES:,} values once aliases are expanded",
            "500 nested flow brackets": f"nested deeper than {MAX_DEPTH} levels",
            "5000 nested flow brackets": f"nested deeper than {MAX_DEPTH} levels",
            "500 nested block mappings": f"nested deeper than {MAX_DEPTH} levels",
            "50 MB suite": "file is larger than 4 MiB, the limit for a config file",
            "/dev/zero": "/dev/zero: not a regular file (a device, FIFO or socket)",
            "FIFO without a writer": "fifo.yaml: not a regular file (a device, FIFO or socket)",
            "billion laughs as devices.yaml": f"more than {MAX_NODES:,} values once aliases are expanded"}


@pytest.mark.parametrize("case", BOMB_CASES)
def test_exploding_yaml_ends_fast_small_and_in_one_line(bombs: dict[str, tuple[list[str], Path]],
                                                       case: str) -> None:
    args, path = bombs[case]
    cwd = path.parent if path.parent != Path("/dev") else bombs[BOMB_CASES[0]][1].parent
    res = measured_cli(args + ["--out", str(cwd / "results"), "-q"], cwd=cwd)
    TALLY["hostile config: exploding YAML through the real CLI"] += 1
    FIGURES.setdefault("hostile config: bomb cases (exit, wall s, cpu s, peak RSS MB, ru_maxrss MB)",
                       {})[case] = [res["rc"], res["wall_s"], res["cpu_s"], res["rss_mb"], res["ru_maxrss_mb"]]
    lines = [ln for ln in res["stderr"].splitlines() if ln.strip()]
    assert res["rc"] == 2, res
    assert len(lines) == 1 and lines[0].startswith("edgebench: error: "), res["stderr"][-2000:]
    assert EXPECTED[case] in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0][:500]
    assert res["cpu_s"] < BOMB_CPU_S and res["wall_s"] < _wall_bound(), res
    assert res["rss_mb"] is not None and res["rss_mb"] < BOMB_RSS_MB, res


def test_the_suite_is_read_once_and_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 10 MB suite used to be parsed twice (compose, then safe_load) and read twice (sha256)."""
    path = tmp_path / "s.yaml"
    path.write_text(suite_text())
    expected_sha = __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    calls: list[str] = []
    real_parse = yaml.parse

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        calls.append("parse")
        return real_parse(*args, **kwargs)

    def forbidden(*_: Any, **__: Any) -> Any:
        raise AssertionError("a second parse or read")

    monkeypatch.setattr(yaml, "parse", counting_parse)
    for name in ("compose", "safe_load", "load"):
        monkeypatch.setattr(yaml, name, forbidden)
    monkeypatch.setattr(Path, "read_bytes", forbidden)
    monkeypatch.setattr(Path, "read_text", forbidden)
    suite = load_suite(path)
    assert calls == ["parse"] and suite.sha256 == expected_sha and suite.models[0].name == "m"


def test_file_size_limit_is_exact(tmp_path: Path) -> None:
    body = suite_text()
    path = tmp_path / "s.yaml"
    path.write_text(body + "#" * (MAX_FILE_BYTES - len(body)))  # exactly the limit: loads
    assert load_suite(path).name == "s"
    path.write_text(body + "#" * (MAX_FILE_BYTES - len(body) + 1))
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert one_line(info.value).startswith(f"{path}: file is larger than 4 MiB, the limit for a config file")


def test_a_directory_is_not_a_suite(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_suite(tmp_path)
    assert one_line(info.value) == f"{tmp_path}: is a directory, not a YAML file"


def _laughs_total(levels: int, fanout: int) -> int:
    """What the loader counts for laughs(): every node, each alias at its expanded size."""
    size = [1 + fanout]  # l0: a sequence of fanout scalars
    for _ in range(1, levels):
        size.append(1 + fanout * size[-1])
    # root mapping + 'name' pair + one pair per level + 'models' key with the aliased value
    return 1 + 2 + sum(1 + s for s in size) + 1 + size[-1]


@PROPS
@given(levels=st.integers(1, 12), fanout=st.integers(1, 12))
def test_alias_expansion_is_bounded_exactly(tmp_path: Path, levels: int, fanout: int) -> None:
    path = tmp_path / "lol.yaml"
    path.write_text(laughs(levels, fanout))
    total = _laughs_total(levels, fanout)
    TALLY["hostile config: alias expansions (hypothesis)"] += 1
    started = time.process_time()
    if total > MAX_NODES:
        with pytest.raises(ConfigError) as info:
            load_yaml(path)
        assert f"more than {MAX_NODES:,} values once aliases are expanded" in one_line(info.value)
    else:
        doc = load_yaml(path)
        assert len(doc.data["models"]) == fanout
    assert time.process_time() - started < 2.0


@PROPS
@given(depth=st.integers(1, 3 * MAX_DEPTH), style=st.sampled_from(["flow", "block"]))
def test_nesting_depth_is_bounded_exactly(tmp_path: Path, depth: int, style: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("[" * depth + "]" * depth if style == "flow" else deep_block(depth))
    TALLY["hostile config: nesting depths (hypothesis)"] += 1
    if depth > MAX_DEPTH:
        with pytest.raises(ConfigError) as info:
            load_yaml(path)
        assert f"nested deeper than {MAX_DEPTH} levels" in one_line(info.value)
    else:
        load_yaml(path)


def test_depth_counts_through_aliases_and_recursive_aliases_are_refused(tmp_path: Path) -> None:
    half = MAX_DEPTH // 2 + 2
    path = tmp_path / "d.yaml"
    path.write_text(f"a: &a {'[' * half}{']' * half}\nb: {'[' * half}*a{']' * half}\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert one_line(info.value) == (f"{path}:2: nested deeper than {MAX_DEPTH} levels (aliases included) "
                                    "(hint: a config file nests about 7 levels)")
    path.write_text("name: s\nmodels: &m [{name: m, builtin: digits-cnn, x: *m}]\n")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert one_line(info.value) == f"{path}:2: alias *m refers to a value that contains it (a recursive alias)"


def test_long_values_are_shown_cut_short(tmp_path: Path) -> None:
    """One level below the bomb, the old message printed the expanded value: 312 MB."""
    huge = "x" * 1_000_000
    line = suite_error(tmp_path / "s.yaml", f"name: &n {huge}\nmodels: [{{name: *n, builtin: digits-cnn}}]\n")
    assert line.startswith(f"{tmp_path / 's.yaml'}:1: name: String should have at most 120 characters (got 'xxx")
    shown = line.split("(got ", 1)[1].split(")", 1)[0]
    assert len(shown) == MAX_SHOWN_CHARS and shown.endswith("…") and len(line) < 300
    assert line.endswith("(and 1 more problem)")  # models[0].name, the same alias, is too long too
    big_list = "[" + ", ".join(["1"] * 20000) + "]"
    line = suite_error(tmp_path / "t.yaml", f"name: s\nmodels: [{{name: m, builtin: digits-cnn}}]\n"
                                            f"benchmark: {{threads: {big_list}}}\n")
    assert ":3: benchmark.threads: Input should be a valid integer" in line and len(line) < 300


def test_unreadable_scalars_are_yaml_errors_with_a_line(tmp_path: Path) -> None:
    line = suite_error(tmp_path / "s.yaml", "name: s\nseed_date: 2020-13-45\n")
    assert line.startswith(f"{tmp_path / 's.yaml'}:2: invalid YAML: cannot read value '2020-13-45': "
                           "month must be in 1..12")
    line = suite_error(tmp_path / "t.yaml", "name: s\nn: " + "9" * 5000 + "\n")
    assert ":2: invalid YAML: cannot read value '999" in line and "Exceeds the limit (4300 digits)" in line
    assert len(line) < 400
    line = suite_error(tmp_path / "u.yaml", "name: s\n---\nname: t\n")
    assert ":2: invalid YAML: expected a single document, found another one" in line


# ------------------------------------------------------------------ duplicate keys and names

KEYS = ["a", "b", "c", "min_duration_s", "port", "host", "1", "yes"]


@st.composite
def nested_mapping(draw: Any, depth: int = 0) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5, unique=True))
    out: dict[str, Any] = {}
    for key in keys:
        if depth < 3 and draw(st.booleans()):
            out[key] = draw(nested_mapping(depth + 1))
        else:
            out[key] = draw(st.integers(-5, 5))
    return out


def emit(mapping: dict[str, Any], depth: int = 0) -> list[tuple[list[str], str]]:
    """Block-style YAML, one line per key: (key path, line text)."""
    lines: list[tuple[list[str], str]] = []
    for key, value in mapping.items():
        quoted = f"'{key}'"  # quoted: '1' and 'yes' stay strings, no two keys collide by type
        if isinstance(value, dict):
            lines.append(([key], "  " * depth + f"{quoted}:"))
            lines += [([key, *path], text) for path, text in emit(value, depth + 1)]
        else:
            lines.append(([key], "  " * depth + f"{quoted}: {value}"))
    return lines


@PROPS
@given(data=nested_mapping(), pick=st.integers(0, 10_000), gap=st.integers(0, 3))
def test_duplicate_keys_at_any_level_name_both_lines(tmp_path: Path, data: dict[str, Any],
                                                     pick: int, gap: int) -> None:
    lines = emit(data)
    scalars = [i for i, (_, text) in enumerate(lines) if not text.endswith(":")]
    i = scalars[pick % len(scalars)]
    key_path, text = lines[i]
    indent = text[: len(text) - len(text.lstrip())]
    dup = indent + text.strip().split(":")[0] + ": 3"
    # put the duplicate after the original's siblings that follow it (same mapping), if any
    j = i + 1
    while j < len(lines) and gap and len(lines[j][0]) >= len(key_path):
        if len(lines[j][0]) == len(key_path):
            gap -= 1
        j += 1
    texts = [t for _, t in lines]
    texts.insert(j, dup)
    path = tmp_path / "dup.yaml"
    path.write_text("\n".join(texts) + "\n")
    TALLY["hostile config: duplicate keys (hypothesis)"] += 1
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    expected_key = ".".join(key_path)
    assert one_line(info.value).startswith(
        f"{path}:{j + 1}: {expected_key}: duplicate key (first at line {i + 1}, again at line {j + 1}; "
        "YAML would silently keep only the last)")


def test_duplicate_settings_devices_and_names_are_errors(tmp_path: Path) -> None:
    line = suite_error(tmp_path / "s.yaml", "name: s\nmodels: [{name: m, builtin: digits-cnn}]\nbenchmark:\n"
                                            "  min_duration_s: 0.05\n  min_runs: 3\n  min_duration_s: 3\n")
    assert line == (f"{tmp_path / 's.yaml'}:6: benchmark.min_duration_s: duplicate key (first at line 4, again "
                    "at line 6; YAML would silently keep only the last) (hint: remove one of them)")
    line = devices_error(tmp_path / "d.yaml", "devices:\n  pi:\n    host: a\n  jet:\n    host: j\n  pi:\n    host: b\n")
    assert line.startswith(f"{tmp_path / 'd.yaml'}:6: devices.pi: duplicate key (first at line 2, again at line 6")
    line = suite_error(tmp_path / "v.yaml", "name: s\nmodels: [{name: m, builtin: digits-cnn}]\nvariants:\n"
                                            "  - {name: q, steps: []}\n  - {name: p, steps: []}\n"
                                            "  - {name: q, steps: []}\n")
    assert line == (f"{tmp_path / 'v.yaml'}:6: variants[2].name: duplicate variant name 'q' (first at line 4, "
                    "variants[0]) (hint: each variant needs its own name)")
    line = suite_error(tmp_path / "m.yaml", "name: s\nmodels:\n  - {name: m, builtin: digits-cnn}\n"
                                            "  - {name: m, builtin: resnet8}\n")
    assert ":4: models[1].name: duplicate model name 'm' (first at line 3, models[0])" in line
    # merge keys may repeat a key on purpose: the explicit one overrides, as YAML defines
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {host: h, port: 22}\ndevices:\n  pi:\n    <<: *b\n    port: 2222\n")
    assert load_yaml(path).data["devices"]["pi"] == {"host": "h", "port": 2222}


# ------------------------------------------------------------------ numbers and types

INT_FIELDS = [("benchmark", "warmup_runs"), ("benchmark", "min_runs"), ("benchmark", "threads"),
              ("benchmark", "seed"), ("benchmark", "default_dim"), ("benchmark", "eval_samples"),
              ("benchmark", "energy_min_samples"), ("device", "port"), ("device", "retries")]
FLOAT_FIELDS = [("benchmark", "warmup_min_s"), ("benchmark", "min_duration_s"), ("benchmark", "max_duration_s"),
                ("benchmark", "memory_sample_interval_s"), ("benchmark", "job_timeout_s"),
                ("benchmark", "energy_min_window_s"), ("device", "connect_timeout_s"),
                ("device", "io_timeout_s"), ("device", "job_timeout_s"), ("device", "energy_sample_hz"),
                ("device", "idle_s"), ("device", "cooldown_below_c"), ("device", "cooldown_max_wait_s")]
NON_FINITE = [float("nan"), float("inf"), float("-inf")]


def _load_with(tmp_path: Path, where: str, key: str, value: Any) -> str:
    if where == "benchmark":
        return suite_error(tmp_path / "n.yaml", suite_text(benchmark={key: value}))
    return devices_error(tmp_path / "n.yaml", yaml.safe_dump({"devices": {"pi": {"host": "h", key: value}}}))


@PROPS
@given(field=st.sampled_from(INT_FIELDS + FLOAT_FIELDS),
       value=st.sampled_from([True, False] + NON_FINITE) | st.floats(allow_nan=True, allow_infinity=True))
def test_bools_non_finite_and_floats_for_ints_are_refused(tmp_path: Path, field: tuple[str, str], value: Any) -> None:
    where, key = field
    is_int_field = field in INT_FIELDS
    if not isinstance(value, bool) and math.isfinite(value) and not is_int_field:
        assume(False)  # a finite float for a float field may be fine: covered by the range tests
    TALLY["hostile config: bad numbers (hypothesis)"] += 1
    line = _load_with(tmp_path, where, key, value)
    full_key = f"benchmark.{key}" if where == "benchmark" else f"devices.pi.{key}"
    assert f": {full_key}: " in line, line
    if isinstance(value, bool):
        assert "Input should be a valid" in line and f"(got {value})" in line
    elif not math.isfinite(value):
        assert "finite number" in line or "valid integer" in line


@PROPS
@given(dims=st.lists(st.integers(-3, 9) | st.sampled_from([True, False, 1.0, 2.5, "4", None]),
                     min_size=1, max_size=5),
       where=st.sampled_from(["input_shapes", "input_shape"]))
def test_shape_dims_must_be_positive_ints(tmp_path: Path, dims: list[Any], where: str) -> None:
    good = all(type(d) is int and d >= 1 for d in dims)
    if where == "input_shapes":
        text = suite_text(benchmark={"input_shapes": {"input": dims}})
        key = "benchmark.input_shapes.input["
    else:  # a torch model's example shape: checked with the model (its factory is not imported here)
        text = yaml.safe_dump({"name": "s", "models": [{"name": "t", "torch": "pkg.mod:make",
                                                          "input_shape": dims}]})
        key = "models[0].input_shape["
    path = tmp_path / "shape.yaml"
    path.write_text(text)
    TALLY["hostile config: shape dims (hypothesis)"] += 1
    if good:
        suite = load_suite(path)
        got = suite.benchmark.input_shapes["input"] if where == "input_shapes" else suite.models[0].input_shape
        assert got == dims
    else:
        with pytest.raises(ConfigError) as info:
            load_suite(path)
        assert key in one_line(info.value)


def test_the_reported_shape_and_type_cases(tmp_path: Path) -> None:
    line = suite_error(tmp_path / "s.yaml", suite_text(benchmark={"input_shapes": {"input": [-1, 1, 8, 8]}}))
    assert line == (f"{tmp_path / 's.yaml'}:8: benchmark.input_shapes.input[0]: Input should be greater than "
                    "or equal to 1 (got -1)")
    line = suite_error(tmp_path / "s.yaml", suite_text(benchmark={"input_shapes": {"input": [0, 1, 8, 8]}}))
    assert "benchmark.input_shapes.input[0]: Input should be greater than or equal to 1 (got 0)" in line
    line = devices_error(tmp_path / "d.yaml", "devices:\n  pi:\n    host: h\n    port: true\n")
    assert line == f"{tmp_path / 'd.yaml'}:4: devices.pi.port: Input should be a valid integer (got True)"
    line = suite_error(tmp_path / "s.yaml", suite_text(benchmark={"threads": 2.0}))
    assert "benchmark.threads: Input should be a valid integer (got 2.0)" in line
    line = suite_error(tmp_path / "s.yaml", suite_text(benchmark={"seed": -1}))
    assert "benchmark.seed: Input should be greater than or equal to 0 (got -1)" in line
    line = suite_error(tmp_path / "s.yaml", suite_text(variants=[{"name": "p", "steps": [{"prune": {"lr": ".inf"}}]}]))
    assert "variants[0].steps" in line
    line = suite_error(tmp_path / "s.yaml", "name: s\nmodels: [{name: m, builtin: digits-cnn}]\n"
                                            "variants: [{name: p, steps: [{prune: {lr: .inf}}]}]\n")
    assert ":3: variants[0].steps: step 0 (prune): lr: inf is not a finite number" in line
    line = suite_error(tmp_path / "s.yaml", "name: s\nmodels: [{name: m, builtin: digits-cnn}]\n"
                                            "variants: [{name: c, steps: [{cluster: {clusters: true}}]}]\n")
    assert "step 0 (cluster): clusters: Input should be a valid integer" in line


# ------------------------------------------------------------------ numbers on the command line

NUMERIC_OPTIONS = [  # (argv before the option, option, a valid value)
    (["compare", "a", "b"], "--factor", "1.5"),
    (["compare", "a", "b"], "--accuracy-threshold", "1"),
    (["nightly", "s.yaml"], "--factor", "1.5"),
    (["publish", "--site", "site"], "--factor", "1.5"),
    (["report", "r"], "--max-accuracy-drop", "2"),
    (["devices", "check"], "--parallel", "4"),
]


def _all_actions(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(f"{name} {where}", a) for where, a in _all_actions(sub)]
        else:
            found.append(("/".join(action.option_strings) or action.dest, action))
    return found


def test_no_numeric_option_takes_a_bare_float_or_int() -> None:
    """The class, not the examples: a new option with type=float would accept nan again."""
    actions = _all_actions(build_parser())
    bare = [where for where, a in actions if a.type in (float, int)]
    assert not bare, f"use edgebench.cliargs types for: {bare}"
    numeric = [where for where, a in actions if getattr(a.type, "__name__", "") in ("number", "integer")]
    assert len(numeric) >= len(NUMERIC_OPTIONS), numeric


@pytest.mark.parametrize("prefix,option,valid", NUMERIC_OPTIONS)
@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "-1", "1e400", "abc", "1e9"])
def test_numeric_options_refuse_nan_inf_and_out_of_range(prefix: list[str], option: str, valid: str,
                                                          bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    parser.parse_args([*prefix, option, valid])  # the valid value parses
    with pytest.raises(SystemExit) as info:
        parser.parse_args([*prefix, f"{option}={bad}"])  # '=': argparse reads a bare -inf as an option
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"error: argument {option}: '{bad}'" in err, err
    TALLY["hostile config: bad numbers on the command line"] += 1


@PROPS
@given(value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**6, 10**6))
def test_cli_number_types_accept_exactly_their_range(value: float) -> None:
    text = repr(value) if isinstance(value, float) else str(value)
    for parse, low, high in ((cliargs.latency_factor, 1.0, 1000.0), (cliargs.accuracy_points, 0.0, 100.0)):
        ok = math.isfinite(float(value)) and low <= float(value) <= high
        try:
            assert parse(text) == float(value) and ok
        except argparse.ArgumentTypeError:
            assert not ok
    ok = isinstance(value, int) and 1 <= value <= 256
    try:
        assert cliargs.int_range(1, 256)(text) == value and ok
    except argparse.ArgumentTypeError:
        assert not ok


def test_compare_with_nan_factor_exits_2_through_the_real_cli(tmp_path: Path) -> None:
    res = cli("compare", "a", "b", "--factor", "nan", cwd=tmp_path, timeout=60)
    assert res.returncode == 2 and "argument --factor: 'nan' is not a finite number" in res.stderr, res.stderr


# ------------------------------------------------------------------ devices: late failures made early

def _known_hosts_line() -> str:
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes(range(32))
    return f"[127.0.0.1]:2222 ssh-ed25519 {base64.b64encode(blob).decode()}"


def test_local_device_with_ssh_keys_is_an_error(tmp_path: Path) -> None:
    line = devices_error(tmp_path / "d.yaml", "devices:\n  box:\n    kind: local\n    host: 10.0.0.7\n"
                                              "    port: 2222\n    user: pi\n")
    assert line == (f"{tmp_path / 'd.yaml'}:2: devices.box: host, port, user: only for kind 'ssh'; a local "
                    "device runs on the controller itself (set kind: ssh, or remove them)")
    line = devices_error(tmp_path / "d.yaml", "devices:\n  local:\n    host: 10.0.0.7\n")
    assert "devices.local: host: only for kind 'ssh'" in line
    line = devices_error(tmp_path / "d.yaml", "devices:\n  local:\n    kind: ssh\n    host: 10.0.0.7\n")
    assert line.startswith(f"{tmp_path / 'd.yaml'}:3: devices.local.kind: the name 'local' is the controller")
    reg = load_devices(_write(tmp_path / "ok.yaml", "devices:\n  local:\n    tags: [controller]\n    idle_s: 0\n"))
    assert reg["local"].kind == "local" and reg["local"].idle_s == 0


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("python,ok", [("python3 'oops", False), ('python3 "oops', False), ("", False),
                                       ("  ", False), ("nice -n 5 python3", True),
                                       ("'/opt/my python/bin/python3'", True)])
def test_python_must_split_as_a_command_line(tmp_path: Path, python: str, ok: bool) -> None:
    text = yaml.safe_dump({"devices": {"pi": {"host": "h", "python": python}}})
    TALLY["hostile config: device settings"] += 1
    if ok:
        assert load_devices(_write(tmp_path / "d.yaml", text))["pi"].python == python
        return
    line = devices_error(tmp_path / "d.yaml", text)
    assert f"{tmp_path / 'd.yaml'}:4: devices.pi.python: " in line
    assert ("is not a valid command line: No closing quotation" in line) or ("is empty" in line)


def test_known_hosts_must_be_one_or_creatable(tmp_path: Path) -> None:
    def kh_error(value: str) -> str:
        devices = {"devices": {"pi": {"host": "h", "known_hosts": value}}}
        return devices_error(tmp_path / "d.yaml", yaml.safe_dump(devices))

    line = kh_error("/etc/passwd")
    assert line == (f"{tmp_path / 'd.yaml'}:4: devices.pi.known_hosts: '/etc/passwd' is not a known_hosts "
                    "file (line 1 is not 'HOSTS KEYTYPE BASE64-KEY')")
    assert "root:" not in line  # the file's content is never echoed
    line = kh_error("/etc/passwd/known_hosts")
    assert "does not exist and cannot be created ('/etc/passwd' is not a writable directory)" in line
    assert "is not a file" in kh_error(str(tmp_path))
    garbage = _write(tmp_path / "kh-bad", _known_hosts_line() + "\nhost ssh-ed25519 not!base64\n")
    assert "(line 2 is not 'HOSTS KEYTYPE BASE64-KEY')" in kh_error(str(garbage))
    key = _known_hosts_line().split(' ', 1)[1]
    good = _write(tmp_path / "kh", f"# comment\n\n{_known_hosts_line()}\n@cert-authority *.lab {key}\n")
    for value in (str(good), str(tmp_path / "new" / "known_hosts")):
        text = yaml.safe_dump({"devices": {"pi": {"host": "h", "known_hosts": value}}})
        assert load_devices(_write(tmp_path / "ok.yaml", text))["pi"].known_hosts == value
    TALLY["hostile config: device settings"] += 6


@pytest.mark.parametrize("name", ["A=B", "A B", "", "1ABC", "PATH;rm", "é"])
def test_env_names_must_be_variable_names(tmp_path: Path, name: str) -> None:
    line = devices_error(tmp_path / "d.yaml", yaml.safe_dump({"devices": {"pi": {"host": "h", "env": {name: "1"}}}}))
    assert ": devices.pi.env." in line and "is not an environment variable name" in line, line
    TALLY["hostile config: device settings"] += 1


def test_env_values_with_nul_and_non_strings_are_errors(tmp_path: Path) -> None:
    line = devices_error(tmp_path / "d.yaml", 'devices:\n  pi:\n    host: h\n    env: {A: "x\\0y"}\n')
    assert line == (f"{tmp_path / 'd.yaml'}:4: devices.pi.env.A: contains a NUL character (\\0), which no name, "
                    "path, argument or environment value can hold")
    line = devices_error(tmp_path / "d.yaml", "devices:\n  pi:\n    host: h\n    env: {OMP_NUM_THREADS: 4}\n")
    assert "devices.pi.env.OMP_NUM_THREADS: Input should be a valid string (got 4)" in line
    line = devices_error(tmp_path / "d.yaml", 'devices:\n  pi:\n    host: h\n    workdir: "/tmp/a\\0b"\n')
    assert ":4: devices.pi.workdir: contains a NUL character" in line


# ------------------------------------------------------------------ names

NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


def _name_case(where: str, name: str) -> tuple[str, str, str]:
    """(file kind, YAML text, key path) with ``name`` as a model / variant / device / tag name."""
    if where == "model":
        suite = {"name": "s", "models": [{"name": name, "builtin": "digits-cnn"}]}
        return "suite", yaml.safe_dump(suite), "models[0].name"
    if where == "variant":
        return "suite", yaml.safe_dump({"name": "s", "models": [MODEL], "variants": [{"name": name, "steps": []}]}), \
            "variants[0].name"
    if where == "device":
        return "devices", yaml.safe_dump({"devices": {name: {"host": "h"}}}), "devices."
    return "devices", yaml.safe_dump({"devices": {"pi": {"host": "h", "tags": [name]}}}), "devices.pi.tags[0]"


@PROPS
@given(name=NAMES, where=st.sampled_from(["model", "variant", "device", "tag"]))
def test_names_must_be_printable(tmp_path: Path, name: str, where: str) -> None:
    assume(not (where == "device" and name == "local"))  # 'local' is the controller: tested apart
    kind, text, key = _name_case(where, name)
    path = _write(tmp_path / "n.yaml", text)
    TALLY["hostile config: names (hypothesis)"] += 1
    load = load_suite if kind == "suite" else load_devices
    if name.isprintable():
        loaded = load(path)
        got = {"model": lambda: loaded.models[0].name, "variant": lambda: loaded.variants[0].name,
               "device": lambda: next(n for n in loaded if n != "local"),
               "tag": lambda: loaded["pi"].tags[0]}[where]()
        assert got == name
        return
    with pytest.raises(ConfigError) as info:
        load(path)
    line = one_line(info.value)
    assert key in line and ("names must be printable" in line or "NUL character" in line), line
    assert all(c.isprintable() for c in line.split(": ", 1)[1] if c != "…"), repr(line)  # escaped


def test_the_reported_name_cases(tmp_path: Path) -> None:
    line = suite_error(tmp_path / "s.yaml", 'name: s\nmodels:\n  - {name: "m\\e[31mred", builtin: digits-cnn}\n')
    assert line == (f"{tmp_path / 's.yaml'}:3: models[0].name: 'm\\x1b[31mred' contains control or invisible "
                    "characters; names must be printable (letters, digits, '-', '_', '.' are safest)")
    line = devices_error(tmp_path / "d.yaml", 'devices:\n  "pi\\u202egpj":\n    host: h\n')
    assert line.startswith(f"{tmp_path / 'd.yaml'}:2: devices.pi\\u202egpj: 'pi\\u202egpj' contains control")
    line = suite_error(tmp_path / "s.yaml", 'name: "s\\tx"\nmodels: [{name: m, builtin: digits-cnn}]\n')
    assert ":1: name: String should match pattern" in line


def test_hostile_settings_through_the_real_cli(tmp_path: Path) -> None:
    """A sample of the classes above as `edgebench run`: exit 2, one line, the file named."""
    good = _write(tmp_path / "good.yaml", suite_text())
    cases = [
        ("suite", ("name: s\nmodels: [{name: m, builtin: digits-cnn}]\nbenchmark:\n  min_duration_s: 0.05\n"
                   "  min_duration_s: 3\n"), ":5: benchmark.min_duration_s: duplicate key"),
        ("suite", suite_text(benchmark={"input_shapes": {"input": [-1, 1, 8, 8]}}), "input_shapes.input[0]"),
        ("devices", "devices:\n  pi:\n    host: h\n    port: true\n", ":4: devices.pi.port"),
        ("devices", "devices:\n  pi:\n    host: h\n    python: python3 'oops\n", ":4: devices.pi.python"),
        ("devices", "devices:\n  pi:\n    host: h\n    known_hosts: /etc/passwd\n", ":4: devices.pi.known_hosts"),
        ("devices", "devices:\n  pi:\n    host: h\n    env: {'A B': x}\n", ":4: devices.pi.env.A B"),
        ("devices", "devices:\n  box:\n    kind: local\n    host: h\n", ":2: devices.box: host: only for kind"),
    ]
    for i, (kind, text, expect) in enumerate(cases):
        path = _write(tmp_path / f"{kind}-{i}.yaml", text)
        args = ["run", path.name] if kind == "suite" else ["run", good.name, "--devices", path.name]
        res = cli(*args, "--out", str(tmp_path / "r"), "-q", cwd=tmp_path, timeout=120)
        TALLY["hostile config: cases through the real CLI"] += 1
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert res.returncode == 2 and len(lines) == 1, (text, res.returncode, res.stderr[-1500:])
        assert lines[0].startswith(f"edgebench: error: {path.name}") and expect in lines[0], lines[0]


@pytest.mark.parametrize("parser", ["libyaml", "pure-python"])
def test_both_parsers_give_the_same_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parser: str) -> None:
    """libyaml is used when PyYAML has it; without it the pure-Python parser must hold the same bounds."""
    from edgebench import yamlload

    if parser == "libyaml" and not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml")
    monkeypatch.setattr(yamlload, "_PARSER", yaml.CSafeLoader if parser == "libyaml" else yaml.SafeLoader)
    cases = {
        "name: s\nmodels: " + "[" * 5000 + "]" * 5000 + "\n": f":2: nested deeper than {MAX_DEPTH} levels",
        laughs(9): f":7: more than {MAX_NODES:,} values once aliases are expanded",
        "name: s\nmodels: []\nname: t\n": ":3: name: duplicate key (first at line 1, again at line 3;",
        "name: s\nmodels: [\x07]\n": ":2: invalid YAML: unacceptable character #x0007",
        "name: s\nmodels: [\n  - name\n": ":3: invalid YAML: ",
    }
    for i, (text, expected) in enumerate(cases.items()):
        path = _write(tmp_path / f"p{i}.yaml", text)
        with pytest.raises(ConfigError) as info:
            load_yaml(path)
        assert one_line(info.value).startswith(f"{path}{expected}"), one_line(info.value)
    assert load_yaml(_write(tmp_path / "ok.yaml", suite_text())).data["models"] == [MODEL]
