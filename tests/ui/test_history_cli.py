"""``shardrun runs``, ``show``, ``logs`` and ``cancel`` on real runs, as real subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shardrun.engine.history import summarise
from tests.test_cli import project, shardrun


def cli(*args: str, cwd: Path, columns: int = 80) -> subprocess.CompletedProcess[str]:
    """``shardrun ARGS`` with a terminal of ``columns`` columns."""
    return shardrun(*args, cwd=cwd, env={"COLUMNS": str(columns)})


def start_run(
    tmp_path: Path, run_id: str, directives: list[str], *more: str
) -> subprocess.Popen[str]:
    """A ``shardrun run`` in the background, one mini-batch per input; ``more``: options."""
    job = project(tmp_path, directives)
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "shardrun", "run", str(job), "--workspace", "ws"),
            *("--run-id", run_id, "--set", "mini_batch_size=1", "--no-progress", *more),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_running(run_dir: Path, done_at_least: int = 1, timeout: float = 60) -> None:
    """Wait until the run is Running and its ledger counts ``done_at_least`` finished mini-batches.

    The ledger, not the worker logs: a worker logs ``done:`` before the driver records it, and
    ``show``, ``runs`` and the dashboard read the ledger.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "run.json").exists():
            summary = summarise(run_dir)
            if summary.status == "Running" and summary.finished >= done_at_least:
                return
        time.sleep(0.1)
    raise AssertionError(f"{run_dir.name} did not start running")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_runs_table_keeps_whole_ids_at_80_columns_and_json_parses(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok", "raise", "ok", "ok", "ok", "ok", "ok"])
    done = shardrun("run", str(job), "--workspace", "ws", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.splitlines()[0]
    assert len(run_id) >= 30  # behave-job-YYYYmmdd-HHMMSS-xxxxxx
    table = cli("runs", "--workspace", "ws", cwd=tmp_path, columns=80)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    row = next(line for line in lines if line.startswith(run_id))
    assert row.split()[:3] == [run_id, "Completed", "3/3"]
    listed = json.loads(cli("runs", "--workspace", "ws", "--json", cwd=tmp_path).stdout)
    assert [r["run_id"] for r in listed] == [run_id]
    assert listed[0]["status"] == "Completed"
    assert (listed[0]["succeeded_items"], listed[0]["failed_items"]) == (4, 3)
    assert listed[0]["progress"] == 1.0
    assert listed[0]["items_per_second"] > 0


def test_show_takes_a_prefix_and_summarises(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok", "raise", "ok", "ok"])
    for run_id in ("alpha-one", "alpha-two"):
        done = shardrun("run", str(job), "--workspace", "ws", "--run-id", run_id, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    shown = cli("show", "alpha-two", "--workspace", "ws", cwd=tmp_path, columns=100)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.splitlines()[0].split() == ["alpha-two", "Completed"]
    assert "1 succeeded, 3 failed" in text
    assert "1x ValueError: bad input on purpose" in text
    assert "item00001.txt" in text  # the failed input
    assert str(tmp_path / "out" / "parallel_run_step.txt") in text
    # v2 names, not v1 ones
    assert "max_concurrency_per_instance: 2" in text
    assert "timeout: 30" in text
    assert "process_count_per_node" not in text
    assert "run_invocation_timeout" not in text
    raw = json.loads(cli("show", "alpha-one", "--workspace", "ws", "--json", cwd=tmp_path).stdout)
    assert raw["run_id"] == "alpha-one"
    assert raw["config"]["process_count_per_node"] == 2
    ambiguous = cli("show", "alph", "--workspace", "ws", cwd=tmp_path)
    assert ambiguous.returncode == 2
    assert ambiguous.stderr.count("\n") == 1
    assert "alpha-one, alpha-two" in ambiguous.stderr
    assert "Traceback" not in ambiguous.stderr
    unique = json.loads(cli("show", "alpha-o", "--workspace", "ws", "--json", cwd=tmp_path).stdout)
    assert unique["run_id"] == "alpha-one"
    missing = cli("logs", "beta", "--workspace", "ws", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no run 'beta'" in missing.stderr


def test_logs_of_one_worker(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok"] * 4)
    assert (
        shardrun("run", str(job), "--workspace", "ws", "--run-id", "w1", cwd=tmp_path).returncode
        == 0
    )
    out = cli("logs", "w1", "--workspace", "ws", "--worker", "node0/process000", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "process000 on node0: pid" in out.stdout
    assert "init pid=" in out.stdout  # the script's stdout
    bad = cli("logs", "w1", "--workspace", "ws", "--worker", "process9", cwd=tmp_path)
    assert bad.returncode == 2
    assert "process000" in bad.stderr


@pytest.mark.slow
def test_cancel_by_prefix_ends_the_run_canceled(tmp_path: Path) -> None:
    driver = start_run(tmp_path, "long-run-1", ["sleep 0.3"] * 60)
    try:
        run_dir = tmp_path / "ws/runs/long-run-1"
        wait_running(run_dir)
        shown = cli("show", "long", "--workspace", "ws", cwd=tmp_path, columns=100).stdout
        assert shown.splitlines()[0].split() == ["long-run-1", "Running"]
        assert any(line.split()[:1] == ["ETA"] for line in shown.splitlines()), shown
        (live,) = json.loads(cli("runs", "--workspace", "ws", "--json", cwd=tmp_path).stdout)
        assert live["driver_alive"] is True
        assert 0 < live["finished"] < live["total"] == 60
        follower = subprocess.Popen(
            [sys.executable, "-m", "shardrun", "logs", "long", "--workspace", "ws", "--follow"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            canceled = cli("cancel", "long", "--workspace", "ws", cwd=tmp_path)
            assert canceled.returncode == 0, canceled.stderr
            assert f"(pid {driver.pid})" in canceled.stdout
            assert canceled.stdout.strip().endswith("long-run-1: Canceled")
            driver.communicate(timeout=30)
            assert driver.returncode == 130
            followed, _ = follower.communicate(timeout=30)
        finally:
            stop(follower)
        assert follower.returncode == 0
        assert "[node0/process000 sys]" in followed
        assert " done:" in followed
        record = json.loads((run_dir / "run.json").read_text())
        assert record["status"] == "Canceled"
        again = cli("cancel", "long-run-1", "--workspace", "ws", cwd=tmp_path)
        assert again.returncode == 2
        assert "not running (status Canceled)" in again.stderr
    finally:
        if driver.poll() is None:
            driver.send_signal(signal.SIGKILL)
        stop(driver)


@pytest.mark.slow
def test_a_run_whose_driver_was_killed_reads_not_responding(tmp_path: Path) -> None:
    driver = start_run(tmp_path, "killed", ["sleep 0.3"] * 30)
    try:
        wait_running(tmp_path / "ws/runs/killed")
        driver.send_signal(signal.SIGKILL)
        driver.communicate(timeout=30)
    finally:
        stop(driver)
    (run,) = json.loads(cli("runs", "--workspace", "ws", "--json", cwd=tmp_path).stdout)
    assert (run["status"], run["driver_alive"], run["running"]) == ("NotResponding", False, 0)
    assert run["pending"] + run["done"] == 30
    assert run["eta_seconds"] is None
    table = cli("runs", "--workspace", "ws", cwd=tmp_path).stdout
    assert "killed  NotResponding" in table
    cancel = cli("cancel", "kill", "--workspace", "ws", cwd=tmp_path)
    assert cancel.returncode == 2
    assert "has no driver any more (NotResponding)" in cancel.stderr
    assert "`shardrun resume killed` continues it" in cancel.stderr
