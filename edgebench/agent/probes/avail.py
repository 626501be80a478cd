"""What `agent info` reports: which energy probes work here and why the others do not."""

from __future__ import annotations

from typing import Any, Dict, Optional

from .detect import AUTO_ORDER, SCOPE, open_source
from .settings import ProbeSettings
from .sysfs import ProbeUnavailable, Sysfs, which
from .thermal import policy_dirs, zone_dirs


def available_probes(sysfs_root: Optional[str] = None) -> Dict[str, Any]:
    """Try each energy probe once (and release it); count thermal zones and cpufreq policies."""
    fs = Sysfs(sysfs_root)
    settings = ProbeSettings(sysfs_root=sysfs_root)
    energy: Dict[str, Dict[str, Any]] = {}
    auto: Optional[str] = None
    for name in AUTO_ORDER:
        if name == "command":
            energy[name] = {"usable": False, "reason": "needs the energy_command setting", "scope": SCOPE[name]}
            continue
        try:
            source = open_source(name, settings, fs)
        except ProbeUnavailable as exc:
            energy[name] = {"usable": False, "reason": str(exc), "scope": SCOPE[name]}
            continue
        except Exception as exc:  # noqa: BLE001 - `agent info` must always answer
            energy[name] = {"usable": False, "reason": f"{type(exc).__name__}: {exc}", "scope": SCOPE[name]}
            continue
        source.close()
        energy[name] = {"usable": True, "reason": source.detail, "scope": SCOPE[name]}
        auto = auto or name
    return {
        "sysfs_root": fs.root,
        "energy": energy,
        "auto": auto,
        "thermal_zones": len(zone_dirs(fs)),
        "cpufreq_policies": len(policy_dirs(fs)),
        "tools": {tool: which(tool) for tool in ("vcgencmd", "tegrastats", "nvpmodel")},
    }
