"""The end of a run: a driver killed at any step of it is finished by ``shardrun resume``.

Each test kills a real ``shardrun run`` at one step through the documented test hook
(``SHARDRUN_TEST_KILL_AT``, see :mod:`shardrun.engine.finish`), then resumes it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from shardrun.engine.finish import KILL_AT
from tests.test_cli import project, shardrun

ITEMS = 4
EXPECTED = [f"item{n:05d}.txt: ok" for n in range(ITEMS)]
STEPS = ["merging", "merge", "merged", "parts", "reports"]


def run_killed_at(tmp_path: Path, step: str) -> tuple[Path, Path]:
    job = project(tmp_path, ["ok"] * ITEMS)
    args = ("run", str(job), "--workspace", "ws", "--run-id", "k", "--set", "mini_batch_size=1")
    killed = shardrun(*args, cwd=tmp_path, env={KILL_AT: step})
    assert killed.returncode == -9, killed.stderr
    return tmp_path / "ws/runs/k", tmp_path / "out"


def attempts_per_batch(run_dir: Path) -> list[int]:
    with sqlite3.connect(run_dir / "ledger.sqlite") as db:
        rows = db.execute("SELECT COUNT(*) FROM attempts GROUP BY idx ORDER BY idx").fetchall()
    return [int(count) for (count,) in rows]


def leftovers(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_a_driver_killed_at_any_end_step_is_finished_by_resume(tmp_path: Path, step: str) -> None:
    run_dir, out = run_killed_at(tmp_path, step)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "Running"
    if step == "merging":
        # Killed inside the merge: its temporary file is there (issue 8, item 2).
        assert [p.name for p in leftovers(out)] != []
    # What a driver killed while it rewrote run.json leaves behind.
    (run_dir / ".run.json.99999.tmp").write_text("{")
    resumed = shardrun("resume", "k", "--workspace", "ws", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    lines = resumed.stdout.strip().splitlines()
    assert lines[0] == "k"
    assert Path(lines[-1]) == out / "parallel_run_step.txt"
    assert (out / "parallel_run_step.txt").read_text().splitlines() == EXPECTED
    record = json.loads((run_dir / "run.json").read_text())
    assert (record["status"], record["counts"]["done"]) == ("Completed", ITEMS)
    assert (run_dir / "logs/job_result.txt").read_text().startswith("Completed. 4 of 4")
    assert (run_dir / "logs/job_error.txt").read_text().strip() == "No errors."
    assert not (run_dir / "parts").exists()
    assert leftovers(out, run_dir) == []
    assert sorted(p.name for p in out.iterdir()) == ["parallel_run_step.txt"]
    assert attempts_per_batch(run_dir) == [1] * ITEMS, "a mini-batch ran again"


@pytest.mark.slow
def test_sigterm_after_the_merge_is_recorded_does_not_interrupt_the_end(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok"] * ITEMS)
    args = ("run", str(job), "--workspace", "ws", "--run-id", "t", "--set", "mini_batch_size=1")
    done = shardrun(*args, cwd=tmp_path, env={KILL_AT: "merged:TERM"})
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "ws/runs/t/run.json").read_text())
    assert record["status"] == "Completed"
    assert (tmp_path / "out/parallel_run_step.txt").read_text().splitlines() == EXPECTED
    assert not (tmp_path / "ws/runs/t/parts").exists()


@pytest.mark.slow
def test_sigterm_before_the_merge_is_recorded_cancels_without_an_output(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok"] * ITEMS)
    args = ("run", str(job), "--workspace", "ws", "--run-id", "t", "--set", "mini_batch_size=1")
    done = shardrun(*args, cwd=tmp_path, env={KILL_AT: "merge:TERM"})
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    record = json.loads((tmp_path / "ws/runs/t/run.json").read_text())
    assert (record["status"], record["reason"]) == ("Canceled", "canceled by SIGTERM")
    # A canceled run does not look as if it produced the file.
    assert not (tmp_path / "out/parallel_run_step.txt").exists()
    again = shardrun("resume", "t", "--workspace", "ws", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "out/parallel_run_step.txt").read_text().splitlines() == EXPECTED
    assert attempts_per_batch(tmp_path / "ws/runs/t") == [1] * ITEMS
