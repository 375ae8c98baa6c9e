"""Dispatch mini-batches to workers; the only place that knows retries, timeouts and thresholds.

::

    ledger.pending() ─┐                         ┌─> backend.submit(slot, Task)
    retries (deque) ──┴─> _dispatch ────────────┘      (each ready worker: 1 running + prefetch,
                                                         deeper for short mini-batches
                                                         (Slot.depth); one submit_many each)
                                                         │
    backend.events(timeout) <────────────────────────────┘
      WorkerReady    → the slot takes tasks
      WorkerFailed   → import error: abort; init error: restart within Azure's limits
      Started        → the attempt's run_invocation_timeout starts (or, for a task queued
                       behind the one whose result came, at that result: STARTED_OPTIONAL_WITHIN)
      BatchResult    → done / retry / failed  ─┐
      WorkerExited   → head task: WorkerLost or RunTimeout; prefetched tasks go back; restart
                                               │
    group commit: one fsync per spill file touched, one ledger transaction for many outcomes
    thresholds (error_threshold, allowed_failed_count/percent), watchdog, progress

The loop never sleeps: it waits on the backend's events with a timeout set by the nearest
deadline (a run() timeout, a pending commit, a progress refresh).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator

from shardrun.engine.backends.base import Backend
from shardrun.engine.ledger import Counts, Ledger, Outcome, attempt_error
from shardrun.engine.messages import (
    STARTED_OPTIONAL_WITHIN,
    BatchResult,
    ErrorInfo,
    Event,
    MiniBatch,
    Started,
    Task,
    WorkerExited,
    WorkerFailed,
    WorkerReady,
    WorkerSpec,
)
from shardrun.engine.policy import Policy, killed_from_outside
from shardrun.engine.slots import Slot, Verdict, describe, with_error
from shardrun.engine.writer import Syncer
from shardrun.errors import (
    EntryScriptError,
    ErrorThresholdExceeded,
    NoProgress,
    ShardrunError,
)

COMMIT_EVERY = 512
COMMIT_AFTER = 0.2
TICK = 0.5


ProgressCallback = Callable[["Scheduler"], None]


class Scheduler:
    """Runs the pending mini-batches of one ledger on one backend."""

    def __init__(
        self,
        ledger: Ledger,
        backend: Backend,
        spec: WorkerSpec,
        policy: Policy,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.ledger = ledger
        self.backend = backend
        self.spec = spec
        self.policy = policy
        self.on_progress = on_progress
        self.counts = ledger.counts()
        self.failed_items = self.counts.failed_items
        self.failed_batches = self.counts.failed_batches
        self.done = self.counts.done
        self.failed = self.counts.failed
        self.succeeded_items = self.counts.succeeded_items
        self.init_errors: list[ErrorInfo] = []
        #: Workers killed by a signal from outside while starting (not init() failures).
        self.start_kills = 0
        self.slots: dict[int, Slot] = {}
        self._source: Iterator[tuple[MiniBatch, int]] = ledger.pending()
        self._source_done = False
        self._retries: deque[Task] = deque()
        self._running: list[int] = []
        self._outcomes: list[Outcome] = []
        self._first_uncommitted = 0.0
        self._last_progress = time.monotonic()
        self._last_tick = 0.0
        self._columns = next((c for _i, _p, c in ledger.parts() if c is not None), None)
        self._syncer = Syncer()

    # -- the loop ------------------------------------------------------------------------

    def run(self, start_workers: bool = True) -> Verdict:
        """Schedule until every mini-batch is done or failed, a threshold trips, or Ctrl-C.

        Args:
            start_workers: False when the caller started the backend's workers already
                (while it planned the ledger); their events wait in the backend.
        """
        if start_workers:
            self.backend.start(self.spec, self.policy.workers)
        self.slots = {n: Slot() for n in range(self.policy.workers)}
        graceful = False
        try:
            verdict = self._loop()
            graceful = True
        except KeyboardInterrupt:
            verdict = Verdict("Canceled", "canceled by the user (Ctrl-C)")
        except ShardrunError as e:
            verdict = Verdict("Failed", str(e), e)
        finally:
            # Stop workers before the last commit: nothing may change under it.
            self.backend.shutdown(graceful=graceful)
            self._commit()
            self._syncer.close()
        return verdict

    def _loop(self) -> Verdict:
        while True:
            self._dispatch()
            if self._source_done and not self._retries and not self._in_flight():
                self._check_thresholds(all_scheduled=True)
                return Verdict("Completed")
            events = self.backend.events(self._wait_time())
            for event in events:
                self._handle(event)
            now = time.monotonic()
            self._check_deadlines(now)
            if self._outcomes and (
                not events
                or len(self._outcomes) >= COMMIT_EVERY
                or now - self._first_uncommitted >= COMMIT_AFTER
            ):
                self._commit()
            self._check_thresholds(self._source_done)
            if now - self._last_progress > self.policy.progress_timeout:
                raise NoProgress(
                    f"no mini-batch finished in {self.policy.progress_timeout:.0f} s "
                    "(progress_update_timeout); the run was stopped"
                )
            if self.on_progress is not None and now - self._last_tick >= TICK:
                self._last_tick = now
                self.on_progress(self)

    def snapshot(self) -> Counts:
        """Progress so far, including outcomes not yet committed to the ledger."""
        c = self.counts
        return Counts(
            c.total,
            c.total - self.done - self.failed,
            sum(len(s.tasks) for s in self.slots.values()),
            self.done,
            self.failed,
            self.succeeded_items,
            self.failed_items,
            self.failed_batches,
            c.planned_items,
        )

    @property
    def ready_workers(self) -> dict[int, int]:
        """``slot -> pid`` of the workers that are up."""
        return {n: s.pid for n, s in self.slots.items() if s.state == "ready"}

    def _in_flight(self) -> bool:
        return any(slot.tasks for slot in self.slots.values())

    def _wait_time(self) -> float:
        now = time.monotonic()
        wake = now + TICK
        for slot in self.slots.values():
            if slot.deadline is not None:
                wake = min(wake, slot.deadline)
        if self._outcomes:
            wake = min(wake, self._first_uncommitted + COMMIT_AFTER)
        return max(0.0, wake - now)

    # -- dispatch ------------------------------------------------------------------------

    def _next_task(self) -> Task | None:
        if self._retries:
            return self._retries.popleft()
        if self._source_done:
            return None
        item = next(self._source, None)
        if item is None:
            self._source_done = True
            return None
        batch, tries = item
        return Task(batch, tries + 1)

    def _dispatch(self) -> None:
        for number, slot in self.slots.items():
            tasks: list[Task] = []
            depth = slot.depth(self.policy.prefetch)
            while slot.state == "ready" and len(slot.tasks) < depth:
                task = self._next_task()
                if task is None:
                    break
                slot.tasks.append(task)
                self._running.append(task.batch.index)
                tasks.append(task)
            if tasks:
                self.backend.submit_many(number, tasks)
            if self._source_done and not self._retries:
                return

    # -- events --------------------------------------------------------------------------

    def _handle(self, event: Event) -> None:
        slot = self.slots[event.worker]
        if isinstance(event, WorkerReady):
            slot.state, slot.name, slot.pid = "ready", f"{event.node}/{event.name}", event.pid
            self._last_progress = time.monotonic()
        elif isinstance(event, Started):
            if slot.tasks and slot.tasks[0].batch.index == event.index:
                slot.deadline = time.monotonic() + self.policy.run_invocation_timeout
        elif isinstance(event, BatchResult):
            self._on_result(slot, event)
        elif isinstance(event, WorkerFailed):
            if event.phase == "import":
                raise EntryScriptError(
                    f"the entry script did not import in {slot.name or 'a worker'}:\n"
                    f"{event.error.traceback}"
                )
            slot.init_failed = True
            self.init_errors.append(event.error)
        else:
            self._on_exit(event.worker, slot, event)

    def _on_result(self, slot: Slot, result: BatchResult) -> None:
        if not slot.tasks or slot.tasks[0].batch.index != result.index:
            return
        task = slot.tasks.popleft()
        self._last_progress = time.monotonic()
        slot.note_result(self._last_progress)
        # The next task was queued at the worker: it may start run() without a Started.
        slot.deadline = (
            self._last_progress + self.policy.run_invocation_timeout + STARTED_OPTIONAL_WITHIN
            if slot.tasks
            else None
        )
        if result.error is not None:
            self._fail_attempt(task, result, "RUN_EXCEPTION", slot.name)
            return
        mismatch = self._column_mismatch(result)
        if mismatch:
            self._finish(
                Outcome(result, "failed", "COLUMN_MISMATCH", slot.name, max(result.total, 1)),
                task,
                mismatch,
            )
            return
        failed = result.total - result.succeeded
        status = "SUCCEEDED" if failed == 0 else "PARTIAL"
        self._finish(Outcome(result, "done", status, slot.name, failed), task)

    def _column_mismatch(self, result: BatchResult) -> ErrorInfo | None:
        if not self.policy.check_columns or result.columns is None:
            return None
        if self._columns is None:
            self._columns = result.columns
            return None
        if result.columns == self._columns:
            return None
        message = (
            f"mini-batch {result.index} returned columns {list(result.columns)}, but earlier "
            f"mini-batches returned {list(self._columns)}; every run() must return the same "
            "columns in the same order"
        )
        return ErrorInfo("ColumnMismatch", message, message)

    def _on_exit(self, number: int, slot: Slot, event: WorkerExited) -> None:
        head = slot.tasks.popleft() if slot.tasks else None
        self._retries.extendleft(reversed(slot.tasks))
        slot.tasks.clear()
        slot.deadline = None
        was_starting = slot.state == "starting" or slot.init_failed
        if head is not None:
            if slot.killed is head:
                message = (
                    f"run() did not finish in {self.policy.run_invocation_timeout:g} s "
                    f"(run_invocation_timeout); {slot.name} was stopped"
                )
                self._lose(number, slot, head, "RunTimeout", "RUN_TIMEOUT", message)
            elif slot.killed is not None:
                self._retries.appendleft(head)
            else:
                message = f"{slot.name} exited with code {event.exitcode} while running run()"
                self._lose(number, slot, head, "WorkerLost", "WORKER_LOST", message)
        slot.killed = None
        slot.state = "gone"
        if was_starting and not slot.init_failed and not event.expected:
            if killed_from_outside(event.exitcode):
                # Not init()'s doing (OOM killer, an operator, a chaos test): restart, and
                # let the progress watchdog, not Azure's init() limit, end a hopeless run.
                self.start_kills += 1
            else:
                message = (
                    f"{slot.name or 'a worker'} exited with code {event.exitcode} during init()"
                )
                self.init_errors.append(ErrorInfo("WorkerLost", message, message))
        if was_starting and len(self.init_errors) >= self.policy.init_failure_limit:
            if not any(s.state != "gone" for s in self.slots.values()):
                first = self.init_errors[0]
                raise EntryScriptError(
                    f"init() failed {len(self.init_errors)} times; workers are no longer "
                    f"restarted. First failure:\n{first.traceback}"
                )
            return
        self.backend.restart(number)
        self.slots[number] = Slot()

    def _lose(
        self, number: int, slot: Slot, head: Task, kind: str, status: str, message: str
    ) -> None:
        """Fail the attempt a worker was running when it was killed or died."""
        items = max(head.batch.items, 0)
        error = ErrorInfo(kind, message, message)
        result = BatchResult(
            number, head.batch.index, head.attempt, items, 0, error=error, ended=time.time()
        )
        self._fail_attempt(head, result, status, slot.name)

    def _check_deadlines(self, now: float) -> None:
        for number, slot in self.slots.items():
            if slot.deadline is not None and now >= slot.deadline and slot.killed is None:
                slot.killed = slot.tasks[0]
                slot.deadline = None
                slot.state = "killing"
                self.backend.kill(number)

    # -- outcomes ------------------------------------------------------------------------

    def _fail_attempt(self, task: Task, result: BatchResult, status: str, worker: str) -> None:
        if task.attempt < self.policy.run_max_try:
            self._retries.append(Task(task.batch, task.attempt + 1))
            self._record(Outcome(result, "pending", status, worker))
            return
        items = max(result.total, task.batch.items, 1)
        self._finish(Outcome(result, "failed", status, worker, items), task, result.error)

    def _finish(self, outcome: Outcome, task: Task, error: ErrorInfo | None = None) -> None:
        if error is not None and outcome.result.error is None:
            outcome = Outcome(
                with_error(outcome.result, error),
                outcome.state,
                outcome.status,
                outcome.worker,
                outcome.failed_items,
            )
        self.failed_items += outcome.failed_items
        if outcome.state == "done":
            self.done += 1
            self.succeeded_items += outcome.result.succeeded
        else:
            self.failed += 1
        if outcome.failed_items:
            self.failed_batches += 1
        self._record(outcome)

    def _record(self, outcome: Outcome) -> None:
        if not self._outcomes:
            self._first_uncommitted = time.monotonic()
        self._outcomes.append(outcome)

    def _commit(self) -> None:
        if not self._outcomes and not self._running:
            return
        self._syncer.sync(o.result.part for o in self._outcomes if o.result.part is not None)
        self.ledger.record(self._running, self._outcomes)
        self._running = []
        self._outcomes = []

    # -- thresholds ----------------------------------------------------------------------

    def _check_thresholds(self, all_scheduled: bool) -> None:
        failed_batches = self.policy.failed_mini_batches(self.failed, self.failed_batches)
        reason = self.policy.breach(
            self.failed_items, failed_batches, self.counts.total, all_scheduled
        )
        if reason:
            raise ErrorThresholdExceeded(f"{reason}; first error: {self._first_error()}")

    def _first_error(self) -> str:
        attempt = self.ledger.first_error()
        if attempt is not None and attempt.error is not None:
            return describe(attempt.error)
        errors = (attempt_error(o.result) for o in self._outcomes)
        first = next((e for e in errors if e is not None), None)
        return describe(first) if first else "none recorded"
