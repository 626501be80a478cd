"""Config validation: every error path ends in one ConfigError line naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebench.config import load_devices, load_suite, select_devices
from edgebench.errors import ConfigError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture()
def model_file(tmp_path: Path, mlp_onnx: Path) -> Path:
    target = tmp_path / "m.onnx"
    target.write_bytes(mlp_onnx.read_bytes())
    return target


def error_of(fn, *args) -> ConfigError:  # noqa: ANN001
    with pytest.raises(ConfigError) as info:
        fn(*args)
    assert info.value.exit_code == 2
    assert "\n" not in info.value.one_line()
    return info.value


def test_valid_suite_resolves_paths_relative_to_the_file(tmp_path: Path, model_file: Path) -> None:
    suite = load_suite(write(tmp_path, "s.yaml", "name: s\nmodels:\n  - name: m\n    path: m.onnx\n"))
    assert suite.models[0].path == str(model_file.resolve())
    assert suite.models[0].resolved_formats() == ["onnx"]
    assert [v.name for v in suite.variants] == ["fp32"]
    assert suite.benchmark.min_runs == 50 and suite.benchmark.min_duration_s == 1.0
    assert suite.benchmark.max_duration_s == 150.0
    assert len(suite.sha256) == 64


def test_unknown_key_names_file_line_key_and_allowed_keys(tmp_path: Path, model_file: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml",
                                     "name: s\nmodels:\n  - name: m\n    path: m.onnx\n    formt: [onnx]\n"))
    text = err.one_line()
    assert text.startswith(f"{tmp_path / 's.yaml'}:5: models[0].formt: unknown key")
    assert "allowed:" in text and "formats" in text and "path" in text


def test_unknown_top_level_key(tmp_path: Path, model_file: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml",
                                     "name: s\nbenchmrk: {}\nmodels:\n  - name: m\n    path: m.onnx\n"))
    assert ":2: benchmrk: unknown key" in err.one_line()
    assert "benchmark" in err.one_line()


def test_wrong_type_names_key_and_value(tmp_path: Path, model_file: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml", "name: s\nmodels:\n  - name: m\n    path: m.onnx\n"
                                                         "benchmark:\n  min_runs: many\n"))
    assert ":6: benchmark.min_runs:" in err.one_line()
    assert "integer" in err.one_line() and "'many'" in err.one_line()


def test_out_of_range_value(tmp_path: Path, model_file: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml", "name: s\nmodels:\n  - name: m\n    path: m.onnx\n"
                                                         "benchmark:\n  min_runs: -3\n"))
    assert "benchmark.min_runs" in err.one_line() and "greater than or equal to 1" in err.one_line()


def test_missing_model_file(tmp_path: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml", "name: s\nmodels:\n  - name: m\n    path: gone.onnx\n"))
    assert ":4: models[0].path: file not found:" in err.one_line()
    assert str(tmp_path / "gone.onnx") in err.one_line()


def test_missing_required_key(tmp_path: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml", "name: s\n"))
    assert "models: required key is missing" in err.one_line()


def test_invalid_literal_lists_allowed_values(tmp_path: Path, model_file: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml", "name: s\nmodels:\n  - name: m\n    path: m.onnx\n"
                                                         "    formats: [onnx, coreml]\n"))
    assert "models[0].formats[1]" in err.one_line() and "'onnx', 'tflite' or 'pte'" in err.one_line()


def test_model_needs_exactly_one_source(tmp_path: Path, model_file: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml", "name: s\nmodels:\n  - name: m\n"))
    assert "exactly one of 'builtin', 'path' or 'torch'" in err.one_line()


def test_duplicate_names_and_bad_durations(tmp_path: Path, model_file: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml", "name: s\nmodels:\n  - {name: m, path: m.onnx}\n"
                                                         "  - {name: m, path: m.onnx}\n"))
    assert err.one_line().startswith(f"{tmp_path / 's.yaml'}:4: models[1].name: duplicate model name 'm' "
                                     "(first at line 3, models[0])")
    err = error_of(load_suite, write(tmp_path, "t.yaml", "name: s\nmodels:\n  - {name: m, path: m.onnx}\n"
                                                         "benchmark: {min_duration_s: 5, max_duration_s: 1}\n"))
    assert "max_duration_s (1.0) < min_duration_s (5.0)" in err.one_line()


def test_unknown_recipe_step(tmp_path: Path, model_file: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml", "name: s\nmodels:\n  - {name: m, path: m.onnx}\n"
                                                         "variants:\n  - name: q\n    steps: [{quantise: {}}]\n"))
    assert "variants[0].steps" in err.one_line() and "unknown step 'quantise'" in err.one_line()


def test_broken_yaml_reports_the_line(tmp_path: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "s.yaml", "name: s\nmodels: [\n  - name\n"))
    assert err.one_line().startswith(f"{tmp_path / 's.yaml'}:3: invalid YAML")


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    assert "must be a YAML mapping" in error_of(load_suite, write(tmp_path, "s.yaml", "- a\n- b\n")).one_line()
    assert "file not found" in error_of(load_suite, tmp_path / "nope.yaml").one_line()


def test_devices_file_always_has_local_and_validates(tmp_path: Path) -> None:
    registry = load_devices(write(tmp_path, "d.yaml", "devices:\n  pi:\n    host: 10.0.0.7\n    tags: [arm]\n"))
    assert set(registry) == {"local", "pi"}
    assert registry["local"].kind == "local" and registry["pi"].port == 22
    assert registry["pi"].known_hosts == "~/.ssh/known_hosts"
    err = error_of(load_devices, write(tmp_path, "e.yaml", "devices:\n  pi:\n    host: h\n    energy: rapl2\n"))
    assert ":4: devices.pi.energy: invalid value 'rapl2'" in err.one_line()
    err = error_of(load_devices, write(tmp_path, "f.yaml", "devices:\n  pi:\n    hots: h\n"))
    assert "devices.pi.hots: unknown key" in err.one_line() and "host" in err.one_line()
    err = error_of(load_devices, write(tmp_path, "g.yaml", "devices:\n  pi:\n    port: 22\n"))
    assert "needs 'host' or 'ssh_config_host'" in err.one_line()


def test_shipped_devices_yaml_is_valid() -> None:
    registry = load_devices(Path(__file__).resolve().parents[1] / "devices.yaml")
    assert "local" in registry


def test_select_devices_by_name_tag_and_all(tmp_path: Path, model_file: Path) -> None:
    registry = load_devices(write(tmp_path, "d.yaml", "devices:\n  pi:\n    host: h\n    tags: [arm]\n"
                                                      "  jet:\n    host: j\n    tags: [arm, gpu]\n"))
    suite = load_suite(write(tmp_path, "s.yaml", "name: s\ndevices: [arm]\nmodels:\n  - {name: m, path: m.onnx}\n"))
    assert [d.name for d in select_devices(suite, registry)] == ["pi", "jet"]
    assert [d.name for d in select_devices(suite, registry, ["all"])] == ["local", "pi", "jet"]
    err = error_of(select_devices, suite, registry, ["nano"])
    assert "no device or tag named 'nano'" in err.one_line() and "known devices: jet, local, pi" in err.one_line()


def test_runtimes_per_suite_and_model_plan_jobs_with_stable_ids(tmp_path: Path, model_file: Path) -> None:
    """Issue 15: no 'runtimes' keeps the classic runtime and the old job id; a list or
    'all' adds jobs whose id names the runtime, with that runtime's options."""
    from types import SimpleNamespace

    from edgebench.plan import plan_jobs

    def jobs(text: str) -> dict:
        suite = load_suite(write(tmp_path, "s.yaml", "name: s\n" + text))
        local = load_devices(None)["local"]
        art = SimpleNamespace(model="m", variant="fp32", format="onnx", path=model_file,
                              manifest={}, error=None)
        return {j.job_id: j.spec for j in plan_jobs(suite, [local], [art])}

    classic = jobs("models:\n  - {name: m, path: m.onnx}\n")
    assert list(classic) == ["m/fp32/onnx@local"] and classic["m/fp32/onnx@local"]["runtime"] == "onnxruntime"
    both = jobs("runtimes: [onnxruntime, openvino, litert-compiled]\n"
                "openvino: {inference_precision: f32, threads: 2}\n"
                "models:\n  - {name: m, path: m.onnx}\n")
    assert list(both) == ["m/fp32/onnx@local", "m/fp32/onnx:openvino@local"]
    ov = both["m/fp32/onnx:openvino@local"]
    assert ov["runtime_options"] == {"device": "CPU", "performance_hint": "LATENCY",
                                     "inference_precision": "f32"} and ov["threads"] == 2
    assert list(jobs("models:\n  - {name: m, path: m.onnx, runtimes: all}\n")) == [
        "m/fp32/onnx@local", "m/fp32/onnx:openvino@local"]


def test_bad_runtime_selections_are_config_errors(tmp_path: Path, model_file: Path) -> None:
    err = error_of(load_suite, write(tmp_path, "a.yaml", "name: s\nruntimes: [onnxruntime, tvm]\n"
                                     "models:\n  - {name: m, path: m.onnx}\n"))
    assert "unknown runtime(s) tvm" in err.one_line()
    err = error_of(load_suite, write(tmp_path, "b.yaml", "name: s\nruntimes: [litert-compiled]\n"
                                     "models:\n  - {name: m, path: m.onnx}\n"))
    assert "none of its runtimes loads its onnx files" in err.one_line()
    devices = write(tmp_path, "d.yaml", "devices:\n  pi: {host: h, runtimes: [onnx, openvino, tvm]}\n")
    assert "'tvm' is neither a format" in error_of(load_devices, devices).one_line()
