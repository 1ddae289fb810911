"""A real multi-node Ray cluster on this machine, for the cluster tests.

`local_ray_cluster()` runs `ray start --head` and one `ray start --address` per worker node, each a separate raylet
with its own CPUs and object store, exactly as on separate machines. Every process it starts carries a private
marker in its environment (`G4R_TEST_RAY_NODE`), inherited by raylets and the Ray workers they spawn (which leave
the process group), so teardown and `kill_node` find and signal exactly the processes this harness started, by PID.
It never runs a global `ray stop`. Token auth is on (Ray 2.60 requires it) with a token of its own, passed in the
environment, never written to ~/.ray.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKER = "G4R_TEST_RAY_NODE"
_STARTED = "Ray runtime started"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _marked_pids(value: str) -> list[int]:
    """PIDs of live processes whose environment holds MARKER=value (read from /proc, so Linux only)."""
    needle = f"{MARKER}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:  # exited meanwhile, or not ours to read
            continue
    return found


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass
class RayNode:
    """One `ray start --block` process and everything it spawned."""

    name: str
    marker: str
    process: subprocess.Popen
    log_path: Path

    def pids(self) -> list[int]:
        return _marked_pids(self.marker)

    def node_id(self) -> str:
        """The Ray node id (hex), read from this node's raylet command line (`--node_id=...`)."""
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            for arg in args:
                if arg.startswith("--node_id="):
                    return arg.split("=", 1)[1]
        raise RuntimeError(f"no raylet found for ray node {self.name}")

    def kill(self) -> list[int]:
        """SIGKILL every process of this node at once: the node is lost, as when a machine dies."""
        pids = self.pids()
        _signal_all(pids, signal.SIGKILL)
        self.process.wait(timeout=30)
        return pids


@dataclass
class LocalRayCluster:
    """A running cluster: `address` for `ray.init`/`--address`, `env` for drivers (token auth, PYTHONPATH)."""

    address: str
    env: dict[str, str]
    temp_dir: Path
    head: RayNode
    workers: list[RayNode] = field(default_factory=list)

    @property
    def nodes(self) -> list[RayNode]:
        return [self.head, *self.workers]

    def logs_tail(self, n_chars: int = 3000) -> str:
        """The end of every node's `ray start` output, for assertion messages."""
        parts = []
        for node in self.nodes:
            text = node.log_path.read_text(errors="replace") if node.log_path.exists() else ""
            parts.append(f"--- {node.name} ---\n{text[-n_chars:]}")
        return "\n".join(parts)


def cluster_env(token: str) -> dict[str, str]:
    """The environment every node and driver of the test cluster needs."""
    env = dict(os.environ)
    env.pop(MARKER, None)
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        RAY_USAGE_STATS_ENABLED="0",
        # Workers on every node import g4r_tune from this checkout (as an installed package would on a real cluster).
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    )
    return env


def _die_with_parent() -> None:
    """Runs in the forked `ray start`: if the test process dies without tearing down (pytest killed), the node gets
    SIGKILL, and Ray's reaper then takes that node's processes down with it."""
    with suppress(Exception):  # Linux only; elsewhere a killed test may leave nodes behind
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG


def _launch_node(name: str, args: list[str], env: dict[str, str], temp_dir: Path, run_id: str) -> RayNode:
    marker = f"{run_id}-{name}"
    log_path = temp_dir / f"{name}.out"
    ray_cli = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]  # this interpreter's Ray
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*ray_cli, "start", "--block", *args],
            env={**env, MARKER: marker},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the test terminal must not reach the nodes directly
            preexec_fn=_die_with_parent,
        )
    return RayNode(name, marker, process, log_path)


def _wait_started(nodes: list[RayNode], timeout_s: float) -> None:
    """Wait until every node's `ray start` says the runtime started; raise with its output if one fails."""
    deadline = time.monotonic() + timeout_s
    waiting = list(nodes)
    while waiting:
        for node in list(waiting):
            if _STARTED in node.log_path.read_text(errors="replace"):
                waiting.remove(node)
            elif node.process.poll() is not None or time.monotonic() > deadline:
                output = node.log_path.read_text(errors="replace")[-3000:]
                code = node.process.poll()
                why = f"exited with code {code}" if code is not None else f"not up after {timeout_s:.0f} s"
                raise RuntimeError(f"ray node {node.name} {why}:\n{output}")
        time.sleep(0.25)


def _stop_all(nodes: list[RayNode], grace_s: float = 5.0) -> None:
    """SIGTERM every process of every node at once, SIGKILL what is left after `grace_s`."""
    _signal_all([pid for node in nodes for pid in node.pids()], signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(node.pids() for node in nodes) and time.monotonic() < deadline:
        time.sleep(0.2)
    _signal_all([pid for node in nodes for pid in node.pids()], signal.SIGKILL)
    for node in nodes:
        with suppress(subprocess.TimeoutExpired):
            node.process.wait(timeout=10)


def _common_args(cpus: int, object_store_mb: int, temp_dir: Path) -> list[str]:
    return [
        f"--num-cpus={cpus}",
        "--num-gpus=0",
        f"--object-store-memory={object_store_mb * 1024 * 1024}",
        f"--temp-dir={temp_dir}",
        f"--dashboard-agent-listen-port={_free_port()}",  # nodes share one host: avoid the fixed default
        "--disable-usage-stats",
    ]


@contextmanager
def local_ray_cluster(
    n_workers: int = 2,
    cpus_per_node: int = 1,
    object_store_mb: int = 100,
    start_timeout_s: float = 90.0,
) -> Iterator[LocalRayCluster]:
    """Start a head plus `n_workers` worker nodes (separate raylets) on this machine; tear them all down after.

    The temp dir is short and private (`/tmp/g4rc...`): Unix socket paths must stay under ~107 characters.
    """
    temp_dir = Path(tempfile.mkdtemp(prefix="g4rc", dir="/tmp"))
    run_id = secrets.token_hex(6)
    env = cluster_env(secrets.token_hex(32))
    nodes: list[RayNode] = []

    def start(name: str, args: Callable[[], list[str]]) -> RayNode:
        # Ray gives a raylet a fixed 30 s to register with the GCS; on a loaded machine that can run out: retry once.
        for attempt in (1, 2):
            node = _launch_node(name if attempt == 1 else f"{name}-retry", args(), env, temp_dir, run_id)
            nodes.append(node)
            try:
                _wait_started([node], start_timeout_s)
                return node
            except RuntimeError:
                _stop_all([node], grace_s=1)
                nodes.remove(node)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    try:
        port = 0

        def head_args() -> list[str]:
            nonlocal port
            port = _free_port()
            common = _common_args(cpus_per_node, object_store_mb, temp_dir)
            return ["--head", f"--port={port}", "--include-dashboard=false", *common]

        head = start("head", head_args)
        address = f"127.0.0.1:{port}"

        def worker_args() -> list[str]:
            return [f"--address={address}", *_common_args(cpus_per_node, object_store_mb, temp_dir)]

        workers = [start(f"worker{i + 1}", worker_args) for i in range(n_workers)]
        yield LocalRayCluster(address, env, temp_dir, head, workers)
    finally:
        _stop_all(nodes)
        shutil.rmtree(temp_dir, ignore_errors=True)
