"""Resume after a killed driver or a Ctrl-C: nothing lost, nothing run twice, no orphans."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from shardrun import resume
from tests.conftest import SCRIPTS, write_inputs

DRIVER = """
import sys
from shardrun import ParallelRunConfig, run_parallel
config = ParallelRunConfig(entry_script="behave.py", source_directory=sys.argv[1],
                           mini_batch_size="1", process_count_per_node=2)
result = run_parallel(config, sys.argv[2], sys.argv[3], workspace=sys.argv[4], run_id="victim",
                      show_progress=False)
print("STATUS", result.status)
"""


def start_driver(tmp_path: Path, count: int) -> tuple[subprocess.Popen[str], Path]:
    write_inputs(tmp_path / "data", ["sleep 0.2"] * count)
    ws = tmp_path / "ws"
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DRIVER,
            str(SCRIPTS),
            str(tmp_path / "data"),
            str(tmp_path / "out"),
            str(ws),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return driver, ws / "runs" / "victim"


def done_batches(run_dir: Path) -> set[int]:
    ledger = run_dir / "ledger.sqlite"
    if not ledger.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
            return {row[0] for row in db.execute("SELECT idx FROM mini_batches WHERE state='done'")}
    except sqlite3.OperationalError:
        return set()


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def worker_pids(run_dir: Path) -> list[int]:
    pids = []
    for log in (run_dir / "logs/sys/worker/node0").iterdir():
        first = log.read_text().splitlines()[0]
        pids.append(int(first.split("pid ")[1].split()[0]))
    return pids


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def attempts_of(run_dir: Path, index: int) -> int:
    with sqlite3.connect(run_dir / "ledger.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM attempts WHERE idx=?", (index,)).fetchone()[0])


@pytest.mark.slow
def test_resume_after_driver_sigkill(tmp_path: Path) -> None:
    from shardrun.engine.runs import inspect_run, list_runs

    count = 30
    driver, run_dir = start_driver(tmp_path, count)
    try:
        wait_for(lambda: len(done_batches(run_dir)) >= 6, 60, "six finished mini-batches")
        assert inspect_run(run_dir)["status"] == "Running"
        pids = worker_pids(run_dir)
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        done_before = done_batches(run_dir)
        assert 6 <= len(done_before) < count
        # Nobody drives the run any more: a reader sees nothing running (issue 8, item 3).
        seen = inspect_run(run_dir)
        assert seen["status"] == "NotResponding"
        counts = seen["counts"]
        assert counts["running"] == 0
        assert counts["done"] == len(done_before)
        assert counts["pending"] + counts["done"] + counts["failed"] == count
        assert [r["status"] for r in list_runs(tmp_path / "ws")] == ["NotResponding"]
        # Workers notice that their driver is gone and exit within seconds.
        wait_for(lambda: not any(alive(p) for p in pids), 5, "orphaned workers to exit")
    finally:
        driver.kill()
        driver.communicate()
    result = resume("victim", workspace=tmp_path / "ws", show_progress=False)
    assert result.status == "Completed"
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == [
        f"item{n:05d}.txt: sleep" for n in range(count)
    ]
    for index in done_before:
        assert attempts_of(run_dir, index) == 1, f"mini-batch {index} ran again"


@pytest.mark.slow
def test_ctrl_c_cancels_cleanly_and_resume_completes(tmp_path: Path) -> None:
    from shardrun.engine.runs import inspect_run

    count = 30
    driver, run_dir = start_driver(tmp_path, count)
    try:
        wait_for(lambda: len(done_batches(run_dir)) >= 4, 60, "four finished mini-batches")
        pids = worker_pids(run_dir)
        driver.send_signal(signal.SIGINT)
        out, _ = driver.communicate(timeout=20)
    finally:
        driver.kill()
        driver.communicate()
    assert "STATUS Canceled" in out
    assert not any(alive(p) for p in pids)
    with sqlite3.connect(run_dir / "ledger.sqlite") as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM mini_batches GROUP BY state"))
    assert "running" not in states, states
    assert inspect_run(run_dir)["status"] == "Canceled"
    assert "Canceled" in (run_dir / "logs" / "job_result.txt").read_text()
    result = resume("victim", workspace=tmp_path / "ws", show_progress=False)
    assert result.status == "Completed"
    assert result.output_file is not None
    lines = result.output_file.read_text().splitlines()
    assert lines == [f"item{n:05d}.txt: sleep" for n in range(count)]


def test_resume_of_a_completed_run_does_nothing(tmp_path: Path) -> None:
    from shardrun import ParallelRunConfig, run_parallel

    write_inputs(tmp_path / "data", ["ok"] * 3)
    config = ParallelRunConfig(
        entry_script="behave.py",
        source_directory=str(SCRIPTS),
        mini_batch_size="1",
        process_count_per_node=1,
    )
    first = run_parallel(
        config, tmp_path / "data", tmp_path / "out", workspace=tmp_path / "ws", show_progress=False
    )
    again = first.resume(show_progress=False)
    assert again.status == "Completed"
    assert again.output_file == first.output_file
    assert attempts_of(first.run_dir, 0) == 1


def test_resume_of_a_failed_run_retries_only_what_failed(tmp_path: Path) -> None:
    from shardrun import ParallelRunConfig, run_parallel

    data = tmp_path / "data"
    paths = write_inputs(data, ["ok", "raise", "ok"])
    config = ParallelRunConfig(
        entry_script="behave.py",
        source_directory=str(SCRIPTS),
        mini_batch_size="1",
        process_count_per_node=1,
        run_max_try=1,
        error_threshold=0,
    )
    first = run_parallel(
        config, data, tmp_path / "out", workspace=tmp_path / "ws", show_progress=False
    )
    assert first.status == "Failed"
    paths[1].write_text("ok")  # the user fixes the bad input
    result = resume(first.run_id, workspace=tmp_path / "ws", show_progress=False)
    assert result.status == "Completed"
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == [
        "item00000.txt: ok",
        "item00001.txt: ok",
        "item00002.txt: ok",
    ]
    assert attempts_of(first.run_dir, 0) == 1
    assert os.path.exists(first.run_dir / "ledger.sqlite")
