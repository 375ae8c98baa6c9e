"""What the scheduler keeps per worker slot, how a scheduling ends, and error helpers."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from shardrun.engine.messages import BatchResult, ErrorInfo, Task
from shardrun.errors import RemoteError

Status = Literal["Completed", "Failed", "Canceled"]


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
