"""Which devices a resumed run runs on (``edgebench run --resume``): the ones it started with."""

from __future__ import annotations

from typing import Any, Optional

from .config import DeviceSpec, SuiteSpec, select_devices
from .errors import UsageError


def resumed_devices(run_id: str, meta: dict[str, Any], suite: SuiteSpec,
                     registry: dict[str, DeviceSpec], device_names: Optional[list[str]]
                     ) -> list[DeviceSpec]:
    """A resumed run runs on the devices it started with: the suite's default (say
    ``local``) would run the missing jobs somewhere else and drop the run's own devices
    from summary.csv and the report."""
    started = meta.get("devices")
    if not isinstance(started, list) or not started:  # a run.json from before devices were kept
        return select_devices(suite, registry, device_names)
    if device_names is not None:
        asked = sorted(d.name for d in select_devices(suite, registry, device_names))
        if asked != sorted(started):
            raise UsageError(f"run {run_id!r} was started on device(s) {' '.join(started)}, "
                             f"not {' '.join(asked)}",
                             hint="resume without --device, or start a new run")
    missing = [name for name in started if name not in registry]
    if missing:
        raise UsageError(f"run {run_id!r} ran on device(s) {', '.join(missing)}, which the device "
                         "registry no longer has",
                         hint="resume with the --devices FILE the run started with")
    return [registry[name] for name in started]
