"""Read a run's ledger, resource samples and worker logs back, strictly read-only.

The CLI's ``show`` and the dashboard look at runs that may still be going. Nothing here
writes into the workspace: the ledger is opened with a ``mode=ro`` SQLite URI (and, when no
driver has the WAL open, ``immutable=1`` as well, because a read-only connection would
otherwise create ``-wal`` and ``-shm`` files next to it).
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardrun.engine.attempts import ATTEMPT_COLUMNS, Attempt, attempt_from_row
from shardrun.engine.ledger import Counts, Ledger
from shardrun.errors import ConfigError
from shardrun.pids import alive
from shardrun.worker.usage import PERF_FILE

LEDGER = "ledger.sqlite"
_PICKED = re.compile(r"\|(?:mini-batch (\d+) attempt \d+ (picked|done|failed))")
_STARTING = re.compile(r"(process\d+) on (\S+): pid (\d+) starting")


def _connect(run_dir: Path) -> sqlite3.Connection | None:
    path = (run_dir / LEDGER).resolve()
    if not path.is_file():
        return None
    live = path.with_name(LEDGER + "-wal").exists()
    uri = path.as_uri() + ("?mode=ro" if live else "?mode=ro&immutable=1")
    return sqlite3.connect(uri, uri=True, timeout=5.0)


@contextmanager
def _query(run_dir: Path) -> Iterator[sqlite3.Connection | None]:
    db = _connect(run_dir)
    try:
        yield db
    finally:
        if db is not None:
            db.close()


@contextmanager
def open_ledger(run_dir: Path) -> Iterator[Ledger | None]:
    """The run's ledger opened read-only, or None when the run has none yet."""
    with _query(run_dir) as db:
        yield None if db is None else Ledger(db, run_dir / LEDGER)


def counts(run_dir: Path) -> Counts | None:
    """Mini-batches by state and item totals, read from the ledger now."""
    with open_ledger(run_dir) as ledger:
        if ledger is None:
            return None
        try:
            return ledger.counts()
        except sqlite3.DatabaseError:  # the driver is still creating its tables
            return None


def failures(run_dir: Path, limit: int = 50) -> list[Attempt]:
    """The last ``limit`` failed attempts, newest first, with traceback and inputs."""
    rows = _rows(
        run_dir,
        f"SELECT {ATTEMPT_COLUMNS} FROM attempts a JOIN mini_batches m ON m.idx = a.idx "
        "WHERE a.error_type IS NOT NULL ORDER BY a.ended DESC LIMIT ?",
        (limit,),
    )
    return [attempt_from_row(row) for row in rows]


@dataclass
class ErrorGroup:
    """Failed attempts that raised the same exception type."""

    type: str
    count: int
    message: str
    traceback: str
    inputs: list[str] = field(default_factory=list)


def error_groups(run_dir: Path, top: int = 3, inputs_listed: int = 5) -> list[ErrorGroup]:
    """The ``top`` most frequent errors, each with its first message, traceback and inputs."""
    groups = []
    counted = _rows(
        run_dir,
        "SELECT error_type, COUNT(*), MIN(rowid) FROM attempts WHERE error_type IS NOT NULL "
        "GROUP BY error_type ORDER BY COUNT(*) DESC, MIN(rowid) LIMIT ?",
        (top,),
    )
    for error_type, count, first in counted:
        found = _rows(
            run_dir, "SELECT error_message, traceback FROM attempts WHERE rowid = ?", (first,)
        )
        message, traceback = found[0] if found else ("", "")
        group = ErrorGroup(str(error_type), int(count), message or "", traceback or "")
        files = _rows(
            run_dir,
            "SELECT m.files FROM attempts a JOIN mini_batches m ON m.idx = a.idx "
            "WHERE a.error_type = ? ORDER BY a.rowid LIMIT ?",
            (error_type, inputs_listed),
        )
        for (names,) in files:
            for name in json.loads(names):
                if name not in group.inputs and len(group.inputs) < inputs_listed:
                    group.inputs.append(name)
        groups.append(group)
    return groups


def throughput(run_dir: Path, started: float, step: float) -> list[tuple[float, int]]:
    """Items that succeeded per ``step`` seconds since ``started``: ``(seconds, items)``."""
    rows = _rows(
        run_dir,
        "SELECT CAST((ended - ?) / ? AS INTEGER) AS bucket, SUM(succeeded) FROM attempts "
        "WHERE error_type IS NULL GROUP BY bucket ORDER BY bucket",
        (started, step),
    )
    by_bucket = {max(0, int(b)): int(n or 0) for b, n in rows}
    last = max(by_bucket, default=-1)
    return [(b * step, by_bucket.get(b, 0)) for b in range(last + 1)]


@dataclass(frozen=True)
class WorkerStats:
    """What one worker did: attempts, items that succeeded, seconds inside ``run()``."""

    worker: str
    attempts: int
    failed: int
    items: int
    run_seconds: float
    last_ended: float

    @property
    def items_per_second(self) -> float:
        """Items per second spent in ``run()``."""
        return self.items / self.run_seconds if self.run_seconds > 0 else 0.0


def worker_stats(run_dir: Path) -> list[WorkerStats]:
    """One row per worker (``node0/process000``) from the ledger's attempts."""
    rows = _rows(
        run_dir,
        "SELECT worker, COUNT(*), SUM(error_type IS NOT NULL), "
        "SUM(CASE WHEN error_type IS NULL THEN succeeded ELSE 0 END), SUM(run_seconds), "
        "MAX(ended) FROM attempts GROUP BY worker ORDER BY worker",
    )
    return [
        WorkerStats(str(w), int(a), int(f or 0), int(i or 0), float(s or 0), float(e or 0))
        for w, a, f, i, s, e in rows
    ]


def _rows(run_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with _query(run_dir) as db:
        if db is None:
            return []
        try:
            return list(db.execute(sql, params).fetchall())
        except sqlite3.DatabaseError:  # the driver is still creating its tables
            return []


@dataclass
class WorkerProcess:
    """A worker process: where it runs, its last resource sample, what it is doing.

    ``state`` is ``running``, ``stopped`` (it ended normally) or ``gone`` (it died, or was
    killed and replaced).
    """

    name: str
    node: str
    pid: int
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    sampled: str = ""
    current: int | None = None
    log: str = ""
    state: str = "running"


def worker_processes(run_dir: Path) -> list[WorkerProcess]:
    """Every worker process the run started, from its log and the resource monitor's CSV.

    A process is known by its node and PID: Ray actors on two machines may share a PID.
    """
    found: dict[tuple[str, int], WorkerProcess] = {}
    for log in sorted((run_dir / "logs" / "sys" / "worker").glob("*/*.txt")):
        text = _tail_text(log)
        start = _STARTING.search(text)
        if start is None:
            continue
        worker = WorkerProcess(start[1], start[2], int(start[3]), log=_relative(log, run_dir))
        for index, what in _PICKED.findall(text):
            worker.current = int(index) if what == "picked" else None
        if f"|{worker.name} stopped" in text:
            worker.state, worker.current = "stopped", None
        elif not alive(worker.pid):
            worker.state, worker.current = "gone", None
        found[worker.node, worker.pid] = worker
    for row in _perf_rows(run_dir):
        try:
            node, pid = row["node"], int(row["pid"])
            worker = found.setdefault(
                (node, pid), WorkerProcess(row.get("process") or f"pid {pid}", node, pid)
            )
            worker.cpu_percent = float(row["cpu_percent"])
            worker.rss_bytes = int(row["rss_bytes"])
            worker.sampled = row["time"]
        except (KeyError, ValueError):
            continue
    return sorted(found.values(), key=lambda w: (w.node, w.name))


def _perf_rows(run_dir: Path) -> Iterator[dict[str, str]]:
    for path in sorted((run_dir / "logs" / "perf").glob(f"*/{PERF_FILE}")):
        try:
            with open(path, newline="") as handle:
                yield from csv.DictReader(handle)
        except OSError:
            continue


def _tail_text(path: Path, limit: int = 1_000_000) -> str:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            tail = handle.read()
    except OSError:
        return ""
    return (head + b"\n" + tail if size > limit else tail).decode(errors="replace")


def _relative(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()


def log_files(run_dir: Path) -> list[tuple[str, int]]:
    """``(path relative to the run folder, size)`` of every log file, reports first."""
    logs = run_dir / "logs"
    if not logs.is_dir():
        return []
    files = [p for p in logs.rglob("*") if p.is_file() and not p.is_symlink()]
    top = [p for p in files if p.parent == logs]
    rest = sorted(p for p in files if p.parent != logs)
    return [(_relative(p, run_dir), p.stat().st_size) for p in sorted(top) + rest]


def mini_batch_inputs(files: tuple[str, ...] | list[str], shown: int = 3) -> str:
    """A short list of a mini-batch's inputs: the first few names and how many more."""
    names = [Path(f).name or f for f in files]
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def worker_logs(run_dir: Path, worker: str | None = None) -> list[Path]:
    """A worker's log files (system log, stdout, stderr, entry-script log), or every one's.

    Args:
        worker: ``process000``, ``node0/process000`` or a worker's PID; None for all.

    Raises:
        ConfigError: No worker of the run has that name or PID.
    """
    logs = run_dir / "logs"
    systems = sorted((logs / "sys" / "worker").glob("*/*.txt"))
    if worker is None:
        return systems
    by_pid = {str(w.pid): f"{w.node}/{w.name}" for w in worker_processes(run_dir)}
    wanted = by_pid.get(worker, worker)
    for system in systems:
        node, name = system.parent.name, system.stem
        if wanted in (name, f"{node}/{name}"):
            candidates = [
                system,
                logs / "user" / "stdout" / node / f"{name}.stdout.txt",
                logs / "user" / "stderr" / node / f"{name}.stderr.txt",
                logs / "user" / "entry_script_log" / node / f"{name}.log.txt",
            ]
            return [p for p in candidates if p.is_file()]
    known = ", ".join(f"{p.parent.name}/{p.stem}" for p in systems) or "none yet"
    raise ConfigError(f"run {run_dir.name!r} has no worker {worker!r}; its workers: {known}")


def follow(
    files: Callable[[], list[Path]], done: Callable[[], bool], poll: float = 0.5
) -> Iterator[tuple[Path, str]]:
    """``(file, new text)`` as the files grow, until ``done()`` says the run ended.

    ``files`` is called on every poll, so that files created later are followed too; each
    file is read from its start.
    """
    offsets: dict[Path, int] = {}
    while True:
        finished = done()  # read before the files, so that the last lines are not missed
        for path in files():
            try:
                with open(path, "rb") as handle:
                    handle.seek(offsets.get(path, 0))
                    chunk = handle.read()
            except OSError:
                continue
            cut = chunk.rfind(b"\n") + 1 if not finished else len(chunk)
            if cut:
                offsets[path] = offsets.get(path, 0) + cut
                yield path, chunk[:cut].decode(errors="replace")
        if finished:
            return
        time.sleep(poll)
