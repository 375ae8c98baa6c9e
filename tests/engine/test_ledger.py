"""The ledger: states, grouped records, resume resets, bounded reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shardrun.engine.ledger import Ledger, Outcome
from shardrun.engine.messages import BatchResult, ErrorInfo, MiniBatch, Part


def batches(count: int) -> list[MiniBatch]:
    return [MiniBatch(i, "input", (f"/d/f{i}",), 1, 10) for i in range(count)]


def done(index: int, attempt: int = 1, part: Part | None = None) -> Outcome:
    result = BatchResult(0, index, attempt, 1, 1, 1, part or Part("/p/s.spill", index * 3, 3))
    return Outcome(result, "done", "SUCCEEDED", "node0/process000")


def failed(index: int, attempt: int, state: str) -> Outcome:
    error = ErrorInfo("ValueError", "bad", "Traceback ...")
    result = BatchResult(0, index, attempt, 1, 0, error=error, ended=float(index))
    return Outcome(
        result, state, "RUN_EXCEPTION", "node0/process000", 1 if state == "failed" else 0
    )


def test_plan_is_streamed_and_read_back_in_order(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite")
    assert ledger.add_mini_batches(iter(batches(25)), chunk=7) == 25
    pending = list(ledger.pending(page=4))
    assert [b.index for b, _tries in pending] == list(range(25))
    assert pending[3] == (batches(25)[3], 0)
    counts = ledger.counts()
    assert (counts.total, counts.pending, counts.planned_items) == (25, 25, 25)


def test_record_moves_states_and_counts(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite")
    ledger.add_mini_batches(batches(4))
    ledger.record([0, 1, 2, 3], [done(0), failed(1, 1, "pending"), failed(2, 3, "failed")])
    counts = ledger.counts()
    assert (counts.done, counts.failed, counts.pending, counts.running) == (1, 1, 1, 1)
    assert (counts.succeeded_items, counts.failed_items, counts.failed_batches) == (1, 1, 1)
    assert [b.index for b, _ in ledger.pending()] == [1]
    assert {b.index: t for b, t in ledger.pending()} == {1: 1}
    assert [(i, p) for i, p, _c in ledger.parts()] == [(0, Part("/p/s.spill", 0, 3))]
    first = ledger.first_error()
    assert first is not None
    assert first.index == 1
    assert first.error is not None
    assert [a.status for a in ledger.attempts()] == ["SUCCEEDED", "RUN_EXCEPTION", "RUN_EXCEPTION"]


def test_resume_resets_running_and_reopens_failed(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    ledger = Ledger.open(path)
    ledger.add_mini_batches(batches(3))
    ledger.record([0, 1, 2], [done(0), failed(1, 3, "failed")])
    ledger.close()
    again = Ledger.open(path)
    assert again.reset_running() == 1
    assert again.reopen_failed() == 1
    assert [(b.index, t) for b, t in again.pending()] == [(1, 0), (2, 0)]
    assert again.counts().done == 1


def test_a_failed_group_commit_leaves_nothing_behind(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite")
    ledger.add_mini_batches(batches(2))
    bad = Outcome(BatchResult(0, 1, 1, 1, 1), "done", "SUCCEEDED", object())  # type: ignore[arg-type]
    with pytest.raises(sqlite3.Error):
        ledger.record([0, 1], [done(0), bad])
    assert ledger.counts().pending == 2
    assert list(ledger.attempts()) == []


def test_meta_and_clear_plan(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite")
    assert ledger.get_meta("planned") is None
    ledger.add_mini_batches(batches(2))
    ledger.set_meta("planned", "1")
    assert ledger.get_meta("planned") == "1"
    ledger.clear_plan()
    assert ledger.counts().total == 0


def test_short_results_count_as_failed_attempts_with_a_named_error(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite")
    ledger.add_mini_batches(iter([MiniBatch(0, "input", ("/d/a", "/d/b"), 10, 10)]))
    result = BatchResult(0, 0, 1, 10, 3, 3, Part("/p/s.spill", 0, 3), ended=1.0)
    ledger.record([0], [Outcome(result, "done", "PARTIAL", "node0/process000", 7)])
    (attempt,) = ledger.attempts(failed_only=True)
    assert attempt.error == ErrorInfo(
        "ShortResult",
        "run() returned 3 results for 10 inputs",
        "run() returned 3 results for 10 inputs",
    )
    assert ledger.first_error() == attempt


def test_a_reader_opens_the_ledger_read_only(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite")
    ledger.add_mini_batches(iter(batches(3)))
    ledger.record([0, 1], [])
    ledger.set_meta("merged", "/out/file.txt", durable=True)
    reader = Ledger.open(tmp_path / "l.sqlite", readonly=True)
    try:
        assert (reader.counts().running, reader.get_meta("merged")) == (2, "/out/file.txt")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.set_meta("x", "y")
    finally:
        reader.close()
        ledger.close()


def test_a_transaction_abandoned_by_an_interrupt_does_not_wedge_the_ledger(
    tmp_path: Path,
) -> None:
    # A Ctrl-C that lands between BEGIN and the block: the context manager's __exit__ never
    # runs. The end of the canceled run must still write, and the stale writes must go.
    ledger = Ledger.open(tmp_path / "l.sqlite")
    ledger.add_mini_batches(batches(3))
    abandoned = ledger.transaction()
    db = abandoned.__enter__()
    db.execute("UPDATE mini_batches SET state = 'running'")
    assert ledger.reset_running() == 0  # the stale UPDATE was rolled back first
    ledger.record([0], [done(0)])
    # Closing the abandoned block later (its generator collected) rolls back nothing newer.
    assert abandoned.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None) is False
    ledger.close()
    again = Ledger.open(tmp_path / "l.sqlite")
    counts = again.counts()
    assert (counts.done, counts.pending, counts.running) == (1, 2, 0)
