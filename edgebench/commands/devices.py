"""``edgebench devices list|check|trust``: look after the device registry.

* ``list``  -- the registry as a table (no network).
* ``check`` -- connect to every device in parallel and show what it really has (arch,
  CPU, RAM, OS, Python, numpy, runtimes, free disk, probes).  One unreachable device is one
  row with its reason, never a crash; exit 1 if any device failed.
* ``trust`` -- fetch a device's SSH host key *without* authenticating, show its SHA256
  fingerprint and, once confirmed, append it to that device's known_hosts.  Edgebench
  never trusts a key on its own; this is the one deliberate way to do it.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from ..cliargs import int_range
from ..errors import EdgebenchError, HostKeyError, UsageError

HELP = """\
Manage the device registry (devices.yaml).  'check' connects to each device (in parallel)
and reports its hardware and runtimes; exit 1 if any device is unreachable.  'trust'
records a device's SSH host key after you have compared its fingerprint with the device
(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the device).
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("devices", help="list, check and trust devices", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="devices_action", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--devices", metavar="FILE", help="device registry (default: ./devices.yaml)")

    lst = actions.add_parser("list", help="show the registry")
    common(lst)
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=handle_list)

    chk = actions.add_parser("check", help="connect and report what each device has")
    chk.add_argument("names", nargs="*", metavar="NAME", help="devices or tags (default: all)")
    common(chk)
    chk.add_argument("--json", action="store_true", help="machine-readable output")
    chk.add_argument("--parallel", type=int_range(1, 256), default=8, metavar="N", help="devices at once (default 8)")
    chk.set_defaults(func=handle_check)

    tr = actions.add_parser("trust", help="record a device's SSH host key after confirmation")
    tr.add_argument("name", metavar="NAME")
    common(tr)
    tr.add_argument("--yes", action="store_true", help="do not ask (for scripts that checked the key)")
    tr.add_argument("--replace", action="store_true",
                    help="replace a different key already recorded (a re-imaged device)")
    tr.set_defaults(func=handle_trust)


# ---------------------------------------------------------------------- helpers
def _registry(path: str | None) -> dict[str, Any]:
    from ..config import load_devices

    return load_devices(path)


def _select(registry: dict[str, Any], names: Sequence[str]) -> list[Any]:
    if not names:
        return list(registry.values())
    chosen: dict[str, Any] = {}
    for sel in names:
        matches = [d for d in registry.values() if d.name == sel or sel in (d.tags or [])]
        if not matches:
            raise UsageError(f"no device or tag named {sel!r}", hint=f"known devices: {', '.join(sorted(registry))}")
        chosen.update((d.name, d) for d in matches)
    return list(chosen.values())


def _human_bytes(n: Any) -> str:
    """RAM and free disk in the one unit system (edgebench.units: decimal kB/MB/GB)."""
    from edgebench.units import fmt_bytes

    return fmt_bytes(n, missing="-") if isinstance(n, (int, float)) else "-"


def _print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """rich table on a terminal; plain aligned columns when piped (stable for scripts).
    Cells come from devices.yaml and from the devices themselves: escaped, never raw."""
    from ..textsafe import plain, printable

    rows = [[printable(c) for c in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for h in headers:
            table.add_column(h, overflow="fold")
        for row in rows:
            table.add_row(*(plain(c) for c in row))
        Console().print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip())
    for row in rows:
        print("  ".join(c.replace("\n", " ").ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def _where(d: Any) -> str:
    if d.kind == "local":
        return "(this machine)"
    if d.ssh_config_host and not d.host:
        return f"ssh-config:{d.ssh_config_host}"
    return f"{d.user + '@' if d.user else ''}{d.host}:{d.port}"


# --------------------------------------------------------------------- handlers
def handle_list(args: argparse.Namespace) -> int:
    registry = _registry(args.devices)
    if args.json:
        print(json.dumps([{"name": d.name, "kind": d.kind, "where": _where(d), "tags": list(d.tags),
                           "python": d.python, "workdir": d.workdir,
                           "runtimes": d.runtimes} for d in registry.values()], indent=1))
        return 0
    rows = [[d.name, d.kind, _where(d), ",".join(d.tags), d.python,
             ",".join(d.runtimes) if d.runtimes else "any"] for d in registry.values()]
    _print_table("devices", ["name", "kind", "where", "tags", "python", "runtimes"], rows)
    return 0


def check_device(device: Any) -> dict[str, Any]:
    """Inventory one device; failures become ``{"ok": False, "error": ...}`` (one row)."""
    from ..run import make_target

    try:
        with make_target(device) as target:
            info = target.inventory()
        return {"device": device.name, "ok": True, "error": None, "info": info}
    except EdgebenchError as exc:
        return {"device": device.name, "ok": False, "error": exc.one_line(), "info": None}
    except Exception as exc:  # noqa: BLE001 - one broken device must not hide the others
        return {"device": device.name, "ok": False, "error": f"{type(exc).__name__}: {exc}", "info": None}


def _runtimes_text(info: dict[str, Any]) -> str:
    """Every registered runtime the device has, with its version (the registry's order:
    the table is the one in agent/backends); the classic TFLite runtime names the
    interpreter packages present.  An older agent's inventory (onnxruntime + tflite_all
    only) reads the same way."""
    from edgebench.agent.backends import RUNTIMES

    rt = info.get("runtimes") or {}
    parts = []
    for name in list(RUNTIMES) + [n for n in rt if n not in RUNTIMES and n != "tflite_all"]:
        entry = rt.get(name)
        if name == "tflite":
            packages = [f"{pkg} {v}" for pkg, v in (rt.get("tflite_all") or {}).items() if v]
            if packages:
                parts.append(f"tflite ({', '.join(packages)})")
            continue
        if isinstance(entry, dict):
            parts.append(f"{name} {entry.get('version')}{_accelerators(entry)}")
        elif isinstance(entry, str):
            parts.append(f"{name} {entry}")
    return ", ".join(parts) or "none"


#: Where a runtime's inventory lists what it can run on: ONNX Runtime's execution providers,
#: OpenVINO's devices, LiteRT's accelerators, ExecuTorch's registered backends (delegates).
ACCELERATOR_KEYS = ("providers", "devices", "accelerators", "backends")


def _accelerators(entry: dict[str, Any]) -> str:
    """`` [CPU, GPU]`` from the first list the entry has; empty when it lists none."""
    for key in ACCELERATOR_KEYS:
        names = entry.get(key)
        if isinstance(names, list) and names:
            short = [str(n).removesuffix("ExecutionProvider") for n in names]
            return f" [{', '.join(short)}]"
    return ""


def _probes_text(info: dict[str, Any]) -> str:
    """The measurement sources a job on this device can really use, by name: energy meters
    that opened, thermal zones, cpufreq policies, vendor tools found; ``none`` if nothing."""
    probes = info.get("probes") or {}
    if not isinstance(probes, dict):
        return str(probes)
    if "error" in probes and len(probes) == 1:
        return f"error: {probes['error']}"
    energy = probes.get("energy") or {}
    names = [name for name, e in energy.items() if isinstance(e, dict) and e.get("usable")]
    for key, label in (("thermal_zones", "thermal"), ("cpufreq_policies", "cpufreq")):
        count = probes.get(key)
        if isinstance(count, int) and count > 0:
            names.append(f"{label}({count})")
    tools = probes.get("tools") or {}
    names += [tool for tool, path in sorted(tools.items()) if path and tool not in names]
    return ",".join(names) or "none"


def _int8_flags_text(machine: dict[str, Any]) -> str:
    """The CPU features that decide whether int8 / bf16 can beat fp32 (agent/sysinfo.py);
    '-' for an older agent that does not report them, 'none' for a CPU without any."""
    flags = machine.get("int8_bf16_flags")
    if not isinstance(flags, list):
        return "-"
    return " ".join(str(f) for f in flags) or "none"


def handle_check(args: argparse.Namespace) -> int:
    devices = _select(_registry(args.devices), args.names)
    with ThreadPoolExecutor(max_workers=max(1, min(args.parallel, len(devices) or 1))) as pool:
        results = list(pool.map(check_device, devices))
    failed = [r for r in results if not r["ok"]]
    if args.json:
        print(json.dumps(results, indent=1, default=str))
    else:
        rows = []
        for r in results:
            if not r["ok"]:
                rows.append([r["device"], "FAILED", r["error"], *["-"] * 10])
                continue
            info = r["info"]
            m = info.get("machine") or {}
            rows.append([
                r["device"], "ok", str(m.get("arch", "-")), str(m.get("cpu_model") or "-"),
                str(m.get("cores", "-")), _int8_flags_text(m),
                _human_bytes(m.get("ram_bytes")), str(m.get("os", "-")),
                str(m.get("python", "-")), str(m.get("numpy") or "-"), _runtimes_text(info),
                _human_bytes(info.get("disk_free_bytes")), _probes_text(info),
            ])
        _print_table("device check", ["device", "status", "arch", "cpu", "cores", "int8/bf16", "ram", "os", "python",
                                      "numpy", "runtimes", "free disk", "probes"], rows)
        if failed:
            print(f"{len(failed)} of {len(results)} device(s) failed", file=sys.stderr)
    return 1 if failed else 0


def handle_trust(args: argparse.Namespace) -> int:
    from ..targets.hostkeys import add_known_host, fingerprint_sha256, known_hosts_name, load_known_hosts
    from ..targets.ssh_connect import fetch_device_host_key

    registry = _registry(args.devices)
    device = registry.get(args.name)
    if device is None:
        raise UsageError(f"no device named {args.name!r}", hint=f"known devices: {', '.join(sorted(registry))}")
    if device.kind != "ssh":
        raise UsageError(f"device {args.name!r} is {device.kind!r}; only ssh devices have host keys")
    endpoint, key = fetch_device_host_key(device)
    fp = fingerprint_sha256(key)
    name = known_hosts_name(endpoint.host, endpoint.port)
    entry = load_known_hosts(device.known_hosts).lookup(name) or {}
    old = entry.get(key.get_name()) if entry else None
    print(f"device {device.name} at {endpoint.host}:{endpoint.port} offers {key.get_name()} {fp}")
    if old is not None and old.asbytes() == key.asbytes():
        print(f"already trusted in {device.known_hosts}")
        return 0
    if old is not None:
        print(f"WARNING: {device.known_hosts} has a DIFFERENT {old.get_name()} key for it: "
              f"{fingerprint_sha256(old)}")
        if not args.replace:
            raise HostKeyError(f"host key changed for {endpoint.host}:{endpoint.port}", device=device.name,
                               hint="if the device was re-imaged, rerun with --replace")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to trust a host key without confirmation: stdin is not a terminal",
                             hint="compare the fingerprint with the device, then rerun with --yes")
        answer = input("Compare with the device (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub). "
                       "Trust this key? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not trusted")
            return 1
    add_known_host(device.known_hosts, endpoint.host, endpoint.port, key, replace=args.replace)
    print(f"trusted: added {name} {key.get_name()} to {device.known_hosts}")
    return 0
