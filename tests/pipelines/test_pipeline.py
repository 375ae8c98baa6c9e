"""Pipelines: steps wired by PipelineData, submitted to a detached driver, reused, cancelled."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shardrun import Dataset, FileDataset, ParallelRunConfig, PipelineParameter, Workspace
from shardrun.errors import ConfigError, ShardrunError
from shardrun.pipelines.experiment import Experiment
from shardrun.pipelines.pipeline import ParallelRunStep, Pipeline, PipelineData, PythonScriptStep
from tests.conftest import SCRIPTS
from tests.engine.test_resume import alive, worker_pids

if TYPE_CHECKING:
    from tests.services import Server

CODE = SCRIPTS / "pipeline"
pytest_plugins = ["tests.services"]


@pytest.fixture(autouse=True)
def _stop_drivers(pipeline_drivers: Path) -> None:
    """Every pipeline driver a test here starts is stopped by PID at teardown."""


def one_file(tmp_path: Path, text: str, name: str = "a.txt") -> FileDataset:
    """A dataset of one file ``data/<name>`` holding ``text``."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / name).write_text(text)
    return Dataset.File.from_files(str(data))


def build(ws: Workspace, count: object = 5, delay: float = 0.0) -> tuple[Pipeline, PipelineData]:
    docs = PipelineData("docs")
    scores = PipelineData("scores")
    summary = PipelineData("summary")
    prep = PythonScriptStep(
        "prep.py",
        name="prep",
        source_directory=str(CODE),
        arguments=["--out", docs, "--count", count],
        outputs=[docs],
    )
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(CODE),
        mini_batch_size=PipelineParameter("batch_size", "2"),
        process_count_per_node=PipelineParameter("processes", 2),
        error_threshold=0,
    )
    score = ParallelRunStep(
        "score-docs", config, inputs=[docs], output=scores, arguments=["--delay", str(delay)]
    )
    post = PythonScriptStep(
        "post.py",
        name="post",
        source_directory=str(CODE),
        arguments=["--scores", scores, "--out", summary],
        inputs=[scores],
        outputs=[summary],
    )
    return Pipeline(ws, [post, score, prep]), scores


def test_a_pipeline_runs_its_steps_in_data_order(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    pipeline, scores = build(ws)
    assert [s.name for s in pipeline.order] == ["prep", "score-docs", "post"]
    run = Experiment(ws, "docs").submit(pipeline)
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"
    (step,) = run.find_step_run("score-docs")
    output = step.get_output_data(scores.name)
    assert output.path_on_datastore == f"azureml/{run.id}/scores"
    default_root = ws.path / "datastores" / "workspaceblobstore"
    assert output.local_path == default_root / output.path_on_datastore
    target = Path(output.download(tmp_path / "download"))
    lines = (target / "parallel_run_step.txt").read_text().splitlines()
    assert lines == [f"doc{n:03d}.txt: 2" for n in range(5)]
    summary = run.find_step_run("post")[0].get_output_data("summary")
    assert (Path(summary.local_path) / "summary.txt").read_text() == "5 lines\n"
    assert [s.get_status() for s in run.get_steps()] == ["Completed"] * 3


def test_unchanged_steps_are_reused_and_changes_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = Workspace.create(tmp_path / "ws")
    pipeline, _ = build(ws)
    experiment = Experiment(ws, "reuse")
    first = experiment.submit(pipeline)
    first.wait_for_completion(show_output=False, timeout_seconds=120)
    second = experiment.submit(pipeline)
    assert second.wait_for_completion(show_output=True, timeout_seconds=120) == "Completed"
    assert "step score-docs: reused run" in capsys.readouterr().out
    details = {s.name: s.get_details() for s in second.get_steps()}
    assert details["score-docs"]["reused_from"] == f"{first.id}_score-docs"
    third = experiment.submit(pipeline, pipeline_parameters={"batch_size": "1"})
    third.wait_for_completion(show_output=False, timeout_seconds=120)
    details = {s.name: s.get_details() for s in third.get_steps()}
    assert "reused_from" not in details["score-docs"]
    assert details["prep"]["reused_from"] == f"{first.id}_prep"


def test_allow_reuse_false_always_runs(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    config = ParallelRunConfig(
        entry_script="score.py", source_directory=str(CODE), process_count_per_node=1
    )
    step = ParallelRunStep(
        "always",
        config,
        inputs=[one_file(tmp_path, "one two\n")],
        output=PipelineData("out"),
        allow_reuse=False,
    )
    experiment = Experiment(ws, "always")
    runs = [experiment.submit(Pipeline(ws, [step])) for _ in range(2)]
    for run in runs:
        assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"
        assert "reused_from" not in run.find_step_run("always")[0].get_details()


def test_cancel_stops_the_driver_and_its_workers(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    pipeline, _ = build(ws, count=40, delay=0.5)
    run = Experiment(ws, "cancel").submit(pipeline, pipeline_parameters={"batch_size": "1"})
    deadline = time.monotonic() + 60
    while run.find_step_run("score-docs")[0].get_status() != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # Cancel once workers run (their logs exist), however slow the machine is.
    workers = run.find_step_run("score-docs")[0].run_dir / "logs/sys/worker/node0"
    while not (workers.is_dir() and any(workers.iterdir())):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    run.cancel()
    with pytest.raises(ShardrunError, match="Canceled"):
        run.wait_for_completion(show_output=False, timeout_seconds=60)
    assert run.get_status() == "Canceled"
    assert [s.get_status() for s in run.get_steps()] == ["Completed", "Canceled", "Canceled"]
    step_run = run.find_step_run("score-docs")[0]
    assert "Canceled" in (step_run.run_dir / "logs" / "job_result.txt").read_text()
    for pid in worker_pids(step_run.run_dir):
        assert not alive(pid), f"worker {pid} still runs after cancel()"


def test_pipeline_validation(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    orphan = PipelineData("orphan")
    config = ParallelRunConfig(entry_script="score.py", source_directory=str(CODE))
    step = ParallelRunStep("needs-orphan", config, inputs=[orphan], output=PipelineData("x"))
    with pytest.raises(ConfigError, match="reads PipelineData 'orphan', which no step writes"):
        Pipeline(ws, [step])
    with pytest.raises(ConfigError, match="output is required"):
        ParallelRunStep("no-output", config, inputs=[orphan])
    with pytest.raises(ConfigError, match="name must be 3 to 32"):
        ParallelRunStep("No", config, inputs=[orphan], output=PipelineData("y"))
    with pytest.raises(ConfigError, match="unique"):
        Pipeline(ws, [step, step])
    pipeline, _ = build(ws)
    with pytest.raises(ConfigError, match="not parameters of this pipeline"):
        Experiment(ws, "bad").submit(pipeline, pipeline_parameters={"nope": 1})


def test_the_driver_survives_its_submitter(tmp_path: Path) -> None:
    import subprocess
    import sys

    ws = tmp_path / "ws"
    code = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from shardrun import Workspace\n"
        "from shardrun.pipelines.experiment import Experiment\n"
        "from tests.pipelines.test_pipeline import build\n"
        "ws = Workspace.create(sys.argv[2])\n"
        "run = Experiment(ws, 'detached').submit(build(ws)[0])\n"
        "print(run.id)\n"
    )
    root = str(Path(__file__).parents[2])
    done = subprocess.run(
        [sys.executable, "-c", code, root, str(ws)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": root},
    )
    run_id = done.stdout.split()[-1]
    from shardrun.pipelines.experiment import get_pipeline_run

    run = get_pipeline_run(ws, "detached", run_id)
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"


def test_run_details_lists_the_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shardrun import RunDetails

    ws = Workspace.create(tmp_path / "ws")
    pipeline, _ = build(ws)
    run = Experiment(ws, "details").submit(pipeline)
    run.wait_for_completion(show_output=False, timeout_seconds=120)
    title, rows = RunDetails(run).get_table()
    assert title == f"Pipeline run {run.id}: Completed"
    assert [(r[0], r[1]) for r in rows] == [
        ("prep", "Completed"),
        ("score-docs", "Completed"),
        ("post", "Completed"),
    ]
    assert rows[1][3].startswith("mini-batches: 3 scheduled, 3 done")
    RunDetails(run).show()
    assert "score-docs" in capsys.readouterr().out


def test_a_datapath_is_a_step_input_and_a_side_input(tmp_path: Path) -> None:
    from shardrun import Datastore

    ws = Workspace.create(tmp_path / "ws")
    (tmp_path / "store" / "docs").mkdir(parents=True)
    (tmp_path / "store" / "docs" / "a.txt").write_text("one two three\n")
    (tmp_path / "store" / "ref.txt").write_text("reference\n")
    store = Datastore.register_local_directory(ws, "store", str(tmp_path / "store"))
    reference = store.path("ref.txt")
    config = ParallelRunConfig(
        entry_script="score.py", source_directory=str(CODE), process_count_per_node=1
    )
    step = ParallelRunStep(
        "from-datapath",
        config,
        inputs=[store.path("docs/")],
        output=PipelineData("counted"),
        side_inputs=[reference],
        arguments=["--reference", reference],
    )
    run = Experiment(ws, "datapath").submit(Pipeline(ws, [step]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"
    output = run.find_step_run("from-datapath")[0].get_output_data("counted")
    assert (Path(output.local_path) / "parallel_run_step.txt").read_text() == "a.txt: 3\n"
    record = (run.find_step_run("from-datapath")[0].run_dir / "run.json").read_text()
    assert str(tmp_path / "store" / "ref.txt") in record


def test_a_step_that_names_a_model_gets_azureml_model_dir(tmp_path: Path) -> None:
    from shardrun import Model
    from shardrun.workspace.models import model_dir

    ws = Workspace.create(tmp_path / "ws")
    (tmp_path / "model.bin").write_bytes(b"weights")
    Model.register(workspace=ws, model_path=tmp_path / "model.bin", model_name="m1")
    model = Model.register(workspace=ws, model_path=tmp_path / "model.bin", model_name="m1")
    config = ParallelRunConfig(
        entry_script="model_dir.py", source_directory=str(CODE), process_count_per_node=1
    )
    step = ParallelRunStep(
        "with-model",
        config,
        inputs=[one_file(tmp_path, "x", "x.txt")],
        output=PipelineData("where"),
        models=[model],
    )
    run = Experiment(ws, "model").submit(Pipeline(ws, [step]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"
    output = run.find_step_run("with-model")[0].get_output_data("where")
    line = (Path(output.local_path) / "parallel_run_step.txt").read_text().strip()
    assert model.version == 2
    assert line == f"{model_dir(ws, 'm1', 2)} ['model.bin']"


def test_a_changed_input_or_script_runs_the_step_again(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    code = tmp_path / "code"
    shutil.copytree(CODE, code)
    dataset = one_file(tmp_path, "one two\n")
    data = tmp_path / "data"
    config = ParallelRunConfig(
        entry_script="score.py", source_directory=str(code), process_count_per_node=1
    )
    step = ParallelRunStep(
        "counting",
        config,
        inputs=[dataset],
        output=PipelineData("counts"),
    )
    experiment = Experiment(ws, "changes")

    def reused() -> bool:
        run = experiment.submit(Pipeline(ws, [step]))
        assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"
        return "reused_from" in run.find_step_run("counting")[0].get_details()

    assert not reused()
    assert reused()
    (data / "b.txt").write_text("three\n")
    assert not reused()
    assert reused()
    (code / "score.py").write_text((code / "score.py").read_text() + "\n# changed\n")
    assert not reused()


def test_teardown_stops_a_running_driver_by_pid(tmp_path: Path) -> None:
    from tests.conftest import stop_pipeline_drivers

    ws = Workspace.create(tmp_path / "ws")
    pipeline, _ = build(ws, count=40, delay=0.5)
    run = Experiment(ws, "teardown").submit(pipeline, pipeline_parameters={"batch_size": "1"})
    deadline = time.monotonic() + 60
    while run.get_status() != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    pid = run.get_details()["pid"]
    assert stop_pipeline_drivers(tmp_path) == [pid]
    assert not alive(pid)
    assert run.get_status() in ("Canceled", "Failed")


@pytest.mark.service
def test_pipeline_data_on_a_blob_datastore_is_uploaded_there(
    azurite: Server, tmp_path: Path
) -> None:
    import uuid

    from shardrun import Datastore

    ws = Workspace.create(tmp_path / "ws")
    container = f"outputs-{uuid.uuid4().hex[:8]}"
    store = Datastore.register_azure_blob_container(
        ws,
        "blob_out",
        container,
        azurite.account_name,
        account_key=azurite.account_key,
        endpoint=azurite.blob_endpoint,
        create_if_not_exists=True,
    )
    dataset = one_file(tmp_path, "one two three\n")
    config = ParallelRunConfig(
        entry_script="score.py", source_directory=str(CODE), process_count_per_node=1
    )
    step = ParallelRunStep(
        "to-blob",
        config,
        inputs=[dataset],
        output=PipelineData("scored", datastore=store),
    )
    run = Experiment(ws, "blob").submit(Pipeline(ws, [step]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"
    output = run.find_step_run("to-blob")[0].get_output_data("scored")
    assert output.datastore_name == "blob_out"
    fs, root = store.filesystem()
    remote = f"{root.rstrip('/')}/{output.path_on_datastore}/parallel_run_step.txt"
    assert fs.cat_file(remote) == b"a.txt: 3\n"
