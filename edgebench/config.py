"""devices.yaml and suites/*.yaml -> validated specs, or one line that says what is wrong.

Validation happens on load, with pydantic models that forbid unknown keys.  A failure is
reported as ``FILE:LINE: key.path: problem (allowed: ...)``: the line comes from PyYAML's
node marks, because a user fixes a YAML file by line, not by pydantic's error location.
Everything a job would trip over later (a shell line that does not split, an env name the
shell rejects, a known_hosts path that is not one) is checked here, because at job time it
only shows up as "device unreachable".  Reading is bounded by :mod:`edgebench.yamlload`.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .configerrors import check_unique_names, line_of, raise_validation
from .devicechecks import check_known_hosts, env_name, env_value
from .errors import ConfigError
from .recipes import (
    DEFAULT_VARIANTS,
    ModelSpec,
    Name,
    StrictModel,
    VariantSpec,
    check_runtime_names,
    resolve_path,
    runtimes_for_format,
)
from .suite_settings import (
    BenchmarkSpec,
    ExecuTorchSpec,
    LiteRtCompiledSpec,
    McuBudget,
    OnnxRuntimeSpec,
    OpenVinoSpec,
    SearchSpec,
    TFLiteSpec,
    _default_mcu_budgets,
    check_model_runtime_options,
    with_model_options,
)
from .yamlload import load_yaml, show

DEFAULT_DEVICES_FILE = Path("devices.yaml")
EnergyProbe = Literal["auto", "rapl", "jetson-ina3221", "rpi5-pmic", "hwmon", "tegrastats",
                      "command", "none"]
#: Keys that only mean something over SSH: on a ``local`` device they would be ignored and the
#: jobs would silently run on the controller instead of the machine they name.
SSH_ONLY = ("host", "port", "user", "identity_file", "ssh_config_host", "known_hosts")

EnvName = Annotated[str, AfterValidator(env_name)]
EnvValue = Annotated[str, AfterValidator(env_value)]


class DeviceSpec(StrictModel):
    """One device of the registry; ``local`` is the controller itself (no SSH)."""

    name: Name = ""
    kind: Literal["local", "ssh"] = "ssh"
    host: Optional[str] = None
    port: int = Field(22, ge=1, le=65535)
    user: Optional[str] = None
    identity_file: Optional[str] = None
    ssh_config_host: Optional[str] = None
    known_hosts: str = "~/.ssh/known_hosts"
    python: str = "python3"
    workdir: str = "~/.cache/edgebench"
    tags: list[Annotated[Name, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    # allow-list: formats (every runtime of the format) and / or runtime names from the
    # agent's registry; a job whose format and runtime are both missing is skipped
    runtimes: Optional[list[str]] = None
    # upper bounds: the OS rejects absurd socket timeouts (OverflowError), and a typo such
    # as 1e9 would make a hung device hold the night forever
    connect_timeout_s: float = Field(10.0, gt=0, le=3600)
    io_timeout_s: float = Field(60.0, gt=0, le=3600)  # no byte from a live transfer this long = link lost
    job_timeout_s: float = Field(600.0, gt=0, le=7 * 86400)
    retries: int = Field(2, ge=0, le=10)
    # --cluster: the lab whose Ray nodes (resource ``lab:NAME``) can reach it (docs/scaling.md)
    lab: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    energy: EnergyProbe = "auto"
    energy_command: Optional[list[str]] = None
    energy_sample_hz: float = Field(20.0, gt=0, le=1000)
    idle_s: float = Field(2.0, ge=0, le=3600)
    sysfs_root: Optional[str] = None
    cooldown_below_c: Optional[float] = Field(None, gt=0, le=150)  # a SoC temperature in C
    cooldown_max_wait_s: float = Field(60.0, ge=0, le=86400)

    @field_validator("runtimes")
    @classmethod
    def _runtimes(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        from .agent.backends import FORMATS, RUNTIMES

        for v in value or []:
            if v not in FORMATS and v not in RUNTIMES:
                raise ValueError(f"runtimes: {v!r} is neither a format ({', '.join(FORMATS)}) nor a "
                                 f"runtime ({', '.join(RUNTIMES)})")
        return value

    @field_validator("python")
    @classmethod
    def _python(cls, value: str, info: ValidationInfo) -> str:
        """Over SSH ``python`` is a command line (``nice -n 5 python3``) split with shlex on
        every job: an unbalanced quote would fail each one as "device unreachable"."""
        if info.data.get("kind", "ssh") != "ssh":
            return value  # a local device runs this path as is
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"{show(value)} is not a valid command line: {exc} "
                             "(quote with ' or \" in pairs)") from None
        if not argv:
            raise ValueError("is empty: give the interpreter, e.g. python3")
        return value

    @field_validator("known_hosts")
    @classmethod
    def _known_hosts(cls, value: str) -> str:
        check_known_hosts(value)
        return value

    @model_validator(mode="after")
    def _reachable(self) -> "DeviceSpec":
        if self.kind == "local":
            given = [k for k in SSH_ONLY if k in self.model_fields_set]
            if given:
                raise ValueError(f"{', '.join(given)}: only for kind 'ssh'; a local device runs "
                                 "on the controller itself (set kind: ssh, or remove them)")
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
    devices: dict[Annotated[Name, Field(min_length=1, max_length=200)], DeviceSpec] = Field(default_factory=dict)


class SuiteSpec(StrictModel):
    """What to benchmark: models x variants x formats, on devices, with these settings."""

    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    devices: list[Annotated[Name, Field(min_length=1, max_length=200)]] = Field(
        default_factory=lambda: ["local"], min_length=1)
    models: list[ModelSpec] = Field(min_length=1)
    variants: list[VariantSpec] = Field(default_factory=lambda: list(DEFAULT_VARIANTS))
    benchmark: BenchmarkSpec = Field(default_factory=BenchmarkSpec)
    onnxruntime: OnnxRuntimeSpec = Field(default_factory=OnnxRuntimeSpec)
    tflite: TFLiteSpec = Field(default_factory=TFLiteSpec)
    openvino: OpenVinoSpec = Field(default_factory=OpenVinoSpec)
    litert_compiled: LiteRtCompiledSpec = Field(default_factory=LiteRtCompiledSpec,
                                                alias="litert-compiled")
    executorch: ExecuTorchSpec = Field(default_factory=ExecuTorchSpec)
    # runtimes every model is benchmarked on (a model's own 'runtimes' wins); None: each
    # format's classic runtime only, as before runtimes were chosen; 'all': every
    # registered runtime for the format (docs/runtimes.md)
    runtimes: Optional[Union[Literal["all"], list[str]]] = None
    input_npz: Optional[str] = None
    search: Optional[SearchSpec] = None  # the recipe space of `edgebench tune` (docs/tune.md)
    # which .tflite variants fit which microcontroller (docs/wearables.md)
    mcu_budgets: dict[str, McuBudget] = Field(default_factory=_default_mcu_budgets)
    path: str = ""  # filled by load_suite
    sha256: str = ""  # of the suite file, for run records

    @field_validator("input_npz")
    @classmethod
    def _npz(cls, value: Optional[str], info: Any) -> Optional[str]:
        return resolve_path(value, info) if value else value

    @field_validator("runtimes")
    @classmethod
    def _runtimes(cls, value: Any) -> Any:
        return check_runtime_names(value)

    def model_runtimes(self, model: ModelSpec, fmt: str) -> list[str]:
        """The runtimes (registry names) this model's ``fmt`` files run on."""
        return runtimes_for_format(model.runtimes if model.runtimes is not None else self.runtimes, fmt)

    def runtime_settings(self, runtime: str, model: Optional[str] = None) -> Any:
        """The options block for a runtime: the suite's, with ``model``'s own
        ``runtime_options`` for it laid over (validated when the suite loads)."""
        block = {"onnxruntime": self.onnxruntime, "tflite": self.tflite, "openvino": self.openvino,
                 "litert-compiled": self.litert_compiled, "executorch": self.executorch}[runtime]
        spec = next((m for m in self.models if m.name == model), None)
        return with_model_options(block, spec.runtime_options.get(runtime) if spec else None)

    @model_validator(mode="after")
    def _model_runtime_options(self) -> "SuiteSpec":
        check_model_runtime_options(self)
        return self

    @model_validator(mode="after")
    def _every_format_has_a_runtime(self) -> "SuiteSpec":
        for m in self.models:
            for fmt in m.resolved_formats():
                if not self.model_runtimes(m, fmt):
                    raise ValueError(f"model {m.name!r}: none of its runtimes loads its {fmt} "
                                     f"files; add one (e.g. the classic one) or drop the format")
        return self

    @model_validator(mode="after")
    def _unique(self) -> "SuiteSpec":
        for what, names in (("models", [m.name for m in self.models]),
                            ("variants", [v.name for v in self.variants])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} name(s): {', '.join(dupes)}")
        return self


def load_suite(path: Union[str, Path]) -> SuiteSpec:
    """Read and validate a suite file; paths in it are relative to the file."""
    path = Path(path)
    doc = load_yaml(path)
    data, node = doc.data, doc.node
    if not isinstance(data, dict):
        raise ConfigError("a suite must be a YAML mapping with at least 'name' and 'models'",
                          file=str(path))
    for reserved in ("path", "sha256"):
        if reserved in data:
            raise ConfigError("unknown key", file=str(path), key=reserved, line=line_of(node, (reserved,)))
    for section in ("models", "variants"):
        check_unique_names(data.get(section), section, path, node)
    data = {**data, "path": str(path.resolve()), "sha256": doc.sha256}
    try:
        return SuiteSpec.model_validate(data, context={"base_dir": str(path.resolve().parent)})
    except ValidationError as exc:
        raise_validation(exc, path, node, SuiteSpec)
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
    doc = load_yaml(path)
    data, node = doc.data, doc.node
    if data is None:
        return devices
    if not isinstance(data, dict):
        raise ConfigError("devices file must be a mapping with a 'devices' key", file=str(path))
    entries = data.get("devices")
    if isinstance(entries, dict) and isinstance(entries.get("local"), dict):
        local = entries["local"]
        if local.get("kind", "local") != "local":
            raise ConfigError("the name 'local' is the controller itself: its kind is local",
                              file=str(path), key="devices.local.kind",
                              line=line_of(node, ("devices", "local", "kind")),
                              hint="give an SSH device another name")
        # 'local' without 'kind' is the controller: validate it as one, so that an SSH key
        # in it (host, port, ...) is an error instead of being dropped after validation
        data = {**data, "devices": {**entries, "local": {**local, "kind": "local"}}}
    try:
        parsed = DevicesFile.model_validate(data, context={"base_dir": str(path.resolve().parent)})
    except ValidationError as exc:
        raise_validation(exc, path, node, DevicesFile)
        raise
    for name, spec in parsed.devices.items():
        if spec.name and spec.name != name:
            raise ConfigError(f"name {spec.name!r} differs from its key", file=str(path),
                              key=f"devices.{name}.name", line=line_of(node, ("devices", name, "name")))
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
