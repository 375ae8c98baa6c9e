"""What the scheduler keeps per worker slot, how a scheduling ends, and error helpers."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from shardrun.engine.messages import BatchResult, ErrorInfo, Task
from shardrun.errors import RemoteError

Status = Literal["Completed", "Failed", "Canceled"]

#: Seconds of work kept queued at a worker beyond its running task, at its recent pace:
#: enough to cover the driver's turnaround (a group commit, a dispatch), so that a worker
#: running mini-batches of a few milliseconds never waits for its next task.
QUEUE_SECONDS = 0.1
#: At most this many tasks queued behind the running one.
MAX_PREFETCH = 32


@dataclass(frozen=True)
class Verdict:
    """How the scheduling ended, and why."""

    status: Status
    reason: str = ""
    error: BaseException | None = None


@dataclass
class Slot:
    """One worker slot as the scheduler sees it: its state and the tasks sent to it.

    ``deadline`` is when the head task's ``run_invocation_timeout`` ends (monotonic), if
    it is running; ``killed`` the task whose worker was killed for it.
    """

    state: Literal["starting", "ready", "killing", "gone"] = "starting"
    tasks: deque[Task] = field(default_factory=deque)
    name: str = ""
    pid: int = 0
    deadline: float | None = None
    killed: Task | None = None
    init_failed: bool = False
    pace: float | None = None  # seconds between its results (a moving average)
    last_result: float | None = None

    def note_result(self, now: float) -> None:
        """A result came at ``now`` (monotonic): update the slot's pace."""
        if self.last_result is not None:
            gap = now - self.last_result
            self.pace = gap if self.pace is None else 0.8 * self.pace + 0.2 * gap
        self.last_result = now

    def depth(self, prefetch: int) -> int:
        """How many tasks the worker should hold: the running one, ``prefetch`` more, and
        more again while its mini-batches take less than :data:`QUEUE_SECONDS` (up to
        :data:`MAX_PREFETCH` queued).

        Long mini-batches keep the queue short (a lost worker gives back little, and the
        last mini-batches spread over every worker); short ones get a deeper queue.
        """
        queued = prefetch
        if self.pace is not None:
            wanted = math.ceil(QUEUE_SECONDS / max(self.pace, 1e-6))
            queued = max(prefetch, min(MAX_PREFETCH, wanted))
        return 1 + queued


def describe(error: ErrorInfo) -> str:
    """``Type: message`` of an error."""
    return f"{error.type}: {error.message}"


def with_error(result: BatchResult, error: ErrorInfo) -> BatchResult:
    """``result`` turned into a failure with ``error`` (no rows, no part)."""
    return BatchResult(
        result.worker,
        result.index,
        result.attempt,
        result.total,
        0,
        0,
        None,
        error,
        result.columns,
        result.started,
        result.ended,
        result.run_seconds,
        result.cpu_seconds,
    )


def remote_error(error: ErrorInfo) -> RemoteError:
    """An exception standing for a worker's error, with the remote traceback as its text."""
    return RemoteError(f"{error.type}: {error.message}\n\nRemote traceback:\n{error.traceback}")
