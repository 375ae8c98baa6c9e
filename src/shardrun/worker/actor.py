"""Inside a Ray actor: the same :class:`~shardrun.worker.loop.Worker` as a local process.

The Ray backend (:mod:`shardrun.engine.backends.ray`) makes :class:`ActorHost` a Ray actor;
this module does not import Ray. The host differs from a local worker process in two ways:
``process`` is a generator (Ray streams what it yields: ``Started`` when ``run()`` begins,
then the result), and a part's encoded bytes go back to the driver with the result instead
of into a spill file on this node, whose disk the driver may not see. When the node does not
see the run folder either, the actor's logs go to a folder of the node and travel back with
its replies (:mod:`shardrun.worker.shipped_logs`): every reply ends with a ``Shipment``.
The driver cannot see the actor's process, so the actor samples its own CPU and memory (a
:class:`~shardrun.worker.usage.SelfSampler` thread, from ``start`` to ``stop``) into its
node's ``logs/perf/<node>/processes_resource_usage.csv``, which travels like its logs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from shardrun.engine.messages import (
    BatchResult,
    Part,
    Started,
    Task,
    WorkerFailed,
    WorkerReady,
    WorkerSpec,
)
from shardrun.worker.loop import Worker
from shardrun.worker.shipped_logs import LogShipper, Shipment, shares_run_folder
from shardrun.worker.usage import SelfSampler, perf_path


class _Held:
    """A part sink that keeps the last part's bytes for the actor to return."""

    def __init__(self) -> None:
        self.data: bytes | None = None

    def append(self, data: bytes) -> Part:
        self.data = data
        return Part("", 0, len(data))

    def take(self) -> bytes | None:
        data, self.data = self.data, None
        return data

    def close(self) -> None:
        self.data = None


class ActorHost:
    """A Ray actor's body: one :class:`~shardrun.worker.loop.Worker`, as in a local process."""

    def __init__(
        self,
        spec: WorkerSpec,
        slot: int,
        node: str,
        name: str,
        inherited: dict[str, str],
        probe: str | None = None,
    ) -> None:
        # What a local worker inherits from the driver's environment (datastore secrets…).
        os.environ.update(inherited)
        self._sink = _Held()
        self._worker = Worker(spec, slot, node, name, sink=self._sink)
        self._probe = probe
        self._shipper: LogShipper | None = None
        self._sampler: SelfSampler | None = None

    def _logs(self, last: bool = False) -> Shipment:
        """The log bytes to send with this reply (none when the node sees the run folder)."""
        if last and self._sampler is not None:
            self._sampler.stop()  # its last row goes with the last logs
            self._sampler = None
        if self._shipper is None:
            return ()
        sys.stdout.flush()
        sys.stderr.flush()
        if last:
            shipment, self._shipper = self._shipper.close(), None
            return shipment
        return self._shipper.take()

    def start(self) -> tuple[WorkerReady | WorkerFailed, Shipment]:
        """Import the entry script and call its ``init()``.

        What ``run()`` starts needs no care here: when the actor's process ends (a crash, or
        ``ray.kill`` at the timeout), Ray's raylet ends its process tree
        (``kill_child_processes_on_worker_exit``, on by default).
        """
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
        if gpus is not None:
            os.environ["AZ_BATCHAI_GPU_COUNT_FOUND"] = str(len([g for g in gpus.split(",") if g]))
        spec, worker = self._worker.spec, self._worker
        root = spec.run_dir
        if shares_run_folder(spec.run_dir, self._probe):
            worker.redirect_output()
        else:
            self._shipper = LogShipper(spec.run_dir, worker.name)
            root = str(self._shipper.root)
            worker.redirect_output(root)
            note = logging.getLogger("shardrun.worker.loop")  # the worker's sys log
            note.info("logs written in %s and shipped to the driver", self._shipper.root)
        if spec.resource_monitor_interval > 0:  # init() included
            path = perf_path(Path(root) / "logs", worker.node)
            self._sampler = SelfSampler(
                path, worker.node, worker.name, spec.resource_monitor_interval
            )
            self._sampler.start()
        self._worker.prepare_environment()
        event = self._worker.start()
        return event, self._logs(last=isinstance(event, WorkerFailed))

    def process(self, task: Task) -> Iterator[Started | tuple[BatchResult, bytes | None, Shipment]]:
        """One attempt: yields Started when run() begins, then the result, bytes and logs."""
        for step in self._worker.attempt(task):
            if isinstance(step, BatchResult):
                yield step, self._sink.take(), self._logs()
                return
            yield Started(self._worker.slot, task.batch.index, task.attempt, step)

    def process_whole(self, task: Task) -> tuple[BatchResult, bytes | None, Shipment]:
        """One attempt in one call, for a driver on Ray Client (which cannot stream)."""
        for step in self._worker.attempt(task):
            if isinstance(step, BatchResult):
                return step, self._sink.take(), self._logs()
        raise RuntimeError(f"mini-batch {task.batch.index} ended without a result")

    def stop(self) -> Shipment:
        """Call the script's shutdown() (the driver then ends the actor); the last logs."""
        self._worker.stop()
        return self._logs(last=True)


__all__ = ["ActorHost"]
