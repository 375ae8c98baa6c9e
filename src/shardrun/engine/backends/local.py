"""The embedded default: worker processes on this machine, supervised by the driver.

::

    driver (scheduler thread)                         python -m shardrun.worker (own session)
    ┌──────────────────────────┐ Task/[Task…]/None   ┌──────────────────────────────────┐
    │ LocalBackend             │ ──────────────────> │ recv → Worker.process            │
    │  one socket / slot       │ <────────────────── │   send [Started,] BatchResult    │
    │  + a pidfd per process   │   Event             │ dies with the driver (kernel)    │
    └──────────────────────────┘                     └──────────────────────────────────┘

One socket per worker, never a shared queue: a worker killed in the middle of a write can
only break its own. :meth:`LocalBackend.events` waits on every socket and every process's
exit at once (no polling). Workers are fresh interpreters (``python -m shardrun.worker``),
never forks of the driver (its threads, and Ray's, would deadlock a fork) and never a
``spawn`` that re-imports the caller's ``__main__``: a script needs no ``__main__`` guard.
Each worker starts its own session, so a Ctrl-C in the terminal reaches only the driver,
which then stops them. A killed worker takes down everything it started, in any session
(:mod:`~shardrun.engine.backends.processes`). A worker whose driver dies exits at once, even
inside a long C call (on Linux the kernel kills it; the thread that starts workers, the
scheduler's, must live until :meth:`LocalBackend.shutdown`, which it does); what its
``run()`` started is stopped by the run's next driver, when it starts its workers.

With ``node_count > 1`` the workers are grouped into simulated nodes (``node0``, ``node1``…)
on this machine, so that a multi-node job and its per-node logs can be tried on a laptop;
the Ray backend spreads real nodes.

GPUs follow Azure's rule: while they last, each worker slot gets one
(``CUDA_VISIBLE_DEVICES=<its GPU>``, kept by a replacement in the same slot); workers
beyond the GPU count get ``CUDA_VISIBLE_DEVICES=""`` (no GPU) rather than Azure's unset
variable, which would let every one of them use all GPUs. On a machine without GPUs nothing
is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from shardrun.engine.backends.base import Backend
from shardrun.engine.backends.processes import WorkerProcess, adopt_orphans, stop_leftovers
from shardrun.engine.messages import Event, Task, WorkerExited, WorkerSpec
from shardrun.errors import BackendError


@dataclass
class _Slot:
    process: WorkerProcess
    name: str
    conn_open: bool = True
    stopping: bool = False

    @property
    def conn(self) -> Connection:
        return self.process.conn


class LocalBackend(Backend):
    """Worker processes on this machine (the default backend)."""

    def __init__(self, nodes: int = 1) -> None:
        self._nodes = nodes
        self._per_node = 1
        self._token = uuid.uuid4().hex[:8]
        self._slots: dict[int, _Slot] = {}
        self._spec: WorkerSpec | None = None
        self._started = 0
        self._gpus = visible_gpus()

    @property
    def nodes(self) -> int:
        """Simulated nodes: groups of workers on this machine, named ``node0``, ``node1``…"""
        return self._nodes

    def start(self, spec: WorkerSpec, workers: int) -> None:
        """Start ``workers`` processes (see :meth:`Backend.start`)."""
        if self._spec is None:
            adopt_orphans(True)
        stop_leftovers(spec.run_dir)
        self._spec = spec
        self._per_node = max(1, workers // self._nodes)
        for slot in range(workers):
            self._launch(slot)

    def restart(self, worker: int) -> None:
        """Start a fresh process in an ended slot."""
        if worker in self._slots:
            raise BackendError(f"worker slot {worker} is still running; it cannot be restarted")
        self._launch(worker)

    def _launch(self, slot: int) -> None:
        if self._spec is None:
            raise BackendError("LocalBackend.start() must be called before workers launch")
        name = f"process{self._started:03d}"
        self._started += 1
        environment = dict(os.environ)
        gpu = self._gpu(slot)
        if gpu is not None:
            # Before the entry script imports a GPU library: it sees only its own GPU.
            environment["CUDA_VISIBLE_DEVICES"] = gpu
            environment["AZ_BATCHAI_GPU_COUNT_FOUND"] = "1" if gpu else "0"
        node = f"node{min(slot // self._per_node, self._nodes - 1)}"
        arguments = ["--driver", str(os.getpid()), "--slot", str(slot)]
        arguments += ["--node", node, "--name", name]
        marker = f"{os.getpid()}-{self._token}-{name}"
        process = WorkerProcess(arguments, environment, marker)
        slot_ = _Slot(process, name)
        self._slots[slot] = slot_
        try:
            process.conn.send(self._spec)
        except OSError:
            slot_.conn_open = False

    def _gpu(self, slot: int) -> str | None:
        """One GPU per worker slot while GPUs last (Azure's rule); the rest get none."""
        if not self._gpus:
            return None
        return self._gpus[slot] if slot < len(self._gpus) else ""

    def submit(self, worker: int, task: Task) -> None:
        """Send a task down the slot's socket (a dead worker's socket drops it)."""
        slot = self._slots.get(worker)
        if slot is None or not slot.conn_open:
            return
        try:
            slot.conn.send(task)
        except OSError:
            slot.conn_open = False

    def submit_many(self, worker: int, tasks: Sequence[Task]) -> None:
        """Send several tasks as one message (a list) down the slot's socket."""
        if len(tasks) == 1:
            self.submit(worker, tasks[0])
            return
        slot = self._slots.get(worker)
        if slot is None or not slot.conn_open or not tasks:
            return
        try:
            slot.conn.send(list(tasks))
        except OSError:
            slot.conn_open = False

    def events(self, timeout: float | None) -> list[Event]:
        """Wait on every socket and process exit (see :meth:`Backend.events`)."""
        waitables: dict[Any, int] = {}
        for number, slot in self._slots.items():
            if slot.conn_open:
                waitables[slot.conn] = number
            waitables[slot.process.sentinel] = number
        if not waitables:
            if timeout:
                time.sleep(timeout)
            return []
        events: list[Event] = []
        ready = wait(list(waitables), timeout)
        exited = []
        for handle in ready:
            number = waitables[handle]
            events.extend(self._drain(number))
            if handle is not self._slots[number].conn:
                exited.append(number)
        for number in exited:
            events.append(self._reap(number))
        return events

    def _drain(self, number: int) -> list[Event]:
        slot = self._slots[number]
        drained: list[Event] = []
        while slot.conn_open:
            try:
                if not slot.conn.poll():
                    break
                drained.append(slot.conn.recv())
            except (EOFError, OSError):
                slot.conn_open = False
        return drained

    def _reap(self, number: int) -> WorkerExited:
        slot = self._slots.pop(number)
        slot.process.close()
        return WorkerExited(number, slot.process.exitcode, slot.stopping)

    def kill(self, worker: int) -> None:
        """SIGKILL the slot's process and everything it started, in any session."""
        slot = self._slots.get(worker)
        if slot is not None:
            slot.process.kill()

    def shutdown(self, graceful: bool = True, timeout: float = 10.0) -> None:
        """Stop every worker; kill those that do not end within ``timeout``."""
        for slot in self._slots.values():
            slot.stopping = True
            if graceful and slot.conn_open:
                try:
                    slot.conn.send(None)
                except OSError:
                    slot.conn_open = False
            else:
                slot.process.kill()
        deadline = time.monotonic() + timeout
        for slot in self._slots.values():
            if not slot.process.join(max(0.0, deadline - time.monotonic())):
                slot.process.kill()
            slot.process.close()
        self._slots.clear()
        if self._spec is not None:
            adopt_orphans(False)
            self._spec = None


def visible_gpus() -> list[str]:
    """The GPUs this driver may hand out: its ``CUDA_VISIBLE_DEVICES``, else ``nvidia-smi``'s."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip()]
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return []
    try:
        found = subprocess.run(
            [nvidia_smi, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in found.stdout.splitlines() if line.strip()]
