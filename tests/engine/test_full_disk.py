"""A full workspace disk: one line, status Failed with the reason, and resume once freed.

The disk is real: a small tmpfs mounted for the test (it needs root and ``mount``; the test
is skipped, saying why, where neither is available).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shardrun.workspace.workspace import Workspace
from tests.conftest import tmpfs
from tests.test_cli import project, shardrun


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs at ``tmp_path/disk``, unmounted after the test."""
    with tmpfs(tmp_path / "disk", "size=4m") as disk:
        yield disk


def fill(disk: Path) -> Path:
    ballast = disk / "ballast"
    with open(ballast, "ab") as handle:
        try:
            while True:
                handle.write(bytes(65536))
                handle.flush()
        except OSError:
            pass
    return ballast


def done_count(ledger: Path) -> int:
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
            row = db.execute("SELECT COUNT(*) FROM mini_batches WHERE state='done'").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


@pytest.mark.slow
def test_a_disk_filling_up_mid_run_fails_it_in_one_line_and_resume_works(
    tmp_path: Path, small_disk: Path
) -> None:
    count = 40
    job = project(tmp_path, ["sleep 0.1"] * count, threshold=0)
    ws = small_disk / "ws"
    args = ["run", str(job), "--workspace", str(ws), "--run-id", "f", "--no-progress"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "shardrun", *args, "--set", "mini_batch_size=1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while done_count(ws / "runs/f/ledger.sqlite") < 4:
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        ballast = fill(small_disk)
        out, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.communicate()
    assert driver.returncode == 1, err
    assert "Traceback" not in out + err
    assert err == ""
    summary = out.splitlines()[1]
    assert summary.startswith("Failed.")
    assert "No space left on device" in summary or "disk is full" in summary
    assert "free some disk space, then `shardrun resume f`" in summary
    record = json.loads((ws / "runs/f/run.json").read_text())
    assert record["status"] == "Failed"
    assert record["reason"] in summary
    ballast.unlink()
    again = shardrun("resume", "f", "--workspace", str(ws), "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    lines = (tmp_path / "out/parallel_run_step.txt").read_text().splitlines()
    assert lines == [f"item{n:05d}.txt: sleep" for n in range(count)]


def test_a_full_disk_before_the_run_exists_is_one_line(tmp_path: Path, small_disk: Path) -> None:
    job = project(tmp_path, ["ok"] * 3)
    ws = small_disk / "ws"
    Workspace.create(ws)
    fill(small_disk)
    done = shardrun("run", str(job), "--workspace", str(ws), "--run-id", "x", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    # The workspace's catalogue is the first thing to need a byte.
    assert done.stderr.startswith("error: opening the workspace failed: SQLite: disk I/O error")
    assert done.stderr.endswith("; free some disk space, then start the run again\n")
    assert not (ws / "runs/x").exists()
