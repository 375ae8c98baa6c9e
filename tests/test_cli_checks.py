"""The CLI's option checks: each mistake is one line on stderr, exit 2, before any worker.

Issue 8, items 12 (run ids), 13 (output location), 16 (one line each) and 17
(``--workspace`` reaches every lookup).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shardrun import ParallelRunConfig, run_parallel
from shardrun.workspace.datastores import Datastore
from shardrun.workspace.workspace import Workspace
from tests.conftest import SCRIPTS, write_inputs

JOB = """\
type: parallel
inputs:
  items: {{type: uri_folder, path: {path}}}
outputs:
  scores: {{type: uri_folder, path: {output}}}
input_data: ${{{{inputs.items}}}}
mini_batch_size: "2"
max_concurrency_per_instance: 1
task:
  code: {code}
  entry_script: behave.py
  append_row_to: ${{{{outputs.scores}}}}
"""


def shardrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SHARDRUN_WORKSPACE"}
    return subprocess.run(
        [sys.executable, "-m", "shardrun", *args, *(["--no-progress"] if args[0] == "run" else [])],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def job(tmp_path: Path, path: str = "./data", output: str = "./out", extra: str = "") -> Path:
    write_inputs(tmp_path / "data", ["ok"] * 3)
    file = tmp_path / "job.yaml"
    file.write_text(JOB.format(path=path, output=output, code=SCRIPTS) + extra)
    return file


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    assert "Usage:" not in done.stderr
    return done.stderr.strip()


# -- item 12: run ids ----------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["../../x", "a/b", "ABSOLUTE"])
def test_run_id_that_escapes_the_workspace(tmp_path: Path, run_id: str) -> None:
    run_id = str(tmp_path / "abs") if run_id == "ABSOLUTE" else run_id
    before = set(tmp_path.parent.iterdir())
    done = shardrun(
        "run", str(job(tmp_path)), "--workspace", "a/ws", "--run-id", run_id, cwd=tmp_path
    )
    assert one_line_error(done) == (
        "error: run id must be 1 to 255 letters, digits, '_', '-' or '.', not starting with "
        f"'.' and without '..'; got {run_id!r}"
    )
    assert done.stdout == ""  # not even the run id: nothing started
    assert set(tmp_path.parent.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "job.yaml"]


@pytest.mark.parametrize("command", ["resume", "show", "logs"])
def test_run_id_argument_is_checked(tmp_path: Path, command: str) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "run.json").write_text('{"status": "Failed"}')
    done = shardrun(command, "../../outside", "--workspace", "ws", cwd=tmp_path)
    assert "run id must be" in one_line_error(done)


# -- item 13: the output location ----------------------------------------------------------


def test_output_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    done = shardrun("run", str(job(tmp_path)), "--workspace", "ws", "--run-id", "r", cwd=tmp_path)
    message = one_line_error(done)
    assert message == (
        "error: output must be a folder that can be created and written; got "
        f"{str(tmp_path / 'out')!r}, which is a file"
    )
    assert not (tmp_path / "ws" / "runs" / "r").exists()


# -- item 16: one line each ----------------------------------------------------------------


def test_empty_set_value(tmp_path: Path) -> None:
    done = shardrun("run", str(job(tmp_path)), "--set", "mini_batch_size=", cwd=tmp_path)
    assert "override 'mini_batch_size=' must be KEY=VALUE with a value" in one_line_error(done)


def test_environment_variable_that_is_not_a_string(tmp_path: Path) -> None:
    done = shardrun(
        "run", str(job(tmp_path, extra="environment_variables: {A: 1}\n")), cwd=tmp_path
    )
    message = one_line_error(done)
    assert "environment_variables must be None or a mapping" in message
    assert "'A': 1 is not a string" in message


def test_job_path_that_is_a_folder(tmp_path: Path) -> None:
    done = shardrun("run", str(tmp_path), cwd=tmp_path)
    assert one_line_error(done) == (
        f"error: job file {str(tmp_path)!r} is a folder; give the job's YAML file"
    )


@pytest.mark.parametrize("command", [["run", "job.yaml"], ["runs"], ["resume", "r"]])
def test_workspace_that_is_a_file(tmp_path: Path, command: list[str]) -> None:
    job(tmp_path)
    (tmp_path / "ws").write_text("a file")
    done = shardrun(*command, "--workspace", "ws", cwd=tmp_path)
    assert one_line_error(done) == (
        "error: --workspace must be a folder (made if missing); got 'ws', a file"
    )


# -- item 17: --workspace reaches every lookup -----------------------------------------------


def test_workspace_flag_resolves_azureml_inputs(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "elsewhere" / "ws")
    write_inputs(tmp_path / "store" / "items", ["ok"] * 3)
    Datastore.register_local_directory(ws, "mystore", tmp_path / "store")
    file = job(tmp_path, path="azureml://datastores/mystore/paths/items")
    done = shardrun("run", str(file), "--workspace", str(ws.path), "--run-id", "r", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "parallel_run_step.txt").read_text().splitlines() == [
        f"item{n:05d}.txt: ok" for n in range(3)
    ]
    assert (ws.path / "runs" / "r" / "run.json").exists()
    assert not (tmp_path / "shardrun-workspace").exists()


def test_workspace_argument_resolves_azureml_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API's twin: run_parallel(workspace=...) with an azureml:// input given as a string.
    monkeypatch.delenv("SHARDRUN_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    ws = Workspace.create(tmp_path / "elsewhere" / "ws")
    write_inputs(tmp_path / "store" / "items", ["ok"] * 3)
    Datastore.register_local_directory(ws, "mystore", tmp_path / "store")
    config = ParallelRunConfig(
        entry_script="behave.py", source_directory=str(SCRIPTS), mini_batch_size="2"
    )
    result = run_parallel(
        config,
        "azureml://datastores/mystore/paths/items",
        tmp_path / "out",
        workspace=ws.path,
        show_progress=False,
    )
    assert result.status == "Completed", result.reason
    assert result.succeeded_items == 3
    assert not (tmp_path / "shardrun-workspace").exists()
