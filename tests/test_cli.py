"""The ``shardrun`` command, run as a real subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def shardrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shardrun", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
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
