"""Workers killed while they hold deep queues: every row still comes out exactly once.

Mini-batches of a millisecond deepen each worker's queue (``Slot.depth``: up to 32 tasks
behind the running one), so a SIGKILL then takes a whole queue with it; the queued tasks go
back to be dispatched again without counting as a try.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil
import pytest

from shardrun.engine.ledger import Ledger
from tests.conftest import write_inputs
from tests.engine.test_runs import attempts, expected, lines, start

pytestmark = pytest.mark.slow


def _workers() -> list[psutil.Process]:
    found = []
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if "shardrun.worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def test_killing_workers_that_hold_deep_queues_loses_and_duplicates_no_row(
    tmp_path: Path,
) -> None:
    directives = ["sleep 0.003"] * 2000  # 3 ms each: about 30 queued
    write_inputs(tmp_path / "data", directives)
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        # Once results flow, kill a worker every 0.15 s, six times.
        parts = tmp_path / "ws" / "runs"
        while not done.is_set() and not list(parts.glob("*/parts/*.spill")):
            time.sleep(0.01)
        while not done.is_set() and len(killed) < 6:
            time.sleep(0.15)
            ready = [w for w in _workers() if time.time() - w.create_time() > 0.3]
            if ready:
                ready[0].kill()
                killed.append(ready[0].pid)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        # Enough tries that no mini-batch fails, however often one is the running task of
        # a killed worker (its retry goes first, so the next kill may find it again).
        result = start(tmp_path / "data", tmp_path, run_max_try=100)
    finally:
        done.set()
        thread.join()
    assert len(killed) >= 3, killed
    assert result.status == "Completed", result.reason
    assert result.failed_items == 0
    assert lines(result) == expected(directives)
    rows = attempts(result)
    lost = [r for r in rows if r["status"] == "WORKER_LOST"]
    assert 1 <= len(lost) <= len(killed)
    succeeded = {
        int(r["mini_batch_id"]): int(r["attempt"]) for r in rows if r["status"] == "SUCCEEDED"
    }
    assert sorted(succeeded) == list(range(len(directives)))
    # Only the running task of a killed worker used a try; the ~30 queued behind it went
    # back untouched: a mini-batch's successful attempt comes right after its lost ones.
    for index, attempt in succeeded.items():
        assert attempt == 1 + sum(int(r["mini_batch_id"]) == index for r in lost), index
    ledger = Ledger.open(result.run_dir / "ledger.sqlite")
    try:
        assert ledger.counts().done == len(directives)
    finally:
        ledger.close()
