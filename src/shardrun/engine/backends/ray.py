"""The Ray backend: one Ray actor per worker process, spread over the nodes of a Ray cluster.

::

    driver (scheduler thread)                           Ray actor (one per slot, on its node)
    ┌────────────────────────────┐  process(Task)      ┌───────────────────────────────────┐
    │ RayBackend                 │ ──────────────────> │ ActorHost: the same Worker as a   │
    │  per slot: the actor, its  │   (a streaming      │ local process: init() once, then  │
    │  start() ref and a queue   │    generator call)  │ attempt() yields Started, then    │
    │  of generator calls        │ <────────────────── │ (BatchResult, encoded bytes)      │
    │  spill file on the driver  │  Started, result    │                                   │
    └────────────────────────────┘                     └───────────────────────────────────┘

With a driver on Ray Client (``ray://``), which cannot stream actor calls, an attempt is one
plain call (``process_whole``) and the backend itself reports ``Started`` when the call
becomes its slot's oldest: the timeout then also covers reading the inputs.

Placement: a placement group with one bundle per node (``STRICT_SPREAD``, so ``node_count``
distinct nodes), each bundle holding its node's ``process_count_per_node`` workers (1 CPU
and ``gpus_per_worker`` GPUs each; Ray sets ``CUDA_VISIBLE_DEVICES``). Nodes are named
``node0``, ``node1``… after their bundle; logs go to ``logs/user/…/<node>/``: an actor
writes them there when its node sees the run folder, else on its node, and ships them back
with its replies (:mod:`shardrun.worker.shipped_logs`); the driver appends them there. The
actors sample their own CPU and memory the same way (:mod:`shardrun.worker.usage`).

Data: the driver sends mini-batch descriptors only; each actor reads its own inputs (a folder
every node sees, or Azure Blob / S3 / GCS). Output comes back through Ray: the actor returns
each part's encoded bytes, and the driver appends them to its own spill file, so a part is
on the driver's disk (and fsynced by the scheduler's group commit) before the ledger calls it
done. A node never needs to see the driver's disk for output.

Failures: an actor that dies (a crash, ``ray.kill`` at the scheduler's timeout, its node
removed) ends its calls with an error, and the slot reports ``WorkerExited``; the scheduler
retries, exactly as for a local process. A replacement goes into the slot's bundle; when that
bundle's node is gone for good, the slot moves to the least loaded remaining node (no CPU
reserved there: that node now runs more workers) and ``logs/sys/ray_backend.txt`` says so.
Actors belong to the driver: when it dies, Ray ends them, so a resumed run never meets them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ray
from ray.util.placement_group import remove_placement_group
from ray.util.scheduling_strategies import (
    NodeAffinitySchedulingStrategy,
    PlacementGroupSchedulingStrategy,
)

from shardrun.engine.backends import ray_cluster as cluster
from shardrun.engine.backends.base import Backend
from shardrun.engine.messages import Event, Started, Task, WorkerExited, WorkerFailed, WorkerSpec
from shardrun.errors import BackendError, ConfigError
from shardrun.worker import shipped_logs
from shardrun.worker.actor import ActorHost
from shardrun.worker.results import SpillFile

log = logging.getLogger(__name__)

#: How often a starting slot checks that its node is still alive.
NODE_CHECK_EVERY = 1.0


_Actor: Any = ray.remote(max_restarts=0, max_task_retries=0)(ActorHost)


@dataclass
class _Slot:
    actor: Any
    node: str
    node_id: str
    start: Any = None
    calls: deque[Any] = field(default_factory=deque)
    #: Ray Client only: the tasks of ``calls``, and whether the head's Started was sent.
    tasks: deque[Task] = field(default_factory=deque)
    announced: bool = False
    stop: Any = None
    stopping: bool = False


class RayBackend(Backend):
    """Ray actors on a Ray cluster (see the module docstring).

    Args:
        nodes: ``node_count``: the workers are spread over this many distinct nodes.
        address: The cluster: ``"auto"``/None (``RAY_ADDRESS``, else the cluster this
            machine runs; with none, a local Ray instance is started for a try-out),
            ``"host:port"`` (the head's GCS) or ``"ray://host:port"`` (Ray Client).
        gpus_per_worker: GPUs each actor asks for (Ray sets ``CUDA_VISIBLE_DEVICES``).
        runtime_env: Ray's ``runtime_env`` for the run's actors.
    """

    workers_sample_themselves = True

    def __init__(
        self,
        nodes: int = 1,
        address: str | None = None,
        gpus_per_worker: float | None = None,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        self._nodes = nodes
        self._address = address
        self._gpus = gpus_per_worker or 0
        self._runtime_env = runtime_env
        self._slots: dict[int, _Slot] = {}
        self._pending: list[Event] = []
        self._spec: WorkerSpec | None = None
        self._spill: SpillFile | None = None
        self._group: Any = None
        self._bundle_nodes: list[str] = []
        self._names: dict[str, str] = {}
        self._per_node = 1
        self._started = 0
        self._connected = False
        self._client = False
        self._last_check = 0.0
        self._probe: str | None = None
        self._log: logging.Logger = log

    @property
    def nodes(self) -> int:
        """The Ray nodes the workers are spread over (``node_count``)."""
        return self._nodes

    # -- starting ------------------------------------------------------------------------

    def start(self, spec: WorkerSpec, workers: int) -> None:
        """Reserve one bundle per node, then start one actor per slot.

        Waits until the cluster has reserved the workers' resources (up to
        :data:`~shardrun.engine.backends.ray_cluster.PLACEMENT_WAIT` seconds), then returns;
        actors start in the background.

        Raises:
            ConfigError: No cluster at the address, fewer live nodes than ``node_count``, or
                too few resources to reserve in time (before any worker starts).
        """
        self._spec = spec
        self._log = cluster.run_log(spec.run_dir)
        self._probe = shipped_logs.write_probe(spec.run_dir)
        try:
            self._reserve(workers)
        except ConfigError:
            self.shutdown(graceful=False)
            raise
        for slot in range(workers):
            self._launch(slot)

    def _reserve(self, workers: int) -> None:
        self._connected = cluster.connect(self._address, self._runtime_env, self._log)
        self._client = cluster.through_client()
        self._per_node = max(1, workers // self._nodes)
        counts = [0] * self._nodes
        for slot in range(workers):
            counts[self._node_index(slot)] += 1
        self._group, self._bundle_nodes = cluster.reserve(counts, self._gpus)
        for index, node_id in enumerate(self._bundle_nodes):
            self._names[node_id] = f"node{index}"
            self._log.info("node%d is Ray node %s (%d worker(s))", index, node_id, counts[index])
        run_dir = Path(self._spec.run_dir if self._spec else ".")
        self._spill = SpillFile(run_dir / "parts" / f"ray-driver-{os.getpid()}.spill")

    def _node_index(self, slot: int) -> int:
        return min(slot // self._per_node, self._nodes - 1)

    def _launch(self, slot: int) -> None:
        if self._spec is None:
            raise BackendError("RayBackend.start() must be called before workers launch")
        index = self._node_index(slot)
        node_id = self._bundle_nodes[index]
        alive = cluster.alive_nodes()
        options: dict[str, Any] = {"num_gpus": self._gpus}
        if node_id in alive:
            options["num_cpus"] = 1
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                self._group, placement_group_bundle_index=index
            )
        else:
            node_id = self._least_loaded(alive)
            options["num_cpus"] = 0
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=False)
            message = (
                f"node{index} ({self._bundle_nodes[index]}) is gone; worker slot {slot} moves "
                f"to {self._names[node_id]}"
            )
            self._log.warning(message)
        node = self._names[node_id]
        name = f"process{self._started:03d}"
        self._started += 1
        actor = _Actor.options(**options).remote(
            self._spec, slot, node, name, cluster.inherited(), self._probe
        )
        self._slots[slot] = _Slot(actor, node, node_id, start=actor.start.remote())

    def _least_loaded(self, alive: set[str]) -> str:
        busy = [slot.node_id for slot in self._slots.values()]
        return cluster.least_loaded(self._names, busy, alive)

    def restart(self, worker: int) -> None:
        """Start a fresh actor in an ended slot (on its node, or a remaining one)."""
        if worker in self._slots:
            raise BackendError(f"worker slot {worker} is still running; it cannot be restarted")
        self._launch(worker)

    # -- tasks and events ----------------------------------------------------------------

    def submit(self, worker: int, task: Task) -> None:
        """Call the actor's ``process`` (a dead or stopping actor's slot drops the task)."""
        slot = self._slots.get(worker)
        if slot is None or slot.stopping:
            return
        if self._client:
            slot.calls.append(slot.actor.process_whole.remote(task))
            slot.tasks.append(task)
        else:
            # Backpressure 1: the actor goes on (into run()) only once the driver has taken
            # Started, so a crash inside run() cannot lose it (Ray reports a yield
            # asynchronously); events then arrive as the worker sent them, as on a pipe.
            call = slot.actor.process.options(
                num_returns="streaming", _generator_backpressure_num_objects=1
            )
            slot.calls.append(call.remote(task))

    def events(self, timeout: float | None) -> list[Event]:
        """Wait on each slot's oldest outstanding call (see :meth:`Backend.events`)."""
        if self._pending:
            queued, self._pending = self._pending, []
            return queued
        self._check_starting_nodes()
        if self._client:
            self._announce()
            if self._pending:
                queued, self._pending = self._pending, []
                return queued
        heads = {n: ref for n, slot in self._slots.items() if (ref := _head(slot)) is not None}
        if not heads:
            if timeout:
                time.sleep(timeout)
            return []
        waitables = list(heads.values())
        wait = NODE_CHECK_EVERY if timeout is None else min(timeout, NODE_CHECK_EVERY)
        ready, _ = ray.wait(waitables, num_returns=1, timeout=wait)
        if not ready:
            return []
        ready, _ = ray.wait(waitables, num_returns=len(waitables), timeout=0)
        events: list[Event] = []
        for number, ref in heads.items():
            if any(ref is r or ref == r for r in ready):  # Ray Client returns copies
                events.extend(self._take(number))
        events.extend(self._pending)
        self._pending = []
        return events

    def _take(self, number: int) -> list[Event]:
        """What a slot's ready head call gave; then its next calls, while they are ready."""
        events: list[Event] = []
        slot = self._slots[number]
        while (head := _head(slot)) is not None and ray.wait([head], timeout=0)[0]:
            try:
                if head is slot.start:
                    slot.start = None
                    first, logs = ray.get(head)
                    self._land(logs)
                    events.append(first)
                    if isinstance(first, WorkerFailed):
                        code = 72 if first.phase == "init" else 73
                        events.append(self._end(number, code))
                        break
                elif head is slot.stop:
                    self._land(ray.get(head))
                    events.append(self._end(number, 0))
                    break
                else:
                    events.extend(self._step(number, slot, head))
            except ray.exceptions.RayError as e:
                why = cluster.first_line(e)
                self._log.info("worker slot %d (%s) ended: %s", number, slot.node, why)
                events.append(self._end(number, None))
                break
        return events

    def _step(self, number: int, slot: _Slot, call: Any) -> list[Event]:
        if self._client:
            return self._whole(number, slot, call)
        try:
            item = ray.get(next(call))
        except StopIteration:
            slot.calls.popleft()
            return []
        if isinstance(item, Started):
            return [item]
        slot.calls.popleft()
        result, data, logs = item
        self._land(logs)
        if data is not None and self._spill is not None:
            result = replace(result, part=self._spill.append(data))
        return [result]

    def _whole(self, number: int, slot: _Slot, call: Any) -> list[Event]:
        """Ray Client: one call gives the whole attempt; Started is the driver's own."""
        events: list[Event] = [] if slot.announced else [self._start_of_head(number, slot)]
        result, data, logs = ray.get(call)
        self._land(logs)
        slot.calls.popleft()
        slot.tasks.popleft()
        slot.announced = False
        if data is not None and self._spill is not None:
            result = replace(result, part=self._spill.append(data))
        return [*events, result]

    def _land(self, logs: shipped_logs.Shipment) -> None:
        if logs and self._spec is not None:
            shipped_logs.land(self._spec.run_dir, logs)

    def _announce(self) -> None:
        """Ray Client: a call that became its slot's head has started, as far as we know."""
        for number, slot in self._slots.items():
            if slot.start is None and slot.calls and not slot.announced:
                self._pending.append(self._start_of_head(number, slot))

    def _start_of_head(self, number: int, slot: _Slot) -> Started:
        slot.announced = True
        task = slot.tasks[0]
        return Started(number, task.batch.index, task.attempt, time.time())

    def _end(self, number: int, exitcode: int | None) -> WorkerExited:
        slot = self._slots.pop(number)
        with contextlib.suppress(Exception):
            ray.kill(slot.actor, no_restart=True)
        return WorkerExited(number, exitcode, slot.stopping)

    def _check_starting_nodes(self) -> None:
        """Move a slot that waits for a node which is gone (a node removed for good)."""
        now = time.monotonic()
        starting = [n for n, s in self._slots.items() if s.start is not None and not s.stopping]
        if not starting or now - self._last_check < NODE_CHECK_EVERY:
            return
        self._last_check = now
        alive = cluster.alive_nodes()
        for number in starting:
            slot = self._slots[number]
            if slot.node_id not in alive:
                del self._slots[number]
                with contextlib.suppress(Exception):
                    ray.kill(slot.actor, no_restart=True)
                self._launch(number)

    def kill(self, worker: int) -> None:
        """``ray.kill`` the slot's actor (its process group dies with it)."""
        slot = self._slots.get(worker)
        if slot is None:
            return
        with contextlib.suppress(Exception):
            ray.kill(slot.actor, no_restart=True)
        if _head(slot) is None:
            self._pending.append(self._end(worker, None))

    def shutdown(self, graceful: bool = True, timeout: float = 10.0) -> None:
        """Stop every actor (gracefully: after their queued tasks and ``shutdown()``)."""
        for slot in self._slots.values():
            slot.stopping = True
            if graceful:
                slot.stop = slot.actor.stop.remote()
        stops = [s.stop for s in self._slots.values() if s.stop is not None]
        if stops:
            ray.wait(stops, num_returns=len(stops), timeout=timeout)
        for slot in self._slots.values():  # the logs of replies not taken yet
            for ref in (slot.start, slot.stop):
                if ref is not None and ray.wait([ref], timeout=0)[0]:
                    with contextlib.suppress(ray.exceptions.RayError):
                        reply = ray.get(ref)
                        self._land(reply[1] if ref is slot.start else reply)
        for slot in self._slots.values():
            with contextlib.suppress(Exception):
                ray.kill(slot.actor, no_restart=True)
        self._slots.clear()
        self._pending.clear()
        if self._group is not None:
            with contextlib.suppress(Exception):
                remove_placement_group(self._group)
            self._group = None
        if self._spill is not None:
            self._spill.close()
        if self._spec is not None:
            shipped_logs.remove_probe(self._spec.run_dir)
        if self._connected:
            ray.shutdown()
            self._connected = False
        for handler in self._log.handlers:
            handler.close()
        self._log.handlers.clear()


def _head(slot: _Slot) -> Any:
    if slot.start is not None:
        return slot.start
    if slot.calls:
        return slot.calls[0]
    return slot.stop


__all__ = ["RayBackend"]
