from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shardrun.config.jobspec import JobSpec, load_job, parse_job
from shardrun.config.parallel_run import MiniBatchSize
from shardrun.errors import ConfigError

FULL = """\
$schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json
type: parallel
name: mnist-batch
display_name: MNIST batch scoring
description: scores digits
experiment_name: digits
tags: {team: vision}
compute: local
inputs:
  images: {type: uri_folder, path: ./images, mode: ro_mount}
  model: {type: uri_folder, path: ./model}
  model_name: mnist
  top_k: 3
outputs:
  scores: {type: uri_folder, path: ./out, mode: rw_mount}
input_data: ${{inputs.images}}
mini_batch_size: "10"
error_threshold: 5
mini_batch_error_threshold: 2
allowed_failed_percent: 50
logging_level: DEBUG
resources: {instance_count: 2, instance_type: Standard_D2}
max_concurrency_per_instance: 4
retry_settings: {max_retries: 4, timeout: 30}
environment_variables: {A: "1", B: "2"}
partition_keys: [store]
task:
  type: run_function
  code: ./src
  entry_script: score.py
  environment: azureml:sklearn:1
  program_arguments: >-
    --model_name ${{inputs.model_name}} --model ${{inputs.model}}
    --top_k ${{inputs.top_k}} --out=${{outputs.scores}}
  append_row_to: ${{outputs.scores}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A job folder (src/score.py, images/, model/) while the cwd is elsewhere."""
    folder = tmp_path / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "score.py").write_text("def run(mini_batch):\n    return mini_batch\n")
    (folder / "images").mkdir()
    (folder / "model").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


def write(folder: Path, text: str) -> Path:
    path = folder / "job.yaml"
    path.write_text(text)
    return path


def minimal(**keys: Any) -> dict[str, Any]:
    """The smallest job, plus ``keys`` (None removes a key)."""
    data: dict[str, Any] = {
        "inputs": {"images": {"type": "uri_folder", "path": "images"}},
        "input_data": "${{inputs.images}}",
        "task": {"code": "src", "entry_script": "score.py"},
    }
    data.update(keys)
    return {key: value for key, value in data.items() if value is not None}


def parse(project: Path, overrides: tuple[str, ...] = (), **keys: Any) -> JobSpec:
    return parse_job(minimal(**keys), project, overrides)


def error(project: Path, overrides: tuple[str, ...] = (), **keys: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse(project, overrides, **keys)
    text = str(info.value)
    assert "\n" not in text
    return text


# -- a full job ---------------------------------------------------------------------------------


def test_full_v2_job(project: Path) -> None:
    job = load_job(write(project, FULL))
    assert job.name == "mnist-batch"
    assert job.display_name == "MNIST batch scoring"
    assert job.experiment_name == "digits"
    assert job.tags == {"team": "vision"}
    assert job.compute == "local"
    assert job.source == project / "job.yaml"
    assert job.input_name == "images"
    assert job.inputs == (str(project / "images"),)
    assert job.input_type == "uri_folder"
    assert job.output == str(project / "out")
    assert job.output_name == "scores"
    assert job.arguments == (
        "--model_name",
        "mnist",
        "--model",
        str(project / "model"),
        "--top_k",
        "3",
        f"--out={project / 'out'}",
    )
    config = job.config
    assert config.entry_script == "score.py"
    assert config.entry_script_path == project / "src" / "score.py"
    assert config.source_directory == str(project / "src")
    assert config.mini_batch_size_for("files") == MiniBatchSize(count=10)
    assert config.error_threshold == 5
    assert config.allowed_failed_count == 2
    assert config.allowed_failed_percent == 50
    assert config.logging_level == "DEBUG"
    assert config.node_count == 2
    assert config.process_count_per_node == 4
    assert config.run_max_try == 4
    assert config.run_invocation_timeout == 30
    assert config.environment_variables == {"A": "1", "B": "2"}
    assert config.partition_keys == ["store"]
    assert config.environment == "azureml:sklearn:1"
    assert config.description == "scores digits"
    assert config.output_action == "append_row"
    assert config.append_row_file_name == "parallel_run_step.txt"


def test_minimal_job_defaults(project: Path) -> None:
    job = parse(project)
    assert job.name is None
    assert job.compute == "local"
    assert job.source is None
    assert job.arguments == ()
    assert job.output is None
    assert job.output_name is None
    assert job.config.output_action == "summary_only"
    assert job.config.run_max_try == 3
    assert job.config.run_invocation_timeout == 60


@pytest.mark.parametrize("compute", ["ray", "ray://10.0.0.1:10001", "azureml:cpu-cluster"])
def test_compute_is_kept(project: Path, compute: str) -> None:
    assert parse(project, compute=compute).compute == compute


def test_compute_null_means_local(project: Path) -> None:
    assert parse(project, compute=None).compute == "local"
    assert parse_job({**minimal(), "compute": None}, project).compute == "local"


def test_upper_case_output_action_with_append_row_to(project: Path) -> None:
    job = parse(
        project,
        outputs={"o": "out"},
        output_action="APPEND_ROW",
        task={"code": "src", "entry_script": "score.py", "append_row_to": "${{outputs.o}}"},
    )
    assert job.config.output_action == "append_row"


def test_v1_names_at_top_level(project: Path) -> None:
    (project / "out").mkdir()
    job = parse(
        project,
        task=None,
        outputs={"result": "out"},
        source_directory="src",
        entry_script="score.py",
        node_count=3,
        process_count_per_node=2,
        run_invocation_timeout=10,
        run_max_try=1,
        allowed_failed_count=-1,
        output_action="append_row",
        append_row_file_name="rows.txt",
        arguments=["--model", "mnist", "--out", "${{outputs.result}}"],
        progress_update_timeout=120,
        append_row_format="csv",
        append_row_dataframe_header=True,
        mini_batch_format="arrow",
        resource_monitor_interval=0,
    )
    config = job.config
    assert (config.node_count, config.process_count_per_node) == (3, 2)
    assert (config.run_invocation_timeout, config.run_max_try) == (10, 1)
    assert config.allowed_failed_count == -1
    assert (config.output_action, config.append_row_file_name) == ("append_row", "rows.txt")
    assert config.progress_update_timeout == 120
    assert config.append_row_format == "csv"
    assert config.append_row_dataframe_header is True
    assert config.mini_batch_format == "arrow"
    assert config.resource_monitor_interval == 0
    assert job.output == str(project / "out")
    assert job.output_name == "result"
    assert job.arguments == ("--model", "mnist", "--out", str(project / "out"))


def test_v1_entry_script_without_source_directory_is_relative_to_the_job(project: Path) -> None:
    job = parse(project, task=None, entry_script="src/score.py")
    assert job.config.entry_script_path == project / "src" / "score.py"
    assert job.config.source_directory is None


def test_arguments_as_a_string(project: Path) -> None:
    job = parse(project, arguments="--name 'two words' --n 3")
    assert job.arguments == ("--name", "two words", "--n", "3")


# -- v1 and v2 twins ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v2", "v1", "message"),
    [
        (
            {"resources": {"instance_count": 2}},
            {"node_count": 3},
            "resources.instance_count (2) and node_count (3) both set node_count",
        ),
        (
            {"max_concurrency_per_instance": 2},
            {"process_count_per_node": 4},
            "max_concurrency_per_instance (2) and process_count_per_node (4)",
        ),
        (
            {"retry_settings": {"timeout": 30}},
            {"run_invocation_timeout": 60},
            "retry_settings.timeout (30) and run_invocation_timeout (60)",
        ),
        (
            {"retry_settings": {"max_retries": 2}},
            {"run_max_try": 5},
            "retry_settings.max_retries (2) and run_max_try (5)",
        ),
        (
            {"mini_batch_error_threshold": 1},
            {"allowed_failed_count": 2},
            "mini_batch_error_threshold (1) and allowed_failed_count (2)",
        ),
        (
            {"task": {"code": "src", "entry_script": "score.py"}},
            {"entry_script": "other.py"},
            "task.entry_script ('score.py') and entry_script ('other.py')",
        ),
        (
            {"task": {"code": "src", "entry_script": "score.py"}},
            {"source_directory": "."},
            "task.code ('src') and source_directory ('.')",
        ),
        (
            {"task": {"code": "src", "entry_script": "score.py", "program_arguments": "--a 1"}},
            {"arguments": ["--a", "2"]},
            "task.program_arguments (['--a', '1']) and arguments (['--a', '2'])",
        ),
    ],
)
def test_v1_and_v2_twins_must_agree(
    project: Path, v2: dict[str, Any], v1: dict[str, Any], message: str
) -> None:
    text = error(project, **v2, **v1)
    assert message in text
    assert text.endswith("keep one")


def test_v1_and_v2_twins_may_repeat_the_same_value(project: Path) -> None:
    job = parse(
        project,
        resources={"instance_count": 2},
        node_count=2,
        run_max_try=3,
        retry_settings={"max_retries": 3},
    )
    assert (job.config.node_count, job.config.run_max_try) == (2, 3)


def test_config_errors_name_the_job_key(project: Path) -> None:
    assert error(project, retry_settings={"max_retries": 0}) == (
        "retry_settings.max_retries: run_max_try must be an integer >= 1; got 0"
    )
    assert error(project, resources={"instance_count": "two"}) == (
        "resources.instance_count: node_count must be an integer >= 1; got 'two'"
    )
    assert error(project, mini_batch_size="100 kb").startswith("mini_batch_size must be a positive")


# -- overrides ----------------------------------------------------------------------------------


def test_overrides_nested_keys_with_typed_values(project: Path) -> None:
    (project / "data").mkdir()
    job = parse(
        project,
        (
            "retry_settings.timeout=30",
            "inputs.images.path=data",
            "mini_batch_size=1MB",
            "partition_keys=[a, b]",
            "logging_level=DEBUG",
        ),
    )
    assert job.config.run_invocation_timeout == 30
    assert job.inputs == (str(project / "data"),)
    assert job.config.mini_batch_size == "1MB"
    assert job.config.partition_keys == ["a", "b"]
    assert job.config.logging_level == "DEBUG"


def test_override_values_are_yaml(project: Path) -> None:
    job = parse(
        project,
        ("error_threshold=20", "allowed_failed_percent=12.5", "append_row_dataframe_header=true"),
    )
    assert job.config.error_threshold == 20
    assert job.config.allowed_failed_percent == 12.5
    assert job.config.append_row_dataframe_header is True


def test_override_with_a_v1_name_replaces_the_v2_twin(project: Path) -> None:
    job = parse(
        project,
        ("run_max_try=5", "node_count=2"),
        retry_settings={"max_retries": 2, "timeout": 9},
        resources={"instance_count": 1},
    )
    assert (job.config.run_max_try, job.config.run_invocation_timeout, job.config.node_count) == (
        5,
        9,
        2,
    )
    job = parse(project, ("retry_settings.max_retries=7",), run_max_try=2)
    assert job.config.run_max_try == 7


def test_override_task_entry_script(project: Path) -> None:
    (project / "src" / "other.py").write_text("def run(b):\n    return b\n")
    assert parse(project, ("task.entry_script=other.py",)).config.entry_script == "other.py"


def test_override_creates_missing_sections(project: Path) -> None:
    assert parse(project, ("resources.instance_count=3",)).config.node_count == 3


@pytest.mark.parametrize(
    "override",
    ["mini_batch_size", "=5", "retry_settings..timeout=3", "", "mini_batch_size=", "run_max_try= "],
)
def test_malformed_override(project: Path, override: str) -> None:
    assert error(project, (override,)) == (
        f"override {override!r} must be KEY=VALUE with a value, such as mini_batch_size=20 or "
        "retry_settings.timeout=30 (KEY=null to unset)"
    )


def test_override_null_unsets_a_key(project: Path) -> None:
    assert (
        parse(project, ("mini_batch_size=null",), mini_batch_size=5).config.mini_batch_size is None
    )


@pytest.mark.parametrize("value", [{"A": 1}, {"A": "1", "B": True}, {"A": 1.5}])
def test_environment_variables_must_be_strings(project: Path, value: dict[str, Any]) -> None:
    text = error(project, environment_variables=value)
    assert text.startswith("environment_variables must be None or a mapping of names")
    key, item = next((k, v) for k, v in value.items() if not isinstance(v, str))
    assert f'{key!r}: {item!r} is not a string; in YAML, quote it: {key}: "{item}"' in text


def test_environment_variables_from_a_file_must_be_strings(project: Path) -> None:
    path = write(project, yaml.safe_dump(minimal()) + "environment_variables: {A: 1}\n")
    with pytest.raises(ConfigError, match=r"'A': 1 is not a string"):
        load_job(path)


def test_override_through_a_value(project: Path) -> None:
    text = error(project, ("input_data.path=x",))
    assert text == "override 'input_data.path=x': input_data is '${{inputs.images}}', not a mapping"


def test_override_with_an_unknown_key(project: Path) -> None:
    assert error(project, ("retry_settings.timout=3",)) == (
        "unknown key 'retry_settings.timout'; did you mean 'retry_settings.timeout'?"
    )


def test_load_job_applies_overrides(project: Path) -> None:
    job = load_job(
        project / write(project, FULL).name, ["task.program_arguments=--fast", "compute=ray"]
    )
    assert job.arguments == ("--fast",)
    assert job.compute == "ray"


# -- unknown keys and schema errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"retry_setings": {"timeout": 3}},
            "unknown key 'retry_setings'; did you mean 'retry_settings'?",
        ),
        ({"mini_batch_sise": 3}, "unknown key 'mini_batch_sise'; did you mean 'mini_batch_size'?"),
        (
            {"retry_settings": {"max_retry": 3}},
            "unknown key 'retry_settings.max_retry'; did you mean 'retry_settings.max_retries'?",
        ),
        (
            {"task": {"code": "src", "entry_scrip": "score.py"}},
            "unknown key 'task.entry_scrip'; did you mean 'task.entry_script'?",
        ),
        (
            {"resources": {"instance_cnt": 1}},
            "unknown key 'resources.instance_cnt'; did you mean 'resources.instance_count'?",
        ),
        (
            {"inputs": {"images": {"type": "uri_folder", "pth": "images"}}},
            "unknown key 'inputs.images.pth'; did you mean 'inputs.images.path'?",
        ),
        (
            {"outputs": {"o": {"paht": "x"}}},
            "unknown key 'outputs.o.paht'; did you mean 'outputs.o.path'?",
        ),
    ],
)
def test_typo_keys_suggest_the_right_one(project: Path, keys: dict[str, Any], message: str) -> None:
    assert error(project, **keys) == message


def test_unknown_key_without_close_match_lists_allowed(project: Path) -> None:
    text = error(project, retry_settings={"zzz": 1})
    assert text == "unknown key 'retry_settings.zzz'; allowed: ['max_retries', 'timeout']"


@pytest.mark.parametrize(
    ("keys", "start"),
    [
        ({"type": "command"}, "type must be 'parallel'; got 'command'"),
        (
            {"task": {"type": "function", "code": "src", "entry_script": "score.py"}},
            "task.type must be 'run_function'; got 'function'",
        ),
        ({"retry_settings": 5}, "retry_settings must be a mapping; got 5"),
        ({"inputs": ["images"]}, "inputs must be a mapping; got ['images']"),
        ({"name": 5}, "name must be a valid string; got 5"),
        (
            {"inputs": {"images": {"type": "csv", "path": "images"}}},
            "inputs.images.type must be 'uri_folder', 'uri_file' or 'mltable'; got 'csv'",
        ),
        (
            {"outputs": {"o": {"type": "mltable", "path": "x"}}},
            "outputs.o.type must be 'uri_folder' or 'uri_file'; got 'mltable'",
        ),
        ({"name": "Mnist"}, "name must be 3 to 32 characters"),
        ({"name": "ab"}, "name must be 3 to 32 characters"),
        ({"task": {"code": "src"}}, "task.entry_script is required"),
        (
            {"inputs": {"bad name": "x", "images": {"path": "images"}}},
            "inputs names must start with a letter",
        ),
        (
            {"inputs": {"images": {"type": "uri_folder"}}},
            "inputs.images.path must be a path or a list of paths; got None",
        ),
        ({"inputs": {"images": {"path": "missing"}}}, "inputs.images.path"),
        ({"arguments": ["model", "x"]}, "arguments must start with an option"),
        ({"arguments": "--output x"}, "arguments must not set --output"),
        ({"arguments": "--a 'unclosed"}, "arguments: No closing quotation"),
        ({"arguments": {"a": 1}}, "arguments must be a string or a list of strings"),
    ],
)
def test_schema_errors(project: Path, keys: dict[str, Any], start: str) -> None:
    assert error(project, **keys).startswith(start)


def test_type_parallel_and_schema_are_accepted(project: Path) -> None:
    data = {"$schema": "https://example/x.json", **minimal(type="parallel")}
    assert parse_job(data, project).input_name == "images"


# -- input_data ---------------------------------------------------------------------------------


def test_input_data_is_required(project: Path) -> None:
    assert error(project, input_data=None).startswith("input_data is required")


@pytest.mark.parametrize("value", ["./images", "${{outputs.images}}", "${{inputs.images}} extra"])
def test_input_data_must_be_a_reference(project: Path, value: str) -> None:
    assert error(project, input_data=value) == (
        f"input_data must reference one input, such as ${{{{inputs.images}}}}; got {value!r}"
    )


def test_input_data_names_an_unknown_input(project: Path) -> None:
    text = error(project, input_data="${{inputs.photos}}")
    assert (
        text == "input_data references inputs.photos, which is not a declared data input "
        "(data inputs: ['images'])"
    )


def test_input_data_cannot_name_a_literal(project: Path) -> None:
    text = error(project, inputs={"images": {"path": "images"}, "n": 3}, input_data="${{inputs.n}}")
    assert "input_data references inputs.n, which is not a declared data input" in text


def test_input_data_with_spaces_inside_the_braces(project: Path) -> None:
    assert parse(project, input_data="${{ inputs.images }}").input_name == "images"


def test_input_given_as_a_bare_path(project: Path) -> None:
    (project / "table.csv").write_text("a\n1\n")
    job = parse(project, inputs={"rows": "table.csv"}, input_data="${{inputs.rows}}")
    assert job.inputs == (str(project / "table.csv"),)
    assert job.input_type == "uri_file"
    assert parse(project, inputs={"images": "images"}).input_type == "uri_folder"


@pytest.mark.parametrize("kind", ["uri_file", "mltable"])
def test_input_types(project: Path, kind: str) -> None:
    assert parse(project, inputs={"images": {"type": kind, "path": "images"}}).input_type == kind


def test_urls_and_globs_are_kept(project: Path) -> None:
    url = "abfs://container@account.dfs.core.windows.net/images/"
    assert parse(project, inputs={"images": {"path": url}}).inputs == (url,)
    assert parse(project, inputs={"images": {"path": "azureml:digits:1"}}).inputs == (
        "azureml:digits:1",
    )
    assert parse(project, inputs={"images": {"path": "images/*.png"}}).inputs == (
        str(project / "images" / "*.png"),
    )


def test_input_with_several_paths(project: Path) -> None:
    (project / "more").mkdir()
    job = parse(project, inputs={"images": {"path": ["images", "more"]}})
    assert job.inputs == (str(project / "images"), str(project / "more"))


# -- ${{...}} references ------------------------------------------------------------------------


def test_references_are_replaced_inside_tokens(project: Path) -> None:
    job = parse(
        project,
        inputs={"images": {"path": "images"}, "k": 5, "flag": True, "label": "a b"},
        outputs={"o": {"path": "out"}},
        arguments=(
            "--o=${{outputs.o}} --k ${{inputs.k}} --flag ${{inputs.flag}} "
            "--label ${{inputs.label}} --data ${{inputs.images}}"
        ),
    )
    assert job.arguments == (
        f"--o={project / 'out'}",
        "--k",
        "5",
        "--flag",
        "True",
        "--label",
        "a b",
        "--data",
        str(project / "images"),
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("--m ${{inputs.model}}", "${{inputs.model}} is not declared; inputs: ['images']"),
        ("--o ${{outputs.o}}", "${{outputs.o}} is not declared; outputs: []"),
    ],
)
def test_unknown_references(project: Path, arguments: str, message: str) -> None:
    assert error(project, arguments=arguments) == message


def test_reference_to_an_output_without_path(project: Path) -> None:
    assert error(
        project, outputs={"o": {"type": "uri_folder"}}, arguments="--o ${{outputs.o}}"
    ) == ("outputs.o needs a path to be used in the arguments")


# -- outputs ------------------------------------------------------------------------------------


def test_append_row_to_a_uri_file(project: Path) -> None:
    job = parse(
        project,
        outputs={"scores": {"type": "uri_file", "path": "results/scores.csv"}},
        task={"code": "src", "entry_script": "score.py", "append_row_to": "${{outputs.scores}}"},
    )
    assert job.output == str(project / "results")
    assert job.config.output_action == "append_row"
    assert job.config.append_row_file_name == "scores.csv"


def test_append_row_to_a_uri_file_conflicts_with_file_name(project: Path) -> None:
    text = error(
        project,
        outputs={"scores": {"type": "uri_file", "path": "scores.csv"}},
        append_row_file_name="other.txt",
        task={"code": "src", "entry_script": "score.py", "append_row_to": "${{outputs.scores}}"},
    )
    assert (
        text
        == "append_row_file_name ('other.txt') and outputs.scores.path ('scores.csv') both set "
        "append_row_file_name; keep one"
    )


def test_append_row_to_must_reference_an_output(project: Path) -> None:
    text = error(
        project,
        outputs={"o": "out"},
        task={"code": "src", "entry_script": "score.py", "append_row_to": "./out"},
    )
    assert text.startswith("task.append_row_to must reference a declared output")
    assert text.endswith("got './out'")


def test_append_row_to_conflicts_with_summary_only(project: Path) -> None:
    text = error(
        project,
        outputs={"o": "out"},
        output_action="summary_only",
        task={"code": "src", "entry_script": "score.py", "append_row_to": "${{outputs.o}}"},
    )
    assert text == "task.append_row_to appends rows, but output_action is 'summary_only'; keep one"


def test_summary_only_keeps_the_single_output(project: Path) -> None:
    job = parse(project, outputs={"o": {"path": "out"}})
    assert job.config.output_action == "summary_only"
    assert (job.output_name, job.output) == ("o", str(project / "out"))


def test_output_without_a_path(project: Path) -> None:
    job = parse(
        project,
        outputs={"o": {"type": "uri_folder"}},
        task={"code": "src", "entry_script": "score.py", "append_row_to": "${{outputs.o}}"},
    )
    assert (job.output_name, job.output) == ("o", None)
    assert job.config.output_action == "append_row"


@pytest.mark.parametrize("outputs", [None, {"a": "a", "b": "b"}])
def test_v1_append_row_needs_one_output(project: Path, outputs: Any) -> None:
    assert error(project, outputs=outputs, output_action="append_row").startswith(
        "output_action 'append_row' needs an output"
    )


# -- config parameters in the arguments --------------------------------------------------------


def test_config_parameters_in_program_arguments(project: Path) -> None:
    job = parse(
        project,
        task={
            "code": "src",
            "entry_script": "score.py",
            "program_arguments": (
                "--model m --error_threshold 5 --allowed_failed_percent=30 --run_max_try 2 "
                "--score_run_timeout 10 --mini_batch_size 1MB --progress_update_timeout 600 "
                "--task_overhead_timeout 1200 --append_row_dataframe_header true"
            ),
        },
    )
    config = job.config
    assert (config.error_threshold, config.allowed_failed_percent, config.run_max_try) == (5, 30, 2)
    assert (config.run_invocation_timeout, config.mini_batch_size) == (10, "1MB")
    assert (config.progress_update_timeout, config.append_row_dataframe_header) == (600, True)
    assert job.arguments == (
        "--model",
        "m",
        "--progress_update_timeout",
        "600",
        "--task_overhead_timeout",
        "1200",
        "--append_row_dataframe_header",
        "true",
    )


def test_config_parameter_in_arguments_conflicts_with_a_key(project: Path) -> None:
    assert error(project, error_threshold=3, arguments="--error_threshold 5") == (
        "error_threshold (3) and --error_threshold in the arguments (5) both set "
        "error_threshold; keep one"
    )
    assert error(project, arguments="--error_threshold").startswith(
        "--error_threshold in the arguments needs a value"
    )


# -- the file itself ----------------------------------------------------------------------------


def test_missing_job_file(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"^job file 'nope.yaml' not found$"):
        load_job("nope.yaml")


def test_job_file_that_is_a_folder(project: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_job(project)
    assert str(info.value) == f"job file {str(project)!r} is a folder; give the job's YAML file"


def test_invalid_yaml_reports_the_line(project: Path) -> None:
    path = write(project, "type: parallel\ninputs:\n  images: {path: images\ninput_data: x\n")
    with pytest.raises(ConfigError) as info:
        load_job(path)
    text = str(info.value)
    assert text.startswith(f"{path}: invalid YAML at line 4")


def test_bad_indentation_reports_the_line(project: Path) -> None:
    path = write(project, "type: parallel\ntask:\n  code: src\n entry_script: score.py\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line 4"):
        load_job(path)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_job_file_must_be_a_mapping(project: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="a job file must be a mapping of keys"):
        load_job(write(project, text))


def test_errors_from_a_file_start_with_its_name(project: Path) -> None:
    path = write(project, yaml.safe_dump(minimal(retry_setings={"timeout": 3})))
    with pytest.raises(ConfigError) as info:
        load_job(path)
    assert str(info.value) == f"{path}: unknown key 'retry_setings'; did you mean 'retry_settings'?"


def test_paths_are_relative_to_the_job_file_not_the_cwd(project: Path) -> None:
    job = load_job(write(project, yaml.safe_dump(minimal(outputs={"o": "out"}))))
    assert job.inputs == (str(project / "images"),)
    assert job.output == str(project / "out")
    assert job.config.source_directory == str(project / "src")
    assert Path.cwd() != project


def test_parse_job_refuses_non_mappings(project: Path) -> None:
    with pytest.raises(ConfigError, match="a job must be a mapping of keys"):
        parse_job(["a"], project)  # type: ignore[arg-type]
