"""``python -m edgebench_agent run SPEC.json --out RESULT.json`` | ``run-part ...`` | ``info``.

``run-part`` is how a multi-process job (``benchmark.processes: N``) starts its N children:
the same job, measured in this fresh process only (no probes, no run context, never
spawning further processes); the parent pools the parts (agent/multiproc.py).

The process boundary is the contract: the controller never imports this code, it runs it
(under the device's own interpreter), hands it a JSON spec and reads back a JSON result,
written atomically so a killed agent leaves no half-written result.  Exit status 0 means
"a result file was written" (the job itself may have failed); anything else means the
agent could not even report, and the controller says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any, Dict, List, Optional

from .schema import AGENT_VERSION, SCHEMA_VERSION, JobSpec


def _write_atomic(path: str, payload: Dict[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".result-", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _info(workdir: Optional[str], sysfs_root: Optional[str] = None) -> Dict[str, Any]:
    from .backends import inventory, tflite
    from .sysinfo import disk_free_bytes, machine_info

    info: Dict[str, Any] = {"schema_version": SCHEMA_VERSION, "agent_version": AGENT_VERSION,
                            "machine": machine_info(), "python_executable": sys.executable}
    # every registered runtime by name (None: absent here); ``tflite_all`` lists each
    # classic TFLite interpreter package, since a device may carry several
    info["runtimes"] = {**inventory(), "tflite_all": tflite.all_runtime_versions()}
    try:
        from .probes import available_probes

        info["probes"] = available_probes(sysfs_root)
    except Exception as exc:  # noqa: BLE001 - inventory must still answer
        info["probes"] = {"error": f"{type(exc).__name__}: {exc}"}
    if workdir:
        info["workdir"] = os.path.expanduser(workdir)
        info["disk_free_bytes"] = disk_free_bytes(workdir)
    return info


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="edgebench_agent", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run one job spec, write its result JSON")
    run.add_argument("spec", help="job spec JSON file, or - for stdin")
    run.add_argument("--out", required=True, help="where to write the result JSON")
    part = sub.add_parser("run-part", help="one process of a multi-process job (internal)")
    part.add_argument("spec", help="job spec JSON file, or - for stdin")
    part.add_argument("--out", required=True, help="where to write the part's result JSON")
    info = sub.add_parser("info", help="print machine, runtimes and probes as JSON")
    info.add_argument("--workdir", default=None)
    info.add_argument("--sysfs-root", default=None,
                      help="probe this tree instead of / (the device's sysfs_root setting)")
    args = parser.parse_args(argv)

    if args.cmd == "info":
        json.dump(_info(args.workdir, args.sysfs_root), sys.stdout)
        sys.stdout.write("\n")
        return 0
    try:
        raw = sys.stdin.read() if args.spec == "-" else open(args.spec).read()
        spec = JobSpec.from_dict(json.loads(raw))
    except (OSError, ValueError, TypeError) as exc:
        from .sysinfo import machine_info

        job_id = "unknown"
        _write_atomic(args.out, {
            "schema_version": SCHEMA_VERSION, "agent_version": AGENT_VERSION, "job_id": job_id,
            "status": "failed", "machine": machine_info(),
            "error": {"kind": "bad_spec", "message": f"{type(exc).__name__}: {exc}"},
        })
        return 0
    from .runner import run_job

    if args.cmd == "run-part":
        from dataclasses import replace

        spec = replace(spec, benchmark=replace(spec.benchmark, processes=1))
        _write_atomic(args.out, run_job(spec, part=True))
        return 0
    _write_atomic(args.out, run_job(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
