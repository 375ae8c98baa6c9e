"""A run's ``run.json`` and the locks that say who drives a run and who writes an output folder.

Two locks, both ``flock`` on a file, so that a driver that dies (even by SIGKILL) releases
them at once:

* ``<run_dir>/driver.lock``: one driver per run. A reader that finds the run ``Running`` but
  nobody holding this lock knows the driver is gone (:func:`inspect_run`).
* ``<output folder>/.shardrun.lock``: one live run per output folder. A second run that
  would write the same folder is refused before anything starts. The file is removed when
  the run ends; one left by a killed driver holds nothing and is reused.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from shardrun.engine.ledger import Ledger
from shardrun.engine.writer import atomic_write
from shardrun.errors import ConfigError, RunNotFound

RUN_RECORD = "run.json"
DRIVER_LOCK = "driver.lock"
OUTPUT_LOCK = ".shardrun.lock"
#: A run that has not ended, as run.json says it.
LIVE_STATUSES = ("NotStarted", "Running")
#: How a reader shows a run whose record says it is live but that no process drives
#: (Azure's word for a run that stopped reporting); ``shardrun resume`` continues it.
GONE_STATUS = "NotResponding"
#: How long a driver retries a lock that a reader (:func:`driven`) holds for an instant.
LOCK_PATIENCE = 1.0


def read_record(run_dir: Path) -> dict[str, Any]:
    """The run's ``run.json``, as written.

    Raises:
        RunNotFound: The run folder or its record does not exist.
    """
    try:
        return dict(json.loads((run_dir / RUN_RECORD).read_text()))
    except FileNotFoundError:
        raise RunNotFound(f"no run {run_dir.name!r} in {run_dir.parent.parent}") from None


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Replace ``run.json`` atomically."""
    with atomic_write(run_dir / RUN_RECORD, "w", fsync=False) as handle:
        json.dump(record, handle, indent=2)


def inspect_run(run_dir: Path) -> dict[str, Any]:
    """The record as a reader should see it now (``shardrun show``, ``shardrun runs``).

    A run that has not ended gets its ``counts`` read from the ledger. If no driver holds
    the run, nothing is running whatever the ledger says (its driver was killed): running
    mini-batches count as pending and the status reads ``NotResponding``.
    """
    record = read_record(run_dir)
    if record.get("status") not in LIVE_STATUSES:
        return record
    alive = driven(run_dir)
    counts = _live_counts(run_dir / "ledger.sqlite")
    if counts is not None and not alive:
        counts["pending"] += counts["running"]
        counts["running"] = 0
    if counts is not None:
        record["counts"] = counts
    if not alive:
        record["status"] = GONE_STATUS
    return record


def _live_counts(path: Path) -> dict[str, int] | None:
    if not path.exists():
        return None
    try:
        ledger = Ledger.open(path, readonly=True)
    except sqlite3.Error:
        return None
    try:
        return dict(ledger.counts().__dict__)
    except sqlite3.Error:
        return None
    finally:
        ledger.close()


def driven(run_dir: Path) -> bool:
    """Whether a live process holds the run's driver lock."""
    try:
        handle = open(run_dir / DRIVER_LOCK)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _lock(handle: IO[str]) -> bool:
    """Take an exclusive lock, waiting out a reader's instant shared lock; False if held."""
    deadline = time.monotonic() + LOCK_PATIENCE
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


@contextmanager
def driver_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run's driver lock for the life of the block.

    Raises:
        ConfigError: Another process drives the run.
    """
    with open(run_dir / DRIVER_LOCK, "a+") as handle:
        if not _lock(handle):
            raise ConfigError(f"run {run_dir.name!r} is being driven by another process")
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


@contextmanager
def output_lock(output_dir: Path, run_id: str) -> Iterator[None]:
    """Hold ``<output_dir>/.shardrun.lock`` for the life of the block (the folder is created).

    Raises:
        ConfigError: A live run already writes to ``output_dir``.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / OUTPUT_LOCK
    while True:
        handle = open(path, "a+")  # noqa: SIM115 - closed below
        if not _lock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "another run"
            handle.close()
            raise ConfigError(
                f"output folder {output_dir} is in use by {holder}; wait for that run to end "
                "or pass another output folder"
            )
        # The holder before us may have removed the file after we opened it: lock the file
        # that is at the path, not an orphan.
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    try:
        handle.truncate(0)
        handle.write(f"run {run_id!r} (pid {os.getpid()})")
        handle.flush()
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()
