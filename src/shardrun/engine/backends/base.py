"""The backend contract: start workers, hand them tasks, report what happens, stop them.

A backend owns processes (or actors) and nothing else. It has no retry, timeout, threshold or
progress logic: the scheduler decides, the backend carries out. Workers are addressed by slot
number ``0 … workers-1``; a slot whose process ended can be started again with
:meth:`Backend.restart`.

Every implementation passes the conformance suite in ``tests/contracts/backend.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from shardrun.engine.messages import Event, Task, WorkerSpec


class Backend(ABC):
    """Runs worker processes for one run."""

    #: Whether the workers sample their own CPU and memory (every
    #: ``WorkerSpec.resource_monitor_interval`` seconds, see :mod:`shardrun.worker.usage`)
    #: because the driver cannot see their processes. False: the driver's monitor samples
    #: them by PID.
    workers_sample_themselves: bool = False

    @abstractmethod
    def start(self, spec: WorkerSpec, workers: int) -> None:
        """Start ``workers`` worker processes, slots ``0 … workers-1``.

        Returns at once. Each worker imports the entry script and calls ``init()``, then
        reports exactly one :class:`~shardrun.engine.messages.WorkerReady` or
        :class:`~shardrun.engine.messages.WorkerFailed` through :meth:`events`.
        """

    @abstractmethod
    def restart(self, worker: int) -> None:
        """Start a fresh process in a slot whose process has ended (after WorkerExited)."""

    @abstractmethod
    def submit(self, worker: int, task: Task) -> None:
        """Queue a task on a ready worker; it runs after the tasks queued before it.

        Must not block on the worker's progress. A task sent to a worker that has just died
        is dropped silently: the WorkerExited event tells the scheduler.
        """

    def submit_many(self, worker: int, tasks: Sequence[Task]) -> None:
        """Queue several tasks on a ready worker, in order, at once.

        The same as :meth:`submit` for each task in turn (the default does exactly that); a
        backend may carry them in one message.
        """
        for task in tasks:
            self.submit(worker, task)

    @abstractmethod
    def events(self, timeout: float | None) -> list[Event]:
        """Wait up to ``timeout`` seconds (None: forever) and return what happened.

        Returns at least one event unless the timeout passed. Events of one worker come in
        the order the worker sent them, and a slot's WorkerExited comes after every event
        that its process sent. After WorkerExited, the slot is idle until :meth:`restart`.
        Each task gets one BatchResult (unless its worker exits first), preceded by a Started
        except where :data:`~shardrun.engine.messages.STARTED_OPTIONAL_WITHIN` lets the
        worker leave it out.
        """

    @abstractmethod
    def kill(self, worker: int) -> None:
        """Stop a slot's process now, with everything it started (a hung ``run()``).

        A WorkerExited event for the slot follows. Killing an idle slot does nothing.
        """

    @abstractmethod
    def shutdown(self, graceful: bool = True, timeout: float = 10.0) -> None:
        """Stop every worker and release the backend's resources.

        With ``graceful``, workers finish their queued tasks' current one, call the script's
        ``shutdown()`` and exit; any still alive after ``timeout`` seconds are killed.
        Without it, they are killed at once. Events after shutdown are discarded.
        """

    @property
    @abstractmethod
    def nodes(self) -> int:
        """How many machines the workers are spread over."""
