"""A real Ray cluster on loopback for the tests: ``ray start --head`` plus worker nodes.

Every node is a ``ray start --block`` process in its own session with its own temp dir
(two raylets on one machine must not share sockets), small memory settings and no
dashboard.  A worker node is the lab host of the labs in its ``--resources``.  Killing a
node SIGKILLs its ``ray start`` and every process under it (raylet, workers, actors): the
machine dying, as the driver sees it.  ``close`` ends every process this cluster started,
by process id, whatever happened in the test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab.sshd import _children, free_port

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
OBJECT_STORE_BYTES = 80 * 2**20


@dataclass
class RayNode:
    name: str
    proc: subprocess.Popen
    temp_dir: Path
    log: Path
    pids: set[int] = field(default_factory=set)

    def kill(self) -> None:
        """SIGKILL the node and everything under it (collected before, since the orphans of a
        dead raylet are re-parented)."""
        self.pids |= {self.proc.pid, *_children(self.proc.pid)}
        for pid in sorted(self.pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class RayCluster:
    """``head`` plus ``add_worker(...)``; ``client_address`` is what ``--cluster`` takes."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ebray", dir="/tmp"))  # unix sockets: short paths
        self.ports: set[int] = set()  # handed out: the kernel may offer one port twice
        self.gcs_port, self.client_port = self.port(), self.port()
        self.nodes: list[RayNode] = []
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                    "RAY_USAGE_STATS_ENABLED": "0",
                    # a dead node is declared dead after ~1.5 s, not the default ~15 s
                    "RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "3",
                    "RAY_health_check_initial_delay_ms": "0"}

    @property
    def client_address(self) -> str:
        """The driver as a Ray client (through the head's client server), as from a laptop."""
        return f"ray://127.0.0.1:{self.client_port}"

    @property
    def gcs_address(self) -> str:
        """The driver as a Ray driver on this machine: Ray attaches it to the head node
        (it prefers the head among nodes on one host), so killing a worker spares it."""
        return f"127.0.0.1:{self.gcs_port}"

    def _start(self, name: str, args: list[str], timeout_s: float = 90.0) -> RayNode:
        temp_dir = self.root / name
        log = self.root / f"{name}.log"
        ports = ["--node-manager-port", "--object-manager-port", "--metrics-export-port",
                 "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                 "--runtime-env-agent-port"]
        cmd = [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp_dir),
               "--object-store-memory", str(OBJECT_STORE_BYTES), "--disable-usage-stats", *args]
        for opt in ports:
            cmd += [opt, str(self.port())]
        with log.open("w") as fh:
            proc = subprocess.Popen(cmd, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=ROOT)
        node = RayNode(name, proc, temp_dir, log)
        self.nodes.append(node)
        deadline = time.monotonic() + timeout_s
        while "Ray runtime started" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray node {name} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        node.pids |= set(_children(proc.pid))
        return node

    def port(self) -> int:
        """A free port not handed out before: two independent ``free_port()`` calls once
        gave metrics_export and runtime_env_agent the same one, and ``ray start`` refused."""
        while True:
            port = free_port()
            if port not in self.ports:
                self.ports.add(port)
                return port

    def start_head(self) -> RayNode:
        return self._start("head", ["--head", "--port", str(self.gcs_port), "--ray-client-server-port",
                                    str(self.client_port), "--num-cpus", "0", "--include-dashboard=false"])

    def add_worker(self, name: str, labs: list[str], num_cpus: int = 1) -> RayNode:
        resources = json.dumps({f"lab:{lab}": 1000 for lab in labs})
        return self._start(name, ["--address", f"127.0.0.1:{self.gcs_port}", "--num-cpus", str(num_cpus),
                                  "--resources", resources])

    def node(self, name: str) -> RayNode:
        return next(n for n in self.nodes if n.name == name)

    def close(self) -> None:
        """Workers first, then the head: SIGTERM, a moment, then SIGKILL of whatever is left."""
        for node in reversed(self.nodes):
            node.pids |= {node.proc.pid, *_children(node.proc.pid)}
            try:
                os.killpg(node.proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 5
        for node in self.nodes:
            try:
                node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            node.kill()
        if not os.environ.get("EDGEBENCH_KEEP_RAY_LOGS"):  # debugging: keep the logs
            shutil.rmtree(self.root, ignore_errors=True)
