"""Loading v2 ``type: pipeline`` job files into pipelines (nothing runs here)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from shardrun import Dataset, Workspace
from shardrun.errors import ConfigError
from shardrun.pipelines.pipeline import ParallelRunStep, PipelineData, PythonScriptStep
from shardrun.pipelines.yaml_job import PipelineJob, load_pipeline_job
from tests.conftest import SCRIPTS


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "a.txt").write_text("x")
    path = tmp_path / "pipeline.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def parallel(**extra: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "type": "parallel",
        "inputs": {"data": {"type": "uri_folder", "path": "./data"}},
        "input_data": "${{inputs.data}}",
        "task": {"code": str(SCRIPTS), "entry_script": "behave.py"},
    }
    job.update(extra)
    return job


def load(tmp_path: Path, ws: Workspace, jobs: dict[str, Any], **top: Any) -> PipelineJob:
    data = {"type": "pipeline", "jobs": jobs, **top}
    return load_pipeline_job(write(tmp_path, data), ws)


def test_steps_follow_their_bindings_and_outputs_without_a_path_are_pipeline_data(
    tmp_path: Path, ws: Workspace
) -> None:
    """1a's shape: a parallel job passes its path-less output to program_arguments."""
    jobs = {
        "train": parallel(
            inputs={
                "data": {"type": "uri_folder", "path": "${{parent.jobs.prep.outputs.folder}}"},
                "target": "${{parent.inputs.target}}",
            },
            outputs={"model_folder": {"type": "uri_folder", "mode": "rw_mount"}},
            error_threshold=-1,
            mini_batch_error_threshold=5,
            task={
                "code": str(SCRIPTS),
                "entry_script": "behave.py",
                "program_arguments": "--target ${{inputs.target}} "
                "--model_folder ${{outputs.model_folder}}",
            },
        ),
        "prep": {
            "type": "command",
            "command": "python prep.py --out ${{outputs.folder}}",
            "code": str(SCRIPTS / "pipeline"),
            "outputs": {"folder": {"type": "uri_folder"}},
            "identity": {"type": "user_identity"},
        },
    }
    job = load(tmp_path, ws, jobs, inputs={"target": "Quantity"}, experiment_name="oj")
    prep, train = job.pipeline.order
    assert isinstance(prep, PythonScriptStep)
    assert isinstance(train, ParallelRunStep)
    assert (prep.name, train.name, job.experiment_name) == ("prep", "train", "oj")
    folder = prep.outputs[0]
    assert train.inputs == [folder]
    model = train.output
    assert isinstance(model, PipelineData)
    assert train.arguments == ["--target", "Quantity", "--model_folder", model]
    config = train.parallel_run_config
    assert (config.output_action, config.allowed_failed_count, config.error_threshold) == (
        "summary_only",
        5,
        -1,
    )


def test_azureml_paths_resolve_to_the_workspace(tmp_path: Path, ws: Workspace) -> None:
    store = ws.get_default_datastore()
    folder = Path(store.filesystem()[1]) / "iris"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("x")
    registered = Dataset.File.from_files(str(folder)).register(ws, "iris-files")
    jobs = {
        "score": parallel(
            inputs={
                "data": {"type": "uri_folder", "path": "azureml:iris-files@latest"},
                "also": {"type": "uri_folder", "path": "azureml:iris-files:1"},
                "raw": {
                    "type": "uri_folder",
                    "path": "azureml://datastores/workspaceblobstore/paths/iris",
                },
            },
            outputs={
                "scores": {
                    "type": "uri_file",
                    "path": "azureml://datastores/${{default_datastore}}/paths/${{name}}/out.csv",
                }
            },
            task={
                "code": str(SCRIPTS),
                "entry_script": "behave.py",
                "program_arguments": "--raw ${{inputs.raw}}",
                "append_row_to": "${{outputs.scores}}",
            },
        )
    }
    job = load(tmp_path, ws, jobs, name="nightly")
    (step,) = job.pipeline.order
    assert isinstance(step, ParallelRunStep)
    assert step.inputs[0].dataset.to_spec() == registered.to_spec()
    assert step.arguments == ["--raw", str(folder)]
    assert step.output == str(Path(store.filesystem()[1]) / "nightly")
    assert step.parallel_run_config.append_row_file_name == "out.csv"
    assert job.outputs == {"score.scores": str(Path(store.filesystem()[1]) / "nightly" / "out.csv")}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outputs": {"o": {"type": "uri_folder", "path": "azureml:/datastores/x"}}}, "azureml:"),
        (
            {"outputs": {"o": {"type": "uri_folder", "path": "azureml://datastores/nope/paths/x"}}},
            "nope",
        ),
        ({"inputs": {"data": {"path": "azureml:missing@latest"}}}, "missing"),
        (
            {"task": {"entry_script": "behave.py", "environment": {"conda_file": "./no.yml"}}},
            "conda_file './no.yml' not found",
        ),
        ({"type": "sweep"}, "type must be 'parallel' or 'command'"),
        ({"input_data": "${{inputs.nothing}}"}, "input_data must reference one data input"),
        (
            {"task": {"entry_script": "behave.py", "append_row_to": "${{outputs.x}}"}},
            "append_row_to",
        ),
    ],
)
def test_mistakes_are_one_line_config_errors(
    tmp_path: Path, ws: Workspace, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, ws, {"score": parallel(**change)})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "pipeline.yml"))


def test_keys_without_local_meaning_are_accepted_with_an_info_line(
    tmp_path: Path, ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    job = parallel(
        identity={"type": "managed"},
        is_deterministic=False,
        services={"my_jupyter": {"type": "jupyter_lab"}},
        queue_settings={"job_tier": "spot"},
        compute="azureml:cpu-cluster",
    )
    with caplog.at_level(logging.INFO, logger="shardrun.pipelines"):
        loaded = load(tmp_path, ws, {"score": job}, settings={"default_compute": "azureml:gpu"})
    messages = "\n".join(r.message for r in caplog.records)
    for key in ("identity", "services", "queue_settings", "compute", "default_compute"):
        assert key in messages
    assert loaded.pipeline.order[0].allow_reuse is False


def test_strict_environment_makes_another_version_an_error(tmp_path: Path, ws: Workspace) -> None:
    import subprocess
    import sys

    (tmp_path / "conda.yml").write_text("dependencies:\n  - pip:\n      - pytest<1\n")
    job = parallel(
        task={
            "code": str(SCRIPTS),
            "entry_script": "behave.py",
            "environment": {"image": "mcr.microsoft.com/x", "conda_file": "./conda.yml"},
        }
    )
    path = write(tmp_path, {"type": "pipeline", "jobs": {"score": job}})
    loaded = load_pipeline_job(path, ws)  # a warning only
    env = loaded.pipeline.order[0].parallel_run_config.environment
    assert env.docker.base_image == "mcr.microsoft.com/x"
    command = [sys.executable, "-m", "shardrun", "run", str(path), "--workspace", str(ws.path)]
    done = subprocess.run(
        [*command, "--strict-environment"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "pytest<1 (installed: " in line
    assert line.startswith(f"error: {path}: ")


def test_parent_inputs_and_outputs_bind_data(tmp_path: Path, ws: Workspace) -> None:
    job = parallel(
        inputs={"data": "${{parent.inputs.images}}"},
        outputs={"scores": "${{parent.outputs.results}}"},
        task={
            "code": str(SCRIPTS),
            "entry_script": "behave.py",
            "append_row_to": "${{outputs.scores}}",
        },
    )
    loaded = load(
        tmp_path,
        ws,
        {"score": job},
        inputs={"images": {"type": "uri_folder", "path": "./data"}},
        outputs={"results": {"type": "uri_file", "path": "./out/${{name}}.txt"}},
        name="daily",
    )
    (step,) = loaded.pipeline.order
    assert isinstance(step, ParallelRunStep)
    assert step.inputs[0].dataset.paths == (str(tmp_path / "data"),)
    assert step.output == str(tmp_path / "out")
    assert step.parallel_run_config.append_row_file_name == "daily.txt"
