"""Reading the attempts a ledger recorded: for reports, error messages and the CSV.

:func:`processed_rows` formats ``processed_mini-batches.csv`` entirely in SQLite (one
query, no Python per row): the end of a run with many mini-batches writes it with one
``csv.writer.writerows`` call.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shardrun.engine.messages import ErrorInfo

#: Longest error message in a row of processed_mini-batches.csv.
MAX_CSV_MESSAGE = 500


@dataclass(frozen=True)
class Attempt:
    """One finished (or abandoned) attempt, as recorded in the ``attempts`` table."""

    index: int
    attempt: int
    worker: str
    status: str
    started: float
    ended: float
    total: int
    succeeded: int
    run_seconds: float = 0.0
    cpu_seconds: float = 0.0
    error: ErrorInfo | None = None
    files: tuple[str, ...] = ()


def short_result(total: int, succeeded: int) -> ErrorInfo | None:
    """The error a partial result stands for (``run()`` returned fewer results than inputs)."""
    if succeeded >= total:
        return None
    message = f"run() returned {succeeded} results for {total} inputs"
    return ErrorInfo("ShortResult", message, message)


def attempts(db: sqlite3.Connection, failed_only: bool = False) -> Iterator[Attempt]:
    """Recorded attempts with their mini-batch's files.

    All of them by mini-batch then attempt number, or, with ``failed_only``, those that
    raised, timed out, lost their worker or returned fewer results than inputs (their
    error is a ``ShortResult``, see :func:`attempt_error`), in the order they ended.
    """
    where, order = (
        ("WHERE a.error_type IS NOT NULL OR a.succeeded < a.total", "a.ended")
        if failed_only
        else ("", "a.idx, a.attempt")
    )
    cursor = db.execute(
        f"SELECT {ATTEMPT_COLUMNS} FROM attempts a JOIN mini_batches m ON m.idx = a.idx "
        f"{where} ORDER BY {order}"
    )
    for row in cursor:
        yield attempt_from_row(row)


#: The columns :func:`attempt_from_row` reads (``attempts a`` joined to ``mini_batches m``).
ATTEMPT_COLUMNS = (
    "a.idx, a.attempt, a.worker, a.status, a.started, a.ended, a.total, a.succeeded, "
    "a.run_seconds, a.cpu_seconds, a.error_type, a.error_message, a.traceback, m.files"
)


def attempt_from_row(row: Sequence[Any]) -> Attempt:
    """An :class:`Attempt` from a row of :data:`ATTEMPT_COLUMNS`."""
    error = ErrorInfo(row[10], row[11] or "", row[12] or "") if row[10] else None
    return Attempt(
        index=row[0],
        attempt=row[1],
        worker=row[2],
        status=row[3],
        started=row[4],
        ended=row[5],
        total=row[6],
        succeeded=row[7],
        run_seconds=row[8],
        cpu_seconds=row[9],
        error=error or short_result(row[6], row[7]),
        files=tuple(json.loads(row[13])),
    )


def _iso(column: str) -> str:
    """SQL for ``column`` (seconds since the epoch) as local ISO time with milliseconds."""
    return (
        # Whole seconds first: SQLite would round x.9996 up to the next second.
        f"CASE WHEN {column} THEN strftime('%Y-%m-%dT%H:%M:%S', CAST({column} AS INTEGER), "
        "'unixepoch', "
        f"'localtime') || printf('.%03d', CAST({column} * 1000 AS INTEGER) % 1000) "
        "ELSE '' END"
    )


def processed_rows(db: sqlite3.Connection) -> sqlite3.Cursor:
    """The rows of ``processed_mini-batches.csv`` (reports.CSV_COLUMNS), by mini-batch then
    attempt: node and process split at the worker name's ``/``, times in local ISO form,
    a message longer than :data:`MAX_CSV_MESSAGE` cut with a note, and the files as JSON.

    A partial result (fewer results than inputs, no exception) shows as ``ShortResult``,
    as :func:`short_result` words it.
    """
    limit = MAX_CSV_MESSAGE
    message = "COALESCE(a.error_message, '')"
    short = "printf('run() returned %d results for %d inputs', a.succeeded, a.total)"
    return db.execute(
        "SELECT a.idx, a.attempt, "
        "CASE WHEN instr(a.worker, '/') THEN substr(a.worker, 1, instr(a.worker, '/') - 1) "
        "ELSE '' END, "
        "substr(a.worker, instr(a.worker, '/') + 1), "
        f"{_iso('a.started')}, {_iso('a.ended')}, "
        "a.total, a.succeeded, a.total - a.succeeded, "
        "CASE WHEN a.started THEN printf('%.3f', a.ended - a.started) ELSE '' END, "
        "printf('%.3f', a.cpu_seconds), printf('%.3f', a.run_seconds), a.status, "
        "CASE WHEN a.error_type IS NOT NULL THEN a.error_type "
        "WHEN a.succeeded < a.total THEN 'ShortResult' ELSE '' END, "
        "CASE WHEN a.error_type IS NOT NULL THEN "
        f"  CASE WHEN length({message}) <= {limit} THEN {message} "
        f"  ELSE substr({message}, 1, {limit}) || printf('… (%,d more characters in "
        f"logs/job_error.txt)', length({message}) - {limit}) END "
        f"WHEN a.succeeded < a.total THEN {short} ELSE '' END, "
        "m.files "
        "FROM attempts a JOIN mini_batches m ON m.idx = a.idx ORDER BY a.idx, a.attempt"
    )
