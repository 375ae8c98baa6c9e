"""The embedded default: worker processes on this machine, supervised by the driver.

::

    driver (scheduler thread)                         worker process (spawned, own session)
    ┌──────────────────────────┐   Task / None       ┌──────────────────────────────────┐
    │ LocalBackend             │ ──────────────────> │ _serve: recv → Worker.process    │
    │  one duplex Pipe / slot  │ <────────────────── │   send Started, BatchResult      │
    │  + the process sentinel  │   Event             │ watch thread: driver gone → exit │
    └──────────────────────────┘                     └──────────────────────────────────┘

One pipe per worker, never a shared queue: a worker killed in the middle of a write can only
break its own pipe. :meth:`LocalBackend.events` waits on every pipe and every process
sentinel at once (no polling). Workers start with ``spawn`` (never ``fork``: threads in the
driver, and Ray, deadlock after a fork) and call ``setsid()`` so that a kill takes the whole
process group (anything ``run()`` started) and a Ctrl-C in the terminal reaches only the
driver, which then stops them. A worker whose driver dies exits at once.

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

import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from shardrun.engine.backends.base import Backend
from shardrun.engine.messages import Event, Started, Task, WorkerExited, WorkerFailed, WorkerSpec
from shardrun.errors import BackendError
from shardrun.worker.loop import Worker


@dataclass
class _Slot:
    process: BaseProcess
    conn: Connection
    name: str
    conn_open: bool = True
    stopping: bool = False


class LocalBackend(Backend):
    """Worker processes on this machine (the default backend)."""

    def __init__(self, nodes: int = 1) -> None:
        self._nodes = nodes
        self._per_node = 1
        self._context = multiprocessing.get_context("spawn")
        self._slots: dict[int, _Slot] = {}
        self._spec: WorkerSpec | None = None
        self._started = 0
        self._gpus = visible_gpus()

    @property
    def nodes(self) -> int:
        """Simulated nodes: groups of workers on this machine, named ``node0``, ``node1``…"""
        return self._nodes

    def start(self, spec: WorkerSpec, workers: int) -> None:
        """Spawn ``workers`` processes (see :meth:`Backend.start`)."""
        self._spec = spec
        self._per_node = max(1, workers // self._nodes)
        for slot in range(workers):
            self._launch(slot)

    def restart(self, worker: int) -> None:
        """Spawn a fresh process in an ended slot."""
        if worker in self._slots:
            raise BackendError(f"worker slot {worker} is still running; it cannot be restarted")
        self._launch(worker)

    def _launch(self, slot: int) -> None:
        if self._spec is None:
            raise BackendError("LocalBackend.start() must be called before workers launch")
        name = f"process{self._started:03d}"
        self._started += 1
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve,
            args=(
                child,
                self._spec,
                slot,
                f"node{min(slot // self._per_node, self._nodes - 1)}",
                name,
                self._gpu(slot),
            ),
            name=f"shardrun-{name}",
            daemon=False,
        )
        process.start()
        child.close()
        self._slots[slot] = _Slot(process, parent, name)

    def _gpu(self, slot: int) -> str | None:
        """One GPU per worker slot while GPUs last (Azure's rule); the rest get none."""
        if not self._gpus:
            return None
        return self._gpus[slot] if slot < len(self._gpus) else ""

    def submit(self, worker: int, task: Task) -> None:
        """Send a task down the slot's pipe (a dead worker's pipe drops it)."""
        slot = self._slots.get(worker)
        if slot is None or not slot.conn_open:
            return
        try:
            slot.conn.send(task)
        except OSError:
            slot.conn_open = False

    def events(self, timeout: float | None) -> list[Event]:
        """Wait on every pipe and process sentinel (see :meth:`Backend.events`)."""
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
        slot.process.join()
        slot.conn.close()
        return WorkerExited(number, slot.process.exitcode, slot.stopping)

    def kill(self, worker: int) -> None:
        """SIGKILL the slot's whole process group."""
        slot = self._slots.get(worker)
        if slot is not None and slot.process.pid is not None:
            _kill_group(slot.process.pid)

    def shutdown(self, graceful: bool = True, timeout: float = 10.0) -> None:
        """Stop every worker; kill those that do not end within ``timeout``."""
        for slot in self._slots.values():
            slot.stopping = True
            if graceful and slot.conn_open:
                try:
                    slot.conn.send(None)
                except OSError:
                    slot.conn_open = False
            elif slot.process.pid is not None:
                _kill_group(slot.process.pid)
        deadline = time.monotonic() + timeout
        for slot in self._slots.values():
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.exitcode is None and slot.process.pid is not None:
                _kill_group(slot.process.pid)
                slot.process.join()
            slot.conn.close()
        self._slots.clear()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _exit_with_driver() -> None:
    """Exit this worker (and what it started) as soon as the driver process ends."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="shardrun-driver-watch", daemon=True).start()


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


def _serve(
    conn: Connection, spec: WorkerSpec, slot: int, node: str, name: str, gpu: str | None
) -> None:
    """A worker process's main function."""
    if gpu is not None:
        # Before the entry script imports a GPU library: it sees only its own GPU.
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        os.environ["AZ_BATCHAI_GPU_COUNT_FOUND"] = "1" if gpu else "0"
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_driver()
    worker = Worker(spec, slot, node, name)
    worker.redirect_output()
    worker.prepare_environment()
    first = worker.start()
    conn.send(first)
    if isinstance(first, WorkerFailed):
        os._exit(72 if first.phase == "init" else 73)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            worker.stop()
            break

        def started(at: float, task: Task = task) -> None:
            conn.send(Started(slot, task.batch.index, task.attempt, at))

        result = worker.process(task, started)
        conn.send(result)
    conn.close()
