"""CPU and memory samples of worker processes: the rows of ``processes_resource_usage.csv``.

Who samples depends on whether the driver can see the worker's process:

* **Local workers** are sampled by the driver (:class:`~shardrun.engine.monitor.Monitor`,
  with :func:`sample` on each worker's PID). It reaches a worker that is idle, or stuck in
  ``run()`` inside a C call that holds the GIL, and it keeps the worker process
  single-threaded (an entry script that forks in ``run()`` meets no extra thread).
* **Ray actors** live on nodes whose processes the driver cannot see, so each samples
  itself (:class:`SelfSampler`): a small daemon thread appends one row every
  ``resource_monitor_interval`` seconds, from the actor's start (``init()`` included) to
  its stop, with a last row then. The rows go where the actor writes its logs: straight
  into the run folder when its node sees it, else into its node-local log folder, shipped
  to the driver with its replies like its other logs (:mod:`shardrun.worker.shipped_logs`).
  Samples riding on the replies alone would miss an idle actor (it sends none) and come
  only after a long ``run()``; the thread samples both, the driver makes no extra call, and
  where the node sees the run folder the rows are there at once (else they arrive with the
  next reply, as the logs do).

Either way a node's rows go to ``logs/perf/<node>/processes_resource_usage.csv``, one
header line then one row per sample (:data:`PERF_COLUMNS`); writers of one node append
under a file lock (:func:`append_rows`), so workers of a node never interleave lines or
write the header twice. psutil is imported only when a sample is taken.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

#: The CSV's columns, in order.
PERF_COLUMNS = ("time", "node", "pid", "cpu_percent", "rss_bytes", "num_threads", "process")
#: The file name, under ``logs/perf/<node>/``.
PERF_FILE = "processes_resource_usage.csv"

Row = tuple[object, ...]


def perf_path(logs: Path, node: str) -> Path:
    """The CSV of ``node`` under a ``logs`` folder."""
    return logs / "perf" / node / PERF_FILE


def sample(process: psutil.Process, node: str, name: str) -> Row:
    """One row for ``process`` now (``cpu_percent`` since the previous call on it).

    Raises:
        psutil.Error: The process is gone or cannot be read.
    """
    with process.oneshot():
        return (
            time.strftime("%Y-%m-%dT%H:%M:%S"),
            node,
            process.pid,
            process.cpu_percent(),
            process.memory_info().rss,
            process.num_threads(),
            name,
        )


def append_rows(path: Path, rows: Sequence[Row]) -> None:
    """Append ``rows`` to the CSV at ``path``, with the header first if the file is new.

    One write under an exclusive lock of the file: processes appending to the same file
    never interleave lines nor write the header twice.
    """
    if not rows:
        return
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _lock(fd)
        data = text.getvalue()
        if os.fstat(fd).st_size == 0:
            data = ",".join(PERF_COLUMNS) + "\n" + data
        os.write(fd, data.encode("utf-8"))
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int) -> None:
    if sys.platform != "win32":
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)


class SelfSampler:
    """A daemon thread that samples this process into ``path`` every ``interval`` seconds.

    The first row is written at :meth:`start` (its ``cpu_percent`` is 0.0: there is no
    earlier call to compare with), the last at :meth:`stop`. A sample that fails (a full
    disk, a folder removed) is skipped: sampling never disturbs the worker.

    Args:
        path: The node's CSV (see :func:`perf_path`).
        node: The worker's node name (``node0``).
        name: The worker's process name (``process000``).
        interval: Seconds between samples (> 0).
    """

    def __init__(self, path: Path, node: str, name: str, interval: float) -> None:
        self.path = path
        self.node = node
        self.name = name
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: psutil.Process | None = None

    def start(self) -> None:
        """Write the first row and start the thread."""
        import psutil

        self._process = psutil.Process(os.getpid())
        self._write()
        self._thread = threading.Thread(
            target=self._loop, name="shardrun-resource-sampler", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            self._write()

    def _write(self) -> None:
        if self._process is None:
            return
        import psutil

        with contextlib.suppress(OSError, psutil.Error):
            append_rows(self.path, [sample(self._process, self.node, self.name)])

    def stop(self) -> None:
        """Stop the thread, then write the last row (does nothing if not started)."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout=5.0)
        self._thread = None
        self._write()


__all__ = [
    "PERF_COLUMNS",
    "PERF_FILE",
    "SelfSampler",
    "append_rows",
    "perf_path",
    "sample",
]
