"""Facts about the machine the agent runs on, put into every result.

A latency means nothing without the hardware, OS, runtime and thread count that produced
it; these facts are also what the controller's comparability fingerprint is built from.
Standard library only; every probe degrades to None rather than failing a job.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
from typing import Any, Dict, Optional

from .schema import AGENT_VERSION


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").strip("\x00\n ")
    except OSError:
        return None


def cpu_model() -> Optional[str]:
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def cpu_flags() -> list:
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith(("flags", "Features")):
            flags = line.split(":", 1)[1].split()
            return sorted(f for f in flags if f.startswith(("avx", "neon", "asimd", "fma", "vnni"))
                          or "vnni" in f or f in ("sse4_2", "f16c", "amx_int8"))
    return []


def ram_bytes() -> Optional[int]:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def os_name() -> str:
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return f"{platform.system()} {platform.release()}"


def board_model() -> Optional[str]:
    """Raspberry Pi / Jetson boards name themselves in the device tree."""
    return _read("/sys/firmware/devicetree/base/model")


def numpy_version() -> Optional[str]:
    try:
        import numpy

        return numpy.__version__
    except Exception:  # noqa: BLE001
        return None


def machine_info() -> Dict[str, Any]:
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "arch": uname.machine,
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "ram_bytes": ram_bytes(),
        "os": os_name(),
        "kernel": uname.release,
        "board": board_model(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": numpy_version(),
        "agent_version": AGENT_VERSION,
    }


def disk_free_bytes(path: str) -> Optional[int]:
    try:
        return shutil.disk_usage(os.path.expanduser(path)).free
    except OSError:
        return None
