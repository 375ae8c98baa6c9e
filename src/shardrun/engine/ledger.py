"""The run's ledger: one SQLite file that says what is planned, running, done or failed.

States of a mini-batch::

    pending ──> running ──> done      (its output part is durable on disk)
       ^           │
       └───────────┤ retry (tries < run_max_try), worker lost, driver gone
                   └──> failed    (tries exhausted: every item counts as failed)

Rules that make the output exactly-once:

* A mini-batch becomes ``done`` in the same transaction that records which bytes of which
  spill file hold its rows, and only after those bytes were fsynced (the scheduler does it).
* Bytes of other attempts are never read: the merge follows ``mini_batches.part``.
* On resume, ``running`` goes back to ``pending``; nothing else changes.

The ledger runs in WAL mode with ``synchronous=NORMAL``: a commit lost to a power cut can only
forget that a mini-batch is done, so it runs again; it can never claim a part that is not on
disk. Writes come in groups (many results, one transaction) so that thousands of
mini-batches a second stay possible.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shardrun.engine.attempts import Attempt, attempts, processed_rows, short_result
from shardrun.engine.messages import BatchResult, ErrorInfo, MiniBatch, Part

SCHEMA_VERSION = 1

_DDL = (
    """CREATE TABLE IF NOT EXISTS mini_batches (
        idx INTEGER PRIMARY KEY,
        input_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        files TEXT NOT NULL,
        items INTEGER NOT NULL,
        size INTEGER NOT NULL,
        start INTEGER NOT NULL,
        stop INTEGER NOT NULL,
        row_groups TEXT NOT NULL,
        keys TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        tries INTEGER NOT NULL DEFAULT 0,
        total INTEGER,
        succeeded INTEGER,
        rows INTEGER,
        part TEXT,
        part_offset INTEGER,
        part_length INTEGER,
        columns TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS mini_batches_state ON mini_batches (state, idx)",
    """CREATE TABLE IF NOT EXISTS attempts (
        idx INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        worker TEXT NOT NULL,
        status TEXT NOT NULL,
        started REAL NOT NULL,
        ended REAL NOT NULL,
        total INTEGER NOT NULL,
        succeeded INTEGER NOT NULL,
        run_seconds REAL NOT NULL,
        cpu_seconds REAL NOT NULL,
        error_type TEXT,
        error_message TEXT,
        traceback TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS attempts_idx ON attempts (idx, attempt)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

_COLUMNS = "idx, input_name, kind, files, items, size, start, stop, row_groups, keys"


@dataclass(frozen=True)
class Counts:
    """Totals over the whole run, read from the ledger in one query."""

    total: int
    pending: int
    running: int
    done: int
    failed: int
    succeeded_items: int
    failed_items: int
    failed_batches: int
    planned_items: int

    @property
    def finished(self) -> int:
        """Mini-batches that will not run again (done or failed)."""
        return self.done + self.failed


@dataclass(frozen=True)
class Outcome:
    """What the scheduler decided about one attempt; written by :meth:`Ledger.record`.

    ``state`` is the mini-batch's new state: ``done``, ``failed`` (tries exhausted) or
    ``pending`` (it will be retried).
    """

    result: BatchResult
    state: str
    status: str
    worker: str
    failed_items: int = 0


def attempt_error(result: BatchResult) -> ErrorInfo | None:
    """What went wrong in one attempt: its exception, or a short result; None if nothing."""
    return result.error or short_result(result.total, result.succeeded)


def _batch_row(batch: MiniBatch) -> tuple[object, ...]:
    return (
        batch.index,
        batch.input_name,
        batch.kind,
        json.dumps(batch.files),
        batch.items,
        batch.size,
        batch.start,
        batch.stop,
        json.dumps(batch.row_groups),
        json.dumps(batch.partition_key_value),
    )


def _batch_from_row(row: Sequence[object]) -> MiniBatch:
    return MiniBatch(
        index=int(row[0]),  # type: ignore[call-overload]
        input_name=str(row[1]),
        kind=row[2],  # type: ignore[arg-type]
        files=tuple(json.loads(str(row[3]))),
        items=int(row[4]),  # type: ignore[call-overload]
        size=int(row[5]),  # type: ignore[call-overload]
        start=int(row[6]),  # type: ignore[call-overload]
        stop=int(row[7]),  # type: ignore[call-overload]
        row_groups=tuple(json.loads(str(row[8]))),
        partition_key_value=tuple(tuple(kv) for kv in json.loads(str(row[9]))),
    )


class Ledger:
    """One run's SQLite ledger. Open it with :meth:`open`; close it with :meth:`close`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._transactions = 0  # transactions begun, to tell an abandoned one from the open one

    @classmethod
    def open(cls, path: str | Path, readonly: bool = False) -> Ledger:
        """Open (creating if needed) the ledger at ``path``; ``readonly`` for a reader."""
        path = Path(path)
        if readonly:
            uri = f"{path.resolve().as_uri()}?mode=ro"
            return cls(sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0), path)
        db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        ledger = cls(db, path)
        with ledger.transaction():
            for statement in _DDL:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return ledger

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE … COMMIT``, or ``ROLLBACK`` if the block raises.

        A transaction still open here was abandoned: a Ctrl-C (a ``KeyboardInterrupt`` raised
        by :class:`~shardrun.engine.signals.Interrupts`) landed between its ``BEGIN`` and the
        start of its block, or between the end of its block and its ``COMMIT``, where no
        ``except`` runs. Its block never completed for its caller, so it is rolled back,
        and the end of a canceled run can still write to the ledger.
        """
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        self._db.execute("BEGIN IMMEDIATE")
        self._transactions += 1
        mine = self._transactions
        try:
            yield self._db
        except BaseException:
            # An abandoned block that is closed later must not roll back a newer transaction.
            if self._db.in_transaction and self._transactions == mine:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- planning ------------------------------------------------------------------------

    def add_mini_batches(self, batches: Iterable[MiniBatch], chunk: int = 5000) -> int:
        """Stream mini-batch descriptors into the ledger, ``chunk`` rows per transaction.

        Returns:
            How many mini-batches were added.
        """
        added = 0
        rows: list[tuple[object, ...]] = []
        for batch in batches:
            rows.append(_batch_row(batch))
            if len(rows) >= chunk:
                added += self._insert(rows)
                rows = []
        return added + self._insert(rows)

    def _insert(self, rows: list[tuple[object, ...]]) -> int:
        if rows:
            with self.transaction() as db:
                db.executemany(
                    f"INSERT INTO mini_batches ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows
                )
        return len(rows)

    def clear_plan(self) -> None:
        """Forget a half-written plan (the driver died while listing the input)."""
        with self.transaction() as db:
            db.execute("DELETE FROM mini_batches")
            db.execute("DELETE FROM attempts")

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str, durable: bool = False) -> None:
        """Store a value in the ``meta`` table; ``durable`` fsyncs the commit (power cuts)."""
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            with self.transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        finally:
            if durable:
                self._db.execute("PRAGMA synchronous=NORMAL")

    # -- dispatch ------------------------------------------------------------------------

    def pending(self, page: int = 1000) -> Iterator[tuple[MiniBatch, int]]:
        """``(mini-batch, tries so far)`` of pending mini-batches in index order.

        Read a page at a time (bounded memory); no cursor stays open between pages, so the
        caller may write to the ledger while it iterates.
        """
        last = -1
        while True:
            rows = self._db.execute(
                f"SELECT {_COLUMNS}, tries FROM mini_batches WHERE state='pending' AND idx>? "
                "ORDER BY idx LIMIT ?",
                (last, page),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _batch_from_row(row), int(row[-1])
            last = int(rows[-1][0])

    def reset_running(self) -> int:
        """Put mini-batches left ``running`` by a dead driver back to ``pending``."""
        with self.transaction() as db:
            cursor = db.execute("UPDATE mini_batches SET state='pending' WHERE state='running'")
        return cursor.rowcount

    def reopen_failed(self) -> int:
        """Give failed mini-batches a fresh set of tries (``shardrun resume`` of a failed run)."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE mini_batches SET state='pending', tries=0, total=NULL, succeeded=NULL "
                "WHERE state='failed'"
            )
        return cursor.rowcount

    def record(self, running: Iterable[int], outcomes: Sequence[Outcome]) -> None:
        """Write one group of changes in a single transaction.

        Args:
            running: Mini-batches handed to workers since the last group.
            outcomes: Finished attempts. A ``done`` outcome's part must already be durable.
        """
        with self.transaction() as db:
            db.executemany(
                "UPDATE mini_batches SET state='running' WHERE idx=? AND state='pending'",
                ((i,) for i in running),
            )
            for outcome in outcomes:
                self._record_one(db, outcome)

    @staticmethod
    def _record_one(db: sqlite3.Connection, outcome: Outcome) -> None:
        r = outcome.result
        error = r.error
        db.execute(
            "INSERT INTO attempts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                r.index,
                r.attempt,
                outcome.worker,
                outcome.status,
                r.started,
                r.ended,
                r.total,
                r.succeeded,
                r.run_seconds,
                r.cpu_seconds,
                error.type if error else None,
                error.message if error else None,
                error.traceback if error else None,
            ),
        )
        columns = json.dumps(r.columns) if r.columns is not None else None
        if outcome.state == "done":
            db.execute(
                "UPDATE mini_batches SET state='done', tries=?, total=?, succeeded=?, rows=?, "
                "part=?, part_offset=?, part_length=?, columns=? WHERE idx=?",
                (
                    r.attempt,
                    r.total,
                    r.succeeded,
                    r.rows,
                    r.part.path if r.part else None,
                    r.part.offset if r.part else None,
                    r.part.length if r.part else None,
                    columns,
                    r.index,
                ),
            )
        elif outcome.state == "failed":
            db.execute(
                "UPDATE mini_batches SET state='failed', tries=?, total=?, succeeded=0 WHERE idx=?",
                (r.attempt, outcome.failed_items, r.index),
            )
        else:
            db.execute(
                "UPDATE mini_batches SET state='pending', tries=? WHERE idx=?",
                (r.attempt, r.index),
            )

    # -- reading back --------------------------------------------------------------------

    def counts(self) -> Counts:
        """Totals by state and item counts, in one query."""
        row = self._db.execute(
            """SELECT COUNT(*),
                 COALESCE(SUM(state='pending'), 0), COALESCE(SUM(state='running'), 0),
                 COALESCE(SUM(state='done'), 0), COALESCE(SUM(state='failed'), 0),
                 COALESCE(SUM(CASE WHEN state='done' THEN succeeded END), 0),
                 COALESCE(SUM(CASE WHEN state IN ('done','failed') THEN total-succeeded END), 0),
                 COALESCE(SUM(state='failed' OR (state='done' AND succeeded<total)), 0),
                 COALESCE(SUM(MAX(items, 0)), 0)
               FROM mini_batches"""
        ).fetchone()
        return Counts(*(int(v) for v in row))

    def parts(self) -> Iterator[tuple[int, Part, tuple[str, ...] | None]]:
        """``(index, part, columns)`` of every done mini-batch with output, in index order."""
        cursor = self._db.execute(
            "SELECT idx, part, part_offset, part_length, columns FROM mini_batches "
            "WHERE state='done' AND part IS NOT NULL ORDER BY idx"
        )
        for idx, path, offset, length, columns in cursor:
            part = Part(str(path), int(offset), int(length))
            yield int(idx), part, tuple(json.loads(columns)) if columns else None

    def batch(self, index: int) -> MiniBatch:
        """The descriptor of one mini-batch."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM mini_batches WHERE idx=?", (index,)
        ).fetchone()
        if row is None:
            raise KeyError(index)
        return _batch_from_row(row)

    def attempts(self, failed_only: bool = False) -> Iterator[Attempt]:
        """Recorded attempts with their files (see :func:`~shardrun.engine.attempts.attempts`)."""
        return attempts(self._db, failed_only)

    def processed_rows(self) -> sqlite3.Cursor:
        """The rows of ``processed_mini-batches.csv``, formatted by SQLite in one query."""
        return processed_rows(self._db)

    def first_error(self) -> Attempt | None:
        """The first attempt that failed, for messages that must show the real cause."""
        return next(self.attempts(failed_only=True), None)
