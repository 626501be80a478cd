"""A tiny stand-in ``edgebench_agent`` that honours the agent CLI contract.

The SSH target only moves files and runs ``python -m edgebench_agent run SPEC --out RESULT``
/ ``info``; testing it must not wait for (or break with) the real agent.  This fake obeys
the same contract (result written atomically, exit 0 for ok *and* failed jobs) and adds
knobs under ``spec["fake"]`` for the situations a target must survive: sleeping forever
with a grandchild process, crashing, echoing argv / env / cwd back so quoting is provable.
Python 3.9-compatible, standard library only: it runs on every lab env.
"""

from __future__ import annotations

import hashlib

from edgebench.agent_bundle import AgentBundle

MAIN = r'''
import importlib, json, os, platform, subprocess, sys, time

RUNTIMES = ("numpy", "onnxruntime", "tflite_runtime", "ai_edge_litert", "tensorflow")


def info():
    runtimes = {}
    for mod in RUNTIMES:
        try:
            m = importlib.import_module(mod)
        except Exception:
            continue
        version = getattr(m, "__version__", None)
        if version is None and mod == "ai_edge_litert":
            try:
                from importlib.metadata import version as v
                version = v("ai-edge-litert")
            except Exception:
                version = "?"
        runtimes[mod] = version
    return {"agent": "fake", "machine": {"arch": platform.machine(), "python": platform.python_version(),
            "executable": sys.executable, "os": platform.platform()}, "runtimes": runtimes, "probes": {}}


def run(spec_path, out_path):
    with open(spec_path) as fh:
        spec = json.load(fh)
    fake = spec.get("fake", {})
    if fake.get("crash"):
        sys.stderr.write("fake agent: crashing as asked\n")
        sys.exit(3)
    if fake.get("sleep_s"):
        marker = fake.get("marker", "edgebench-fake-sleeper")
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker])
        sys.stdout.write("sleeping\n"); sys.stdout.flush()
        time.sleep(float(fake["sleep_s"]))
    result = {"schema_version": 1, "agent_version": "fake", "job_id": spec.get("job_id", ""),
              "status": "failed" if fake.get("fail") else "ok", "machine": info()["machine"],
              "echo": {"argv": sys.argv, "cwd": os.getcwd(),
                       "env": {k: os.environ.get(k) for k in fake.get("echo_env", [])},
                       "pgid_is_pid": os.getpgid(0) == os.getpid(), "sid_is_pid": os.getsid(0) == os.getpid()}}
    if fake.get("fail"):
        result["error"] = {"type": "Fake", "message": "failed as asked"}
    tmp = out_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, out_path)


if __name__ == "__main__":
    if sys.argv[1:2] == ["info"]:
        print(json.dumps(info()))
    elif sys.argv[1:2] == ["run"] and len(sys.argv) == 5 and sys.argv[3] == "--out":
        run(sys.argv[2], sys.argv[4])
    else:
        sys.stderr.write("usage: edgebench_agent run SPEC --out RESULT | info\n")
        sys.exit(2)
'''


def fake_bundle(tag: str = "") -> AgentBundle:
    """An AgentBundle holding the fake agent; ``tag`` changes its hash (a 'new version')."""
    files = (
        ("edgebench_agent/__init__.py", f"# fake agent {tag}\n".encode()),
        ("edgebench_agent/__main__.py", MAIN.encode()),
    )
    digest = hashlib.sha256()
    for rel, data in files:
        digest.update(rel.encode() + b"\0" + data + b"\0")
    return AgentBundle(sha256=digest.hexdigest(), files=files)
