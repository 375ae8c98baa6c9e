"""The ``shardrun`` command, run as a real subprocess."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCRIPTS, write_inputs

JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json
type: parallel
name: behave-job
inputs:
  items: {{type: uri_folder, path: ./data}}
outputs:
  scores: {{type: uri_folder, path: ./out}}
input_data: ${{{{inputs.items}}}}
mini_batch_size: "3"
error_threshold: {threshold}
max_concurrency_per_instance: 2
retry_settings: {{max_retries: 1, timeout: 30}}
task:
  type: run_function
  code: {code}
  entry_script: behave.py
  program_arguments: --model_name digits
  append_row_to: ${{{{outputs.scores}}}}
"""


def shardrun(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shardrun", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def project(tmp_path: Path, directives: list[str], threshold: int = -1) -> Path:
    write_inputs(tmp_path / "data", directives)
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(code=SCRIPTS, threshold=threshold))
    return job


def test_run_prints_id_first_and_output_last(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok"] * 7)
    done = shardrun("run", str(job), "--workspace", "ws", "--run-id", "first", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "first"
    output = Path(lines[-1])
    assert output == tmp_path / "out" / "parallel_run_step.txt"
    assert output.read_text().splitlines() == [f"item{n:05d}.txt: ok" for n in range(7)]
    assert any(line.startswith("Completed. 3 of 3 mini-batches") for line in lines)
    record = json.loads((tmp_path / "ws/runs/first/run.json").read_text())
    assert record["arguments"] == ["--model_name", "digits"]


def test_set_overrides_job_keys(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok"] * 7)
    done = shardrun(
        "run",
        str(job),
        "--workspace",
        "ws",
        "--set",
        "mini_batch_size=1",
        "--set",
        "retry_settings.timeout=5",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.splitlines()[0]
    record = json.loads((tmp_path / "ws/runs" / run_id / "run.json").read_text())
    assert record["counts"]["total"] == 7
    assert record["config"]["run_invocation_timeout"] == 5


def test_config_error_exits_2_with_one_line(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok"])
    done = shardrun("run", str(job), "--set", "mini_batch_size=1 MB", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "mini_batch_size" in done.stderr
    assert "'1 MB'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "shardrun-workspace" / "runs").exists() or not any(
        (tmp_path / "shardrun-workspace" / "runs").iterdir()
    )


def test_failed_run_exits_1_and_resume_completes(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok", "raise", "ok", "ok"], threshold=0)
    done = shardrun("run", str(job), "--workspace", "ws", "--run-id", "r1", cwd=tmp_path)
    assert done.returncode == 1
    assert "error_threshold=0" in done.stdout
    (tmp_path / "data" / "item00001.txt").write_text("ok")
    again = shardrun("resume", "r1", "--workspace", "ws", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip().splitlines()[-1]).read_text().count(": ok") == 4
    listing = shardrun("runs", "--workspace", "ws", cwd=tmp_path)
    assert "r1" in listing.stdout
    assert "Completed" in listing.stdout
    shown = json.loads(shardrun("show", "r1", "--workspace", "ws", "--json", cwd=tmp_path).stdout)
    assert shown["status"] == "Completed"
    logs = shardrun("logs", "r1", "--workspace", "ws", "--errors", cwd=tmp_path)
    assert "ValueError" in logs.stdout


def test_unknown_run_is_a_usage_error(tmp_path: Path) -> None:
    done = shardrun("resume", "nope", "--workspace", "ws", cwd=tmp_path)
    assert done.returncode == 2
    assert "no run 'nope'" in done.stderr


@pytest.mark.slow
def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    job = project(tmp_path, ["sleep 0.3"] * 40)
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shardrun",
            "run",
            str(job),
            "--workspace",
            "ws",
            "--run-id",
            "c",
            "--set",
            "mini_batch_size=1",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ledger = tmp_path / "ws/runs/c/logs/sys/worker/node0"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (ledger.exists() and any(ledger.iterdir())):
            time.sleep(0.1)
        time.sleep(1.0)
        driver.send_signal(signal.SIGINT)
        out, _err = driver.communicate(timeout=30)
    finally:
        driver.kill()
        driver.communicate()
    assert driver.returncode == 130
    assert "Canceled" in out
    record = json.loads((tmp_path / "ws/runs/c/run.json").read_text())
    assert record["status"] == "Canceled"


def test_a_refused_run_prints_no_run_id(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(code=SCRIPTS, threshold=-1))
    done = shardrun("run", str(job), "--workspace", "ws", "--run-id", "empty", cwd=tmp_path)
    assert done.returncode == 2
    assert "matched no data" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "ws/runs/empty").exists()
    missing = shardrun("resume", "nope", "--workspace", "ws", cwd=tmp_path)
    assert (missing.returncode, missing.stdout) == (2, "")


def test_a_failed_rerun_leaves_no_earlier_output_behind(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok"] * 4, threshold=0)
    first = shardrun("run", str(job), "--workspace", "ws", "--run-id", "one", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    output = tmp_path / "out" / "parallel_run_step.txt"
    assert output.exists()
    (tmp_path / "data" / "item00002.txt").write_text("raise")
    second = shardrun("run", str(job), "--workspace", "ws", "--run-id", "two", cwd=tmp_path)
    assert second.returncode == 1
    # The failed run removed the file it would have replaced: nothing points at stale rows.
    assert not output.exists()
    assert second.stdout.strip().splitlines()[-1] == str(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def status_of(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / "run.json").read_text())["status"])
    except (OSError, ValueError):
        return ""


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate()


@pytest.mark.slow
def test_a_second_live_run_on_an_output_folder_is_refused(tmp_path: Path) -> None:
    job = project(tmp_path, ["sleep 0.3"] * 30)
    command = [sys.executable, "-m", "shardrun", "run", str(job), "--workspace", "ws"]
    first = subprocess.Popen(
        [*command, "--run-id", "first", "--no-progress", "--set", "mini_batch_size=1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: status_of(tmp_path / "ws/runs/first") == "Running", 60, "first run")
        second = shardrun("run", str(job), "--workspace", "ws2", "--run-id", "two", cwd=tmp_path)
        assert second.returncode == 2
        assert second.stdout == ""
        assert second.stderr.count("\n") == 1
        assert f"output folder {tmp_path / 'out'} is in use by run 'first'" in second.stderr
        assert not (tmp_path / "ws2/runs/two").exists()
        # A killed run does not hold the folder: the next run takes it.
        first.kill()
        first.communicate(timeout=30)
        quick = project(tmp_path / "q", ["ok"] * 3)
        quick.write_text(quick.read_text().replace("./out", str(tmp_path / "out")))
        third = shardrun(
            "run", str(quick), "--workspace", "ws", "--run-id", "third", cwd=quick.parent
        )
        assert third.returncode == 0, third.stderr
        assert (tmp_path / "out/parallel_run_step.txt").read_text().count(": ok") == 3
        assert not (tmp_path / "out/.shardrun.lock").exists()
    finally:
        stop(first)


class Terminal:
    """``shardrun`` on a pseudo terminal of its own, as a user's shell runs it."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        master, slave = os.openpty()
        self.master = master
        self.output = b""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shardrun", *args],
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            # The terminal becomes the session's controlling terminal: ^C sends SIGINT.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)

    def read(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the other side closed
                    return

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self.read(0.1)
        self.read(0.2)
        return self.process.wait(1)

    def close(self) -> None:
        stop_process(self.process)
        os.close(self.master)


def stop_process(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


def running_rows(run_dir: Path) -> int:
    with sqlite3.connect(run_dir / "ledger.sqlite") as db:
        return int(
            db.execute("SELECT COUNT(*) FROM mini_batches WHERE state='running'").fetchone()[0]
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    "how",
    [
        "one ctrl-c",
        "two ctrl-c 30 ms apart",
        "two sigterm 30 ms apart",
        "two ctrl-c, the second as the summary prints",
        "two sigterm, the second as the summary prints",
    ],
)
def test_cancel_in_a_terminal_records_canceled(tmp_path: Path, how: str) -> None:
    count = 24
    job = project(tmp_path, ["sleep 0.3"] * count)
    run_dir = tmp_path / "ws/runs/c"
    args = ["run", str(job), "--workspace", "ws", "--run-id", "c", "--set", "mini_batch_size=1"]
    terminal = Terminal(args, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while b"mini-batches" not in terminal.output and time.monotonic() < deadline:
            terminal.read(0.1)
        assert b"mini-batches" in terminal.output, "no progress bar on the terminal"
        terminal.read(1.0)
        for n in range(1 if how.startswith("one") else 2):
            if n and "summary" in how:  # the run has ended: the process is on its way out
                while b"Canceled." not in terminal.output and terminal.process.poll() is None:
                    terminal.read(0.005)
            if "ctrl-c" in how:
                os.write(terminal.master, b"\x03")
            else:
                terminal.process.send_signal(signal.SIGTERM)
            time.sleep(0.03)
        exit_code = terminal.wait(30)
    finally:
        terminal.close()
    text = terminal.output.decode(errors="replace")
    assert exit_code == 130, text[-2000:]
    assert "Traceback" not in text
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "Canceled"
    assert (run_dir / "logs/job_result.txt").read_text().startswith("Canceled.")
    assert "state: Canceled" in (run_dir / "logs/job_progress_overview.txt").read_text()
    assert running_rows(run_dir) == 0
    assert record["counts"]["running"] == 0
    again = shardrun("resume", "c", "--workspace", "ws", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    lines = (tmp_path / "out/parallel_run_step.txt").read_text().splitlines()
    assert lines == [f"item{n:05d}.txt: sleep" for n in range(count)]
