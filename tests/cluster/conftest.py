"""A real two-node Ray cluster on 127.0.0.1, started once per session and stopped by PID.

Ray must never start in the machine's own network namespace (it probes cloud metadata
addresses and swaps 127.0.0.1 for the external address), so these tests run only where
``make test`` runs them: inside ``unshare -n -p -f --mount-proc`` with ``SHARDRUN_RAY_TESTS=1``
(see the Makefile's ``ray-tests``). Anywhere else they are skipped, with that reason.

The cluster: a head (``--resources='{"head": 1}'``) and a second node started with
``ray start --address`` (``{"node1": 1}``, and one logical GPU), each ``ray start --block``
a child of this process, with this checkout's ``src`` on the actors' ``PYTHONPATH``. Tests
that need a node of their own (node failure) add one with :meth:`Cluster.add_node` and kill
its raylet.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import shardrun

PORT = 6390
ADDRESS = f"127.0.0.1:{PORT}"
CLIENT_PORT = 10001
CLIENT_ADDRESS = f"ray://127.0.0.1:{CLIENT_PORT}"
RAY = str(Path(sys.executable).with_name("ray"))
REASON = (
    "Ray tests run only inside a private network namespace with SHARDRUN_RAY_TESTS=1 "
    "(`make ray-tests`); Ray must not start in the machine's own namespace"
)


class Cluster:
    """The session's Ray processes (``ray start --block``), stopped by PID."""

    def __init__(self, temp_dir: Path) -> None:
        self.address = ADDRESS
        self.temp_dir = temp_dir
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}
        src = str(Path(shardrun.__file__).parents[1])
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
            # Find a dead node in seconds, not the default half a minute.
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "4",
            # A loaded CI machine can take longer than the default 30 s to start the Ray
            # Client server a client connection gets.
            "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180",
        }

    def _start(self, label: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.temp_dir / f"{label}.log", "wb")  # noqa: SIM115 - the child keeps it
        command = [
            RAY, "start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=4",
            f"--resources={json.dumps({label: 1})}", "--object-store-memory=100000000",
            "--disable-usage-stats", *args,
        ]  # fmt: skip
        process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.nodes[label] = process
        return process

    def start_head(self) -> None:
        self._start(
            "head",
            "--head",
            f"--port={PORT}",
            f"--ray-client-server-port={CLIENT_PORT}",
            "--include-dashboard=false",
            f"--temp-dir={self.temp_dir / 'ray'}",
        )

    def add_node(self, label: str, expect: int, *args: str) -> None:
        """Start a node labelled ``label`` (``args``: more ``ray start`` options); wait until
        ``expect`` nodes are alive."""
        self._start(label, f"--address={ADDRESS}", *args)
        self.wait_for_nodes(expect)

    def wait_for_nodes(self, expect: int, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            alive = self.alive_labels()
            if len(alive) == expect:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {expect} Ray nodes alive; got {sorted(alive)}")
            time.sleep(0.5)

    def alive_labels(self) -> set[str]:
        """The labels of the nodes alive now (a short-lived driver connection)."""
        probe = (
            "import json, ray\n"
            f"ray.init(address={ADDRESS!r}, logging_level='ERROR', log_to_driver=False)\n"
            "print(json.dumps([sorted(set(n['Resources']) - {'CPU', 'GPU', 'memory', "
            "'object_store_memory'}) for n in ray.nodes() if n['Alive']]))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=self.env
        )
        if done.returncode != 0:
            return set()
        listed = json.loads(done.stdout.strip().splitlines()[-1])
        return {r for resources in listed for r in resources if not r.startswith("node:")}

    def kill_raylet(self, label: str) -> int:
        """SIGKILL the raylet of the node labelled ``label``; returns its PID."""
        root = psutil.Process(self.nodes[label].pid)
        for child in root.children(recursive=True):
            if child.name() == "raylet":
                child.send_signal(signal.SIGKILL)
                return child.pid
        raise LookupError(f"node {label!r} has no raylet")

    def stop(self) -> None:
        """Stop every ``ray start --block`` (and what it started) by PID."""
        for process in reversed(list(self.nodes.values())):
            tree = []
            with contextlib.suppress(psutil.NoSuchProcess):
                tree = psutil.Process(process.pid).children(recursive=True)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for child in tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    """The head and a second node; skipped outside the Ray test namespace."""
    if os.environ.get("SHARDRUN_RAY_TESTS") != "1":
        pytest.skip(REASON)
    # Only here: collecting these tests must not import Ray (``import shardrun`` never does).
    pytest.importorskip("ray")
    temp_dir = Path(tempfile.mkdtemp(prefix="srray-"))
    cluster = Cluster(temp_dir)
    try:
        cluster.start_head()
        # One logical GPU: Ray schedules what it is told a node has, so gpus_per_worker is
        # tested without a device (Ray still sets CUDA_VISIBLE_DEVICES for the actor).
        cluster.add_node("node1", 2, "--num-gpus=1")
        os.environ["RAY_ADDRESS"] = ADDRESS
        yield cluster
    finally:
        os.environ.pop("RAY_ADDRESS", None)
        cluster.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _needs_the_cluster(ray_cluster: Cluster) -> None:
    """Every test here runs on the session's cluster (or is skipped with the reason)."""
