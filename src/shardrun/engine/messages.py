"""The messages that travel between the scheduler, a backend and its workers.

All of them are frozen, picklable dataclasses with no behaviour: they cross process
boundaries (pipes for the local backend, Ray's object store for the Ray backend)::

    scheduler --Task--> backend --Task--> worker
    scheduler <--Event-- backend <--Event-- worker
        Event = WorkerReady | WorkerFailed | Started | BatchResult | WorkerExited

A Task carries a :class:`~shardrun.data.minibatch.MiniBatch`: the descriptor is the data
wing's vocabulary (planning makes it there), re-exported here for the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from shardrun.data.minibatch import BatchKind, MiniBatch

__all__ = [
    "BatchKind",
    "BatchResult",
    "ErrorInfo",
    "Event",
    "MiniBatch",
    "Part",
    "STARTED_OPTIONAL_WITHIN",
    "Started",
    "Task",
    "WorkerExited",
    "WorkerFailed",
    "WorkerReady",
    "WorkerSpec",
]


@dataclass(frozen=True, slots=True)
class Task:
    """One attempt at one mini-batch, as handed to a worker."""

    batch: MiniBatch
    attempt: int


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An exception raised in a worker, reduced to text so that it always pickles."""

    type: str
    message: str
    traceback: str


@dataclass(frozen=True, slots=True)
class Part:
    """Where one attempt's output bytes are: a range of a worker's append-only spill file."""

    path: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class WorkerReady:
    """A worker imported the entry script and its ``init()`` returned."""

    worker: int
    pid: int
    name: str
    node: str


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    """A worker could not start: the entry script did not import, or ``init()`` raised.

    ``phase`` is ``"import"`` (fatal for the run: every worker would fail the same way)
    or ``"init"`` (retried on a fresh process, within Azure's limits).
    """

    worker: int
    phase: Literal["import", "init"]
    error: ErrorInfo


#: A worker may leave out :class:`Started` for a task that was already waiting at it (in its
#: queue or its pipe) just before it sent the previous task's :class:`BatchResult`, when it
#: calls ``run()`` within this many seconds of that moment. The scheduler then starts the
#: task's ``run_invocation_timeout`` when it handles that previous result, plus this grace:
#: never before ``run()`` was called, at most this much (and a message's latency) after.
#: For every other task (the first one, one that reached an idle worker, or one whose data
#: took longer to read) Started is sent. A worker that always sends it is correct too.
STARTED_OPTIONAL_WITHIN = 0.05


@dataclass(frozen=True, slots=True)
class Started:
    """A worker is about to call ``run()`` for this attempt: its timeout starts now.

    Optional in one case, see :data:`STARTED_OPTIONAL_WITHIN`.
    """

    worker: int
    index: int
    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of one attempt, sent once its output part is written (not yet fsynced).

    Attributes:
        total: Items the mini-batch held (files, or records the worker read).
        succeeded: ``min(len(result), total)``; the rest counts as failed items.
        rows: Output rows written to ``part`` (may exceed ``succeeded``).
        part: Where the output bytes are, or None (summary_only, no rows, or an error).
        error: The exception, if ``run()`` or reading the data raised.
        columns: Column names of a DataFrame result, to check that parts agree.
        started / ended: Wall-clock times of the attempt; ``run_seconds`` is time in
            ``run()``, ``cpu_seconds`` the worker's CPU time for the attempt.
    """

    worker: int
    index: int
    attempt: int
    total: int
    succeeded: int
    rows: int = 0
    part: Part | None = None
    error: ErrorInfo | None = None
    columns: tuple[str, ...] | None = None
    started: float = 0.0
    ended: float = 0.0
    run_seconds: float = 0.0
    cpu_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class WorkerExited:
    """A worker process ended; ``expected`` is False for a crash or a kill."""

    worker: int
    exitcode: int | None
    expected: bool


Event = WorkerReady | WorkerFailed | Started | BatchResult | WorkerExited


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs to host the entry script (same for all workers).

    Attributes:
        entry_script: Absolute path of the user's script.
        source_directory: Folder put first on ``sys.path`` (the script's folder if unset).
        arguments: Extra command-line arguments, appended to the worker's ``sys.argv``.
        environment: Variables set in the worker before the script is imported.
        run_dir: The run's folder (logs, parts).
        output_dir: ``AZUREML_BI_OUTPUT_PATH``.
        output_action: ``"append_row"`` or ``"summary_only"``.
        append_row_format: How a part encodes results (``"text"`` is Azure's format).
        logging_level: Level of ``EntryScript().logger`` and the root logger.
        input_options: Per input name, how the worker reads tabular data.
        mini_batch_format: ``"pandas"`` or ``"arrow"`` for tabular mini-batches.
        workspace: The workspace folder (for ``Model.get_model_path``).
        resource_monitor_interval: Seconds between a worker's samples of its own CPU and
            memory, for a backend whose workers sample themselves (Ray; see
            :mod:`shardrun.worker.usage`); 0: none. Local workers ignore it: the driver
            samples them.
    """

    entry_script: str
    source_directory: str
    run_dir: str
    output_dir: str
    output_action: str = "append_row"
    append_row_format: str = "text"
    arguments: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    logging_level: str = "INFO"
    input_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    mini_batch_format: str = "pandas"
    workspace: str = ""
    resource_monitor_interval: float = 0.0
