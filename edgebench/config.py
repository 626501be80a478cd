"""devices.yaml and suites/*.yaml -> validated specs, or one line that says what is wrong.

Validation happens on load, with pydantic models that forbid unknown keys.  A failure is
reported as ``FILE:LINE: key.path: problem (allowed: ...)``: the line comes from PyYAML's
node marks, because a user fixes a YAML file by line, not by pydantic's error location.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import Field, StrictFloat, StrictInt, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .recipes import DEFAULT_VARIANTS, ModelSpec, StrictModel, VariantSpec, resolve_path

DEFAULT_DEVICES_FILE = Path("devices.yaml")
EnergyProbe = Literal["auto", "rapl", "jetson-ina3221", "rpi5-pmic", "hwmon", "tegrastats",
                      "command", "none"]


class DeviceSpec(StrictModel):
    """One device of the registry; ``local`` is the controller itself (no SSH)."""

    name: str = ""
    kind: Literal["local", "ssh"] = "ssh"
    host: Optional[str] = None
    port: int = Field(22, ge=1, le=65535)
    user: Optional[str] = None
    identity_file: Optional[str] = None
    ssh_config_host: Optional[str] = None
    known_hosts: str = "~/.ssh/known_hosts"
    python: str = "python3"
    workdir: str = "~/.cache/edgebench"
    tags: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    runtimes: Optional[list[Literal["onnx", "tflite"]]] = None
    # upper bounds: the OS rejects absurd socket timeouts (OverflowError), and a typo such
    # as 1e9 would make a hung device hold the night forever
    connect_timeout_s: float = Field(10.0, gt=0, le=3600)
    io_timeout_s: float = Field(60.0, gt=0, le=3600)  # no byte from a live transfer this long = link lost
    job_timeout_s: float = Field(600.0, gt=0, le=7 * 86400)
    retries: int = Field(2, ge=0, le=10)
    energy: EnergyProbe = "auto"
    energy_command: Optional[list[str]] = None
    energy_sample_hz: float = Field(20.0, gt=0, le=1000)
    idle_s: float = Field(2.0, ge=0)
    sysfs_root: Optional[str] = None
    cooldown_below_c: Optional[float] = None
    cooldown_max_wait_s: float = Field(60.0, ge=0)

    @model_validator(mode="after")
    def _reachable(self) -> "DeviceSpec":
        if self.kind == "ssh" and not (self.host or self.ssh_config_host):
            raise ValueError("an ssh device needs 'host' or 'ssh_config_host'")
        if self.energy == "command" and not self.energy_command:
            raise ValueError("energy: command needs 'energy_command' (argv list printing watts)")
        return self

    def probe_settings(self) -> dict[str, Any]:
        """The agent's probe settings for this device (``JobSpec.probes``)."""
        settings: dict[str, Any] = {"energy": self.energy, "sample_hz": self.energy_sample_hz,
                                    "idle_s": self.idle_s, "cooldown_max_wait_s": self.cooldown_max_wait_s}
        if self.energy_command:
            settings["energy_command"] = list(self.energy_command)
        if self.sysfs_root:
            settings["sysfs_root"] = self.sysfs_root
        if self.cooldown_below_c is not None:
            settings["cooldown_below_c"] = self.cooldown_below_c
        return settings


class DevicesFile(StrictModel):
    devices: dict[str, DeviceSpec] = Field(default_factory=dict)


class BenchmarkSpec(StrictModel):
    """When to stop timing; defaults in the spirit of LiteRT's benchmark_model."""

    warmup_runs: int = Field(5, ge=0)
    warmup_min_s: float = Field(0.5, ge=0)
    min_runs: int = Field(50, ge=1)
    min_duration_s: float = Field(1.0, ge=0)
    max_duration_s: float = Field(150.0, gt=0, le=86400)
    threads: int = Field(1, ge=1, le=256)
    memory_sample_interval_s: float = Field(0.05, ge=0)
    job_timeout_s: Optional[float] = Field(None, gt=0, le=7 * 86400)  # overrides the device's
    seed: int = 0
    input_shapes: dict[str, list[int]] = Field(default_factory=dict)
    default_dim: int = Field(1, ge=1)
    evaluate_on_device: bool = False
    eval_samples: int = Field(0, ge=0)  # on-device evaluation: 0 = the whole eval subset
    energy_min_samples: int = Field(20, ge=1)
    energy_min_window_s: float = Field(1.0, ge=0)
    # -- trust in the figures (docs/timing.md): stop on precision, processes, sustained --
    # stop when the p50's 99 % CI half-width <= target_precision x p50 (min runs/duration
    # stay floors, max_duration_s the cap); None = the fixed rule
    target_precision: Optional[StrictFloat] = Field(None, gt=0, lt=1)
    processes: StrictInt = Field(1, ge=1, le=50)  # fresh agent processes per job, pooled
    mode: Literal["fixed", "sustained"] = "fixed"
    duration_s: StrictFloat = Field(600.0, gt=0, le=86400)  # sustained: run this long
    bin_s: StrictFloat = Field(10.0, gt=0, le=3600)  # sustained: one record per bin

    @model_validator(mode="after")
    def _durations(self) -> "BenchmarkSpec":
        if self.max_duration_s < self.min_duration_s:
            raise ValueError(f"max_duration_s ({self.max_duration_s}) < min_duration_s "
                             f"({self.min_duration_s})")
        if self.mode == "sustained":
            if self.bin_s > self.duration_s:
                raise ValueError(f"bin_s ({self.bin_s}) > duration_s ({self.duration_s})")
            if self.processes != 1 or self.target_precision is not None:
                raise ValueError("mode: sustained runs one process for duration_s; drop "
                                 "processes / target_precision (they apply to mode: fixed)")
        return self


class OnnxRuntimeSpec(StrictModel):
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"], min_length=1)
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = "all"


class TFLiteSpec(StrictModel):
    runtime: Literal["auto", "ai_edge_litert", "tflite_runtime", "tensorflow"] = "auto"
    delegate_path: Optional[str] = None
    delegate_options: dict[str, str] = Field(default_factory=dict)
    use_xnnpack: bool = True


class SuiteSpec(StrictModel):
    """What to benchmark: models x variants x formats, on devices, with these settings."""

    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    devices: list[str] = Field(default_factory=lambda: ["local"], min_length=1)
    models: list[ModelSpec] = Field(min_length=1)
    variants: list[VariantSpec] = Field(default_factory=lambda: list(DEFAULT_VARIANTS))
    benchmark: BenchmarkSpec = Field(default_factory=BenchmarkSpec)
    onnxruntime: OnnxRuntimeSpec = Field(default_factory=OnnxRuntimeSpec)
    tflite: TFLiteSpec = Field(default_factory=TFLiteSpec)
    input_npz: Optional[str] = None
    path: str = ""  # filled by load_suite
    sha256: str = ""  # of the suite file, for run records

    @field_validator("input_npz")
    @classmethod
    def _npz(cls, value: Optional[str], info: Any) -> Optional[str]:
        return resolve_path(value, info) if value else value

    @model_validator(mode="after")
    def _unique(self) -> "SuiteSpec":
        for what, names in (("models", [m.name for m in self.models]),
                            ("variants", [v.name for v in self.variants])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} name(s): {', '.join(dupes)}")
        return self


def _load_yaml(path: Path) -> tuple[Any, Optional[yaml.Node]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("file not found", file=str(path),
                          hint="check the path; suites live in suites/") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", file=str(path)) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML: {problem}", file=str(path),
                          line=mark.line + 1 if mark else None,
                          hint="fix the YAML syntax at that line") from exc
    return data, node


def _line_of(node: Optional[yaml.Node], loc: tuple[Union[int, str], ...]) -> Optional[int]:
    """Walk the YAML node tree along pydantic's error location; return a 1-based line."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    line, node = key_node.start_mark.line + 1, value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _submodel(annotation: Any) -> Optional[type]:
    """The StrictModel inside an annotation such as ``Optional[list[ModelSpec]]``."""
    if isinstance(annotation, type) and issubclass(annotation, StrictModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(model: type[StrictModel], loc: tuple[Union[int, str], ...]) -> list[str]:
    """The field names of the mapping that holds the unknown key at ``loc``."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, StrictModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field is not None else current
        else:  # list index or dict key: step into the container's element model
            current = _submodel(current)
    parent = _submodel(current)
    fields = parent.model_fields if parent is not None else {}
    hidden = ("path", "sha256") if parent is SuiteSpec else ()
    return sorted(k for k in fields if k not in hidden)


def _raise_validation(exc: ValidationError, path: Path, node: Optional[yaml.Node],
                      model: type[StrictModel]) -> None:
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    msg = first["msg"]
    hint = None
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
        allowed = _allowed_keys(model, loc)
        if allowed:
            msg += f" (allowed: {', '.join(allowed)})"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] in ("literal_error", "enum"):
        msg = f"invalid value {first.get('input')!r}: {first['msg']}"
    else:
        if first.get("input") is not None and not isinstance(first.get("input"), (dict, list)):
            msg = f"{msg} (got {first['input']!r})"
    msg = msg.replace("Value error, ", "")
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    raise ConfigError(msg, file=str(path), key=key or None, line=_line_of(node, loc), hint=hint) from exc


def load_suite(path: Union[str, Path]) -> SuiteSpec:
    """Read and validate a suite file; paths in it are relative to the file."""
    path = Path(path)
    data, node = _load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("a suite must be a YAML mapping with at least 'name' and 'models'",
                          file=str(path))
    for reserved in ("path", "sha256"):
        if reserved in data:
            raise ConfigError("unknown key", file=str(path), key=reserved, line=_line_of(node, (reserved,)))
    data = {**data, "path": str(path.resolve()),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    try:
        return SuiteSpec.model_validate(data, context={"base_dir": str(path.resolve().parent)})
    except ValidationError as exc:
        _raise_validation(exc, path, node, SuiteSpec)
        raise  # unreachable


LOCAL_DEVICE = DeviceSpec(name="local", kind="local", tags=["controller"])


def load_devices(path: Union[str, Path, None] = None) -> dict[str, DeviceSpec]:
    """The registry: ``local`` always, plus every device of the file (default ./devices.yaml)."""
    devices = {"local": LOCAL_DEVICE}
    if path is None:
        if not DEFAULT_DEVICES_FILE.exists():
            return devices
        path = DEFAULT_DEVICES_FILE
    path = Path(path)
    data, node = _load_yaml(path)
    if data is None:
        return devices
    if not isinstance(data, dict):
        raise ConfigError("devices file must be a mapping with a 'devices' key", file=str(path))
    try:
        parsed = DevicesFile.model_validate(data, context={"base_dir": str(path.resolve().parent)})
    except ValidationError as exc:
        _raise_validation(exc, path, node, DevicesFile)
        raise
    for name, spec in parsed.devices.items():
        if spec.name and spec.name != name:
            raise ConfigError(f"name {spec.name!r} differs from its key", file=str(path),
                              key=f"devices.{name}.name", line=_line_of(node, ("devices", name, "name")))
        kind = spec.kind if name != "local" else "local"
        devices[name] = spec.model_copy(update={"name": name, "kind": kind})
    return devices


def select_devices(suite: SuiteSpec, registry: dict[str, DeviceSpec],
                   names: Optional[list[str]] = None) -> list[DeviceSpec]:
    """Suite (or --device) selectors -> devices; a selector is a name, a tag, or 'all'."""
    selectors = names or suite.devices
    chosen: dict[str, DeviceSpec] = {}
    for sel in selectors:
        if sel == "all":
            matches = list(registry.values())
        else:
            matches = [d for d in registry.values() if d.name == sel or sel in d.tags]
        if not matches:
            source = "--device" if names else f"{suite.path}: devices"
            raise ConfigError(f"no device or tag named {sel!r}", key=source,
                              hint=f"known devices: {', '.join(sorted(registry))}")
        for d in matches:
            chosen.setdefault(d.name, d)
    return list(chosen.values())
