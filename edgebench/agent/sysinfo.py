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


#: CPU features that decide whether int8 / bf16 kernels can beat fp32: x86 VNNI (int8 dot
#: products, AVX-512 or AVX2-encoded), AVX-512 BF16, AMX tiles; Arm dot product (asimddp),
#: int8 matrix multiply (i8mm) and bf16.  Without them an int8 model widens to 16/32 bits
#: in software and can be slower than fp32 -- the report shows them beside "int8 slower".
INT8_BF16_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
                   "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
                   "asimddp", "i8mm", "bf16", "svei8mm", "svebf16", "sve", "sve2")


def _cpu_flag_list(cpuinfo_path: str) -> list:
    for line in (_read(cpuinfo_path) or "").splitlines():
        if line.startswith(("flags", "Features")):
            return line.split(":", 1)[1].split()
    return []


def cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> list:
    flags = _cpu_flag_list(cpuinfo_path)
    return sorted(f for f in flags if f.startswith(("avx", "neon", "asimd", "fma", "vnni", "amx"))
                  or "vnni" in f or f in ("sse4_2", "f16c", "i8mm", "bf16"))


def int8_bf16_flags(cpuinfo_path: str = "/proc/cpuinfo") -> list:
    """The flags of :data:`INT8_BF16_FLAGS` this CPU has, in that order."""
    have = set(_cpu_flag_list(cpuinfo_path))
    return [f for f in INT8_BF16_FLAGS if f in have]


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
        "int8_bf16_flags": int8_bf16_flags(),
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
