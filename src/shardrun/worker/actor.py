"""Inside a Ray actor: the same :class:`~shardrun.worker.loop.Worker` as a local process.

The Ray backend (:mod:`shardrun.engine.backends.ray`) makes :class:`ActorHost` a Ray actor;
this module does not import Ray. The host differs from a local worker process in two ways:
``process`` is a generator (Ray streams what it yields: ``Started`` when ``run()`` begins,
then the result), and a part's encoded bytes go back to the driver with the result instead
of into a spill file on this node, whose disk the driver may not see.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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
        self, spec: WorkerSpec, slot: int, node: str, name: str, inherited: dict[str, str]
    ) -> None:
        # What a local worker inherits from the driver's environment (datastore secrets…).
        os.environ.update(inherited)
        self._sink = _Held()
        self._worker = Worker(spec, slot, node, name, sink=self._sink)

    def start(self) -> WorkerReady | WorkerFailed:
        """Import the entry script and call its ``init()``.

        What ``run()`` starts needs no care here: when the actor's process ends (a crash, or
        ``ray.kill`` at the timeout), Ray's raylet ends its process tree
        (``kill_child_processes_on_worker_exit``, on by default).
        """
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
        if gpus is not None:
            os.environ["AZ_BATCHAI_GPU_COUNT_FOUND"] = str(len([g for g in gpus.split(",") if g]))
        self._worker.redirect_output()
        self._worker.prepare_environment()
        return self._worker.start()

    def process(self, task: Task) -> Iterator[Started | tuple[BatchResult, bytes | None]]:
        """One attempt: yields Started when run() begins, then the result and its bytes."""
        for step in self._worker.attempt(task):
            if isinstance(step, BatchResult):
                yield step, self._sink.take()
                return
            yield Started(self._worker.slot, task.batch.index, task.attempt, step)

    def process_whole(self, task: Task) -> tuple[BatchResult, bytes | None]:
        """One attempt in one call, for a driver on Ray Client (which cannot stream)."""
        for step in self._worker.attempt(task):
            if isinstance(step, BatchResult):
                return step, self._sink.take()
        raise RuntimeError(f"mini-batch {task.batch.index} ended without a result")

    def stop(self) -> None:
        """Call the script's shutdown() (the driver then ends the actor)."""
        self._worker.stop()


__all__ = ["ActorHost"]
