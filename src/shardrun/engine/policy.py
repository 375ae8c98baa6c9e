"""The rules a run is scheduled by: tries, timeouts and Azure's three error thresholds.

:class:`Policy` is taken from a ParallelRunConfig; :meth:`Policy.breach` says whether the
failures so far break a threshold. Only the scheduler applies it.

How Azure counts (docs/azure-migration.md gives the sources):

* A **failed item** is an input item of a mini-batch that has no result: all items of a
  mini-batch whose tries are used up (``run()`` raised, timed out or its worker died), and
  the items a returned ``run()`` did not account for (``len(mini_batch) - len(result)``).
  ``error_threshold`` bounds them; ``-1`` ignores them all.
* A **failed mini-batch** (``allowed_failed_count`` / v2 ``mini_batch_error_threshold``,
  and ``allowed_failed_percent``) is one whose tries are used up, or one whose ``run()``
  returned fewer results than inputs, **unless** ``error_threshold`` is ``-1``: then item
  failures are ignored altogether, and a mini-batch whose ``run()`` returned is not a failed
  mini-batch (Azure's example ``1a_oj_sales_prediction`` returns ``[]`` from every
  mini-batch with ``error_threshold: -1`` and ``mini_batch_error_threshold: 5``, and
  completes).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

#: Signals that come from outside a worker; a crash (SIGSEGV, SIGABRT…) is init()'s own.
_OUTSIDE_SIGNALS = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGHUP, signal.SIGINT})


@dataclass(frozen=True)
class Policy:
    """The scheduling rules of one run, taken from its ParallelRunConfig."""

    workers: int
    run_max_try: int = 3
    run_invocation_timeout: float = 60.0
    error_threshold: int = -1
    allowed_failed_count: int | None = None
    allowed_failed_percent: float | None = None
    progress_timeout: float = 270.0
    init_failure_limit: int = 3
    prefetch: int = 1
    check_columns: bool = False

    def failed_mini_batches(self, exhausted: int, with_failures: int) -> int:
        """The failed mini-batches the thresholds count, as Azure counts them.

        Args:
            exhausted: Mini-batches whose tries are used up.
            with_failures: Those plus the mini-batches whose ``run()`` returned fewer results
                than inputs.
        """
        return exhausted if self.error_threshold == -1 else with_failures

    def breach(
        self, failed_items: int, failed_batches: int, total: int, all_scheduled: bool
    ) -> str | None:
        """Why the run must stop, or None. Exactly equal to a threshold passes.

        Args:
            failed_items: Items of failed mini-batches plus items missing from partial results.
            failed_batches: Failed mini-batches as :meth:`failed_mini_batches` counts them.
            total: Mini-batches in the run.
            all_scheduled: Every mini-batch was handed out at least once; Azure checks
                ``allowed_failed_percent`` only from then on.
        """
        if 0 <= self.error_threshold < failed_items:
            return f"{failed_items} failed items exceed error_threshold={self.error_threshold}"
        limit = self.allowed_failed_count
        if limit is not None and 0 <= limit < failed_batches:
            return f"{failed_batches} failed mini-batches exceed allowed_failed_count={limit}"
        percent = self.allowed_failed_percent
        if not all_scheduled or percent is None or percent >= 100 or total == 0:
            return None
        failed = 100.0 * failed_batches / total
        if failed > percent:
            return (
                f"{failed_batches} of {total} mini-batches failed ({failed:.1f} %), more than "
                f"allowed_failed_percent={percent:g}"
            )
        return None


def killed_from_outside(exitcode: int | None) -> bool:
    """Whether a worker's exit code says another process killed it (negative: a signal).

    Such a death during start-up is not an ``init()`` failure and does not count toward
    ``init_failure_limit``; an ``init()`` that raises, exits or crashes (SIGSEGV…) does.
    """
    return exitcode is not None and exitcode < 0 and -exitcode in _OUTSIDE_SIGNALS
