"""Watch a running scheduler: the terminal progress bar, the overview file, resource usage.

The scheduler calls a :class:`Monitor` about twice a second; the monitor never blocks it for
long (the overview file is rewritten every few seconds, resources sampled every
``resource_monitor_interval`` seconds, 5 by default).

Resource usage: the monitor samples the workers whose processes the driver sees (the local
backend's) with psutil, by PID, into ``logs/perf/<node>/processes_resource_usage.csv``: an
idle worker and one stuck in ``run()`` are sampled all the same, and the worker processes
stay single-threaded. A backend whose workers run on other machines (Ray) sets
:attr:`~shardrun.engine.backends.base.Backend.workers_sample_themselves`: its workers then
sample themselves into the same files (see :mod:`shardrun.worker.usage`), and the monitor is
built with ``resource_interval=0``. Sampling four workers costs the driver about 0.4 ms
per interval (psutil, 9 ms to import, is imported with the first sample).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from shardrun.engine.reports import write_overview
from shardrun.worker.usage import Row, append_rows, perf_path, sample

if TYPE_CHECKING:
    import psutil
    from rich.progress import Progress, TaskID

    from shardrun.engine.scheduler import Scheduler

OVERVIEW_EVERY = 2.0


class Monitor:
    """Progress bar (rich), ``job_progress_overview.txt`` and ``processes_resource_usage.csv``."""

    def __init__(
        self,
        run_id: str,
        logs: Path,
        show_progress: bool = True,
        resource_interval: float = 5.0,
        node: str = "node0",
    ) -> None:
        self.run_id = run_id
        self.logs = logs
        self.resource_interval = resource_interval
        self.node = node
        self._started = time.monotonic()
        self._last_overview = 0.0
        self._last_perf = 0.0
        self._processes: dict[int, psutil.Process] = {}
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        # The bar goes to stderr, and only to a terminal: stdout stays for results. rich (a
        # slow import) is imported only where a bar may be drawn.
        if show_progress and _may_be_terminal():
            self._progress = _progress_bar()

    def __enter__(self) -> Monitor:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, scheduler: Scheduler) -> None:
        """Refresh from the scheduler's current state."""
        counts = scheduler.snapshot()
        now = time.monotonic()
        elapsed = now - self._started
        if self._progress is not None:
            rate = counts.succeeded_items / elapsed if elapsed > 0 else 0.0
            items, per_second = f"{counts.succeeded_items:,}", f"{rate:,.0f} items"
            if self._task is None:
                self._task = self._progress.add_task(
                    self.run_id, total=counts.total, items=items, rate=per_second
                )
            self._progress.update(
                self._task, completed=counts.finished, items=items, rate=per_second
            )
        if now - self._last_overview >= OVERVIEW_EVERY:
            self._last_overview = now
            write_overview(self.logs, self.run_id, "Running", counts, elapsed)
        if self.resource_interval > 0 and now - self._last_perf >= self.resource_interval:
            workers = {
                slot.pid: slot.name for slot in scheduler.slots.values() if slot.state == "ready"
            }
            # The interval starts with the first sample that has workers in it.
            if workers:
                self._last_perf = now
                self._sample(workers)

    def _sample(self, workers: Mapping[int, str]) -> None:
        """Append one row per worker (``pid -> node/process``) to its node's CSV file."""
        import psutil  # here, not at import time: only runs that sample pay for it

        rows: dict[str, list[Row]] = {}
        for pid, name in workers.items():
            node, _, process_name = name.rpartition("/")
            node = node or self.node
            try:
                process = self._processes.setdefault(pid, psutil.Process(pid))
                row = sample(process, node, process_name)
            except psutil.Error:
                self._processes.pop(pid, None)
                continue
            rows.setdefault(node, []).append(row)
        for node, node_rows in rows.items():
            append_rows(perf_path(self.logs, node), node_rows)


def _may_be_terminal() -> bool:
    """Whether rich could find a terminal on stderr (a tty, a forced one, or Jupyter)."""
    forced = any(os.environ.get(name) for name in ("FORCE_COLOR", "TTY_COMPATIBLE"))
    return forced or sys.stderr.isatty() or "ipykernel" in sys.modules


def _progress_bar() -> Progress | None:
    """The progress bar on stderr, or None when rich says stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("mini-batches · {task.fields[items]} items · {task.fields[rate]}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
