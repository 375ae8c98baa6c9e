from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

from shardrun.config.parallel_run import (
    RESERVED_ARGUMENTS,
    MiniBatchSize,
    ParallelRunConfig,
    parse_size,
    runtime_options,
    validate_arguments,
    validate_output,
    validate_step_name,
)
from shardrun.config.parameters import PipelineParameter, resolve
from shardrun.errors import ConfigError


@pytest.fixture
def src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A source_directory with score.py, and the cwd set to its parent."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "score.py").write_text("def run(mini_batch):\n    return mini_batch\n")
    monkeypatch.chdir(tmp_path)
    return folder


def make(**kwargs: Any) -> ParallelRunConfig:
    return ParallelRunConfig(**{"entry_script": "score.py", "source_directory": "src", **kwargs})


def message(**kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        make(**kwargs)
    text = str(info.value)
    assert "\n" not in text
    return text


# -- defaults -------------------------------------------------------------------------------


def test_defaults_are_azures(src: Path) -> None:
    config = make()
    assert config.entry_script == "score.py"
    assert config.entry_script_path == src / "score.py"
    assert config.source_directory_path == src
    assert config.mini_batch_size is None
    assert config.error_threshold == -1
    assert config.allowed_failed_count is None
    assert config.allowed_failed_percent is None
    assert config.output_action == "append_row"
    assert config.append_row_file_name == "parallel_run_step.txt"
    assert config.compute_target is None
    assert config.node_count == 1
    assert config.process_count_per_node is None
    assert config.processes_per_node == (os.cpu_count() or 1)
    assert config.environment is None
    assert config.environment_variables is None
    assert config.description is None
    assert config.logging_level == "INFO"
    assert config.run_invocation_timeout == 60
    assert config.run_max_try == 3
    assert config.partition_keys is None
    assert config.progress_update_timeout is None
    assert config.progress_timeout == 3 * (60 + 30)
    assert config.append_row_format == "text"
    assert config.append_row_dataframe_header is False
    assert config.mini_batch_format == "pandas"
    assert config.resource_monitor_interval == 5
    assert config.parameters == {}


def test_values_are_normalised(src: Path) -> None:
    config = make(
        entry_script="  score.py ",
        output_action="SUMMARY_ONLY",
        logging_level="debug",
        append_row_format="JSONL",
        mini_batch_format="Arrow",
        error_threshold=2.5,
        partition_keys='["store", "brand"]',
        process_count_per_node=4,
        progress_update_timeout=5,
        run_invocation_timeout=10,
    )
    assert config.entry_script == "score.py"
    assert config.output_action == "summary_only"
    assert config.logging_level == "DEBUG"
    assert config.append_row_format == "jsonl"
    assert config.mini_batch_format == "arrow"
    assert config.error_threshold == 3
    assert config.partition_keys == ["store", "brand"]
    assert config.processes_per_node == 4
    assert config.progress_timeout == 5


def test_config_is_frozen(src: Path) -> None:
    config = make()
    with pytest.raises(AttributeError):
        config.run_max_try = 5  # type: ignore[misc]


def test_config_pickles_and_compares(src: Path) -> None:
    config = make(run_max_try=PipelineParameter("tries", 2))
    copy = pickle.loads(pickle.dumps(config))
    assert copy == config
    assert copy.entry_script_path == config.entry_script_path
    assert copy.parameters == config.parameters
    assert make() != config
    assert make() == make()


def test_paths_are_fixed_at_construction(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make()
    monkeypatch.chdir(src)
    assert config.source_directory_path == src
    assert config.entry_script_path == src / "score.py"
    assert config.to_dict()["source_directory"] == str(src)
    assert config.replace(run_max_try=1).entry_script_path == src / "score.py"
    tries = PipelineParameter("tries", 2)
    assert config.replace(run_max_try=tries).resolve({"tries": 4}).run_max_try == 4


def test_replace_refuses_unknown_names(src: Path) -> None:
    with pytest.raises(
        ConfigError, match="unknown parameter 'node_cont'; did you mean 'node_count'"
    ):
        make().replace(node_cont=2)


def test_repr_shows_what_differs(src: Path) -> None:
    text = repr(make(run_max_try=5))
    assert (
        text == "ParallelRunConfig(entry_script='score.py', source_directory='src', run_max_try=5)"
    )


# -- each invalid value -----------------------------------------------------------------------

INVALID = [
    ("mini_batch_size", "1 MB"),
    ("mini_batch_size", "1.5MB"),
    ("mini_batch_size", 0),
    ("mini_batch_size", "0"),
    ("mini_batch_size", "MB"),
    ("mini_batch_size", True),
    ("mini_batch_size", -5),
    ("mini_batch_size", "10\n"),
    ("mini_batch_size", "1TB"),
    ("mini_batch_size", 1.5),
    ("error_threshold", -2),
    ("error_threshold", -1.5),
    ("error_threshold", True),
    ("error_threshold", "5"),
    ("error_threshold", float("nan")),
    ("error_threshold", float("inf")),
    ("allowed_failed_count", -2),
    ("allowed_failed_count", 1.5),
    ("allowed_failed_count", False),
    ("allowed_failed_percent", -0.1),
    ("allowed_failed_percent", 100.1),
    ("allowed_failed_percent", "50"),
    ("allowed_failed_percent", True),
    ("allowed_failed_percent", float("nan")),
    ("output_action", "file"),
    ("output_action", "append"),
    ("output_action", None),
    ("append_row_file_name", ""),
    ("append_row_file_name", "  "),
    ("append_row_file_name", ".."),
    ("append_row_file_name", 5),
    ("node_count", 0),
    ("node_count", True),
    ("node_count", 1.0),
    ("process_count_per_node", 0),
    ("process_count_per_node", True),
    ("environment_variables", ["A=1"]),
    ("environment_variables", {"A": 1}),
    ("environment_variables", {"": "x"}),
    ("environment_variables", {"A=B": "x"}),
    ("environment_variables", {1: "x"}),
    ("description", 5),
    ("logging_level", "ERROR"),
    ("logging_level", "CRITICAL"),
    ("logging_level", "verbose"),
    ("logging_level", 10),
    ("run_invocation_timeout", 0),
    ("run_invocation_timeout", -1),
    ("run_invocation_timeout", 1.5),
    ("run_invocation_timeout", True),
    ("run_max_try", 0),
    ("run_max_try", True),
    ("run_max_try", "3"),
    ("partition_keys", []),
    ("partition_keys", "store"),
    ("partition_keys", "[]"),
    ("partition_keys", ["store", ""]),
    ("partition_keys", ["store", "store"]),
    ("partition_keys", [1]),
    ("progress_update_timeout", 0),
    ("progress_update_timeout", -1),
    ("progress_update_timeout", True),
    ("append_row_format", "xml"),
    ("append_row_dataframe_header", "yes"),
    ("append_row_dataframe_header", 1),
    ("mini_batch_format", "polars"),
    ("resource_monitor_interval", -1),
    ("resource_monitor_interval", False),
    ("source_directory", "missing"),
    ("source_directory", 5),
]


@pytest.mark.parametrize(("name", "value"), INVALID)
def test_invalid_value_names_parameter_and_value(src: Path, name: str, value: Any) -> None:
    text = message(**{name: value})
    assert text.startswith(f"{name} must be ")
    assert f"got {value!r}" in text


@pytest.mark.parametrize("char", list('~"#%&*:<>?/\\{|}'))
def test_append_row_file_name_forbidden_characters(src: Path, char: str) -> None:
    name = f"out{char}.txt"
    text = message(append_row_file_name=name)
    assert text.startswith("append_row_file_name must be a file name without any of")
    assert repr(name) in text


def test_mini_batch_size_message_is_the_documented_one(src: Path) -> None:
    assert message(mini_batch_size="1 MB") == (
        'mini_batch_size must be a positive integer or a size like "1MB" '
        "(digits then KB, MB or GB); got '1 MB'"
    )


# -- boundaries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("error_threshold", -1),
        ("error_threshold", 0),
        ("allowed_failed_count", -1),
        ("allowed_failed_count", 0),
        ("allowed_failed_percent", 0),
        ("allowed_failed_percent", 100),
        ("allowed_failed_percent", 12.5),
        ("run_max_try", 1),
        ("run_invocation_timeout", 1),
        ("node_count", 1),
        ("process_count_per_node", 1),
        ("resource_monitor_interval", 0),
        ("progress_update_timeout", 0.5),
        ("append_row_file_name", "result.csv"),
    ],
)
def test_boundary_values_are_accepted(src: Path, name: str, value: Any) -> None:
    assert getattr(make(**{name: value}), name) == value


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1MB", MiniBatchSize(bytes=1048576)),
        ("64KB", MiniBatchSize(bytes=65536)),
        ("64kb", MiniBatchSize(bytes=65536)),
        ("1GB", MiniBatchSize(bytes=1024**3)),
        ("2gB", MiniBatchSize(bytes=2 * 1024**3)),
        ("10", MiniBatchSize(count=10)),
        (10, MiniBatchSize(count=10)),
        (1, MiniBatchSize(count=1)),
        (None, MiniBatchSize()),
    ],
)
def test_parse_size(value: Any, parsed: MiniBatchSize) -> None:
    assert parse_size(value) == parsed


@pytest.mark.parametrize("value", ["1 MB", "1.5MB", 0, "MB", True, "", "-1", "1MiB"])
def test_parse_size_refuses(value: Any) -> None:
    with pytest.raises(
        ConfigError, match=r"^mini_batch_size must be .*got " + re.escape(repr(value))
    ):
        parse_size(value)


def test_mini_batch_size_defaults_per_kind(src: Path) -> None:
    config = make()
    assert config.mini_batch_size_for("files") == MiniBatchSize(count=10)
    assert config.mini_batch_size_for("tabular") == MiniBatchSize(bytes=1024 * 1024)


def test_mini_batch_size_per_kind(src: Path) -> None:
    assert make(mini_batch_size="5").mini_batch_size_for("files") == MiniBatchSize(count=5)
    assert make(mini_batch_size=5).mini_batch_size_for("tabular") == MiniBatchSize(bytes=5)
    sized = make(mini_batch_size="64KB")
    assert sized.mini_batch_size == "64KB"
    assert sized.mini_batch_size_for("tabular") == MiniBatchSize(bytes=65536)
    assert sized.mini_batch_size_for("files") == MiniBatchSize(bytes=65536)


def test_node_count_above_compute_max_nodes(src: Path) -> None:
    class Cluster:
        name = "cpu-cluster"
        max_nodes = 2

    assert make(compute_target=Cluster(), node_count=2).node_count == 2
    text = message(compute_target=Cluster(), node_count=3)
    assert text == "node_count must be at most the compute target's max_nodes (2); got 3"


# -- unknown keywords --------------------------------------------------------------------------


def test_unknown_keyword_suggests_close_match(src: Path) -> None:
    assert message(run_max_tries=3) == (
        "ParallelRunConfig got an unknown parameter 'run_max_tries'; did you mean 'run_max_try'?"
    )


def test_unknown_keyword_without_close_match(src: Path) -> None:
    text = message(colour="blue")
    assert "unknown parameter 'colour'" in text
    assert "help(ParallelRunConfig)" in text


# -- entry script and source directory ----------------------------------------------------------


def test_entry_script_relative_to_cwd_without_source_directory(src: Path) -> None:
    config = ParallelRunConfig(entry_script="src/score.py")
    assert config.entry_script == "src/score.py"
    assert config.entry_script_path == src / "score.py"
    assert config.source_directory_path == src


def test_entry_script_accepts_a_path_object(src: Path) -> None:
    assert ParallelRunConfig(entry_script=src / "score.py").entry_script_path == src / "score.py"


def test_entry_script_missing_without_source_directory(src: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ParallelRunConfig(entry_script="score.py")
    text = str(info.value)
    assert text.startswith("entry_script must be an existing file; got 'score.py'")
    assert str(src.parent / "score.py") in text


def test_entry_script_missing_in_source_directory(src: Path) -> None:
    text = message(entry_script="other.py")
    assert text.startswith(
        f"entry_script must be an existing file inside source_directory {str(src)!r}"
    )
    assert "got 'other.py'" in text


def test_entry_script_outside_source_directory(src: Path) -> None:
    (src.parent / "outside.py").write_text("")
    text = message(entry_script="../outside.py")
    assert (
        text
        == f"entry_script must be a file inside source_directory {str(src)!r}; got '../outside.py'"
    )


def test_entry_script_must_be_a_file(src: Path) -> None:
    (src / "pkg").mkdir()
    assert "got 'pkg'" in message(entry_script="pkg")


@pytest.mark.parametrize("value", ["", "   ", None, 5])
def test_entry_script_must_be_a_path(src: Path, value: Any) -> None:
    assert message(entry_script=value) == (
        f"entry_script must be the path of a Python file; got {value!r}"
    )


def test_entry_script_is_required(src: Path) -> None:
    with pytest.raises(TypeError):
        ParallelRunConfig()  # type: ignore[call-arg]


def test_source_directory_must_be_a_directory(src: Path) -> None:
    text = message(source_directory="src/score.py")
    assert text.startswith("source_directory must be None or an existing directory; got ")


# -- pipeline parameters ------------------------------------------------------------------------


def test_pipeline_parameter_name_is_checked() -> None:
    assert PipelineParameter("batch_size", 10).name == "batch_size"
    assert PipelineParameter("_a-1", 10).name == "_a-1"
    for bad in ["", "1abc", "a b", "a.b", None]:
        with pytest.raises(ConfigError, match="PipelineParameter name must start with"):
            PipelineParameter(bad, 1)  # type: ignore[arg-type]


def test_pipeline_parameter_repr_and_resolve() -> None:
    param = PipelineParameter(name="batch_size", default_value="10")
    assert repr(param) == "PipelineParameter(name='batch_size', default_value='10')"
    assert resolve(param, {}) == "10"
    assert resolve(param, {"batch_size": "20"}) == "20"
    assert resolve(5, {"batch_size": "20"}) == 5


def test_pipeline_parameter_default_is_checked(src: Path) -> None:
    text = message(mini_batch_size=PipelineParameter("batch", "1 MB"))
    assert text.startswith("mini_batch_size (pipeline parameter 'batch') must be ")
    assert text.endswith("got '1 MB'")
    text = message(run_max_try=PipelineParameter("tries", 0))
    assert text == "run_max_try (pipeline parameter 'tries') must be an integer >= 1; got 0"


def test_pipeline_parameter_for_entry_script_is_checked(src: Path) -> None:
    text = message(entry_script=PipelineParameter("script", "nope.py"))
    assert text.startswith("entry_script (pipeline parameter 'script') must be an existing file")


def test_pipeline_parameters_are_kept_and_resolved(src: Path) -> None:
    batch = PipelineParameter("batch", "1MB")
    tries = PipelineParameter("tries", 2)
    keys = PipelineParameter("keys", '["store"]')
    config = make(mini_batch_size=batch, run_max_try=tries, partition_keys=keys)
    assert config.parameters == {
        "mini_batch_size": batch,
        "run_max_try": tries,
        "partition_keys": keys,
    }
    assert config.mini_batch_size == "1MB"  # the default, checked
    assert config.partition_keys == ["store"]
    assert "mini_batch_size=PipelineParameter(name='batch'" in repr(config)

    resolved = config.resolve({"batch": "20", "tries": 5, "other": 1})
    assert resolved.parameters == {}
    assert (resolved.mini_batch_size, resolved.run_max_try) == ("20", 5)
    assert resolved.partition_keys == ["store"]
    assert config.resolve().mini_batch_size == "1MB"
    assert config.resolve(None).run_max_try == 2


def test_resolve_checks_submitted_values(src: Path) -> None:
    config = make(run_max_try=PipelineParameter("tries", 2))
    with pytest.raises(ConfigError) as info:
        config.resolve({"tries": True})
    assert (
        str(info.value)
        == "run_max_try (pipeline parameter 'tries') must be an integer >= 1; got True"
    )


def test_replace_keeps_parameters(src: Path) -> None:
    tries = PipelineParameter("tries", 2)
    config = make(run_max_try=tries).replace(node_count=2)
    assert config.node_count == 2
    assert config.parameters == {"run_max_try": tries}
    with pytest.raises(ConfigError, match="node_count must be an integer >= 1; got 0"):
        config.replace(node_count=0)


# -- storage ------------------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Env:
        name = "sklearn-env"

    config = make(
        mini_batch_size=PipelineParameter("batch", "64KB"),
        environment=Env(),
        compute_target="cpu-cluster",
        environment_variables={"A": "1"},
        partition_keys=("store",),
        allowed_failed_percent=10,
        output_action="summary_only",
    )
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["entry_script"] == str(src / "score.py")
    assert data["source_directory"] == str(src)
    assert data["mini_batch_size"] == "64KB"
    assert data["environment"] == "sklearn-env"
    assert data["compute_target"] == "cpu-cluster"
    assert data["partition_keys"] == ["store"]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rebuilt = ParallelRunConfig.from_dict(data)
    assert rebuilt.to_dict() == data
    assert rebuilt.entry_script_path == src / "score.py"


def test_to_dict_without_source_directory_stores_absolute_script(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ParallelRunConfig(entry_script="src/score.py").to_dict()
    assert data["entry_script"] == str(src / "score.py")
    assert data["source_directory"] is None
    monkeypatch.chdir(src)
    assert ParallelRunConfig.from_dict(data).to_dict() == data


def test_from_dict_refuses_unknown_keys_and_non_mappings(src: Path) -> None:
    data = make().to_dict()
    with pytest.raises(
        ConfigError, match="unknown parameter 'run_max_tri'; did you mean 'run_max_try'"
    ):
        ParallelRunConfig.from_dict({**data, "run_max_tri": 1})
    with pytest.raises(ConfigError, match="must be a mapping"):
        ParallelRunConfig.from_dict([1, 2])  # type: ignore[arg-type]


# -- step settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["abc", "a-b", "a1b", "a-1", "mnist-batch-2", "a" * 32])
def test_step_name_accepted(name: str) -> None:
    assert validate_step_name(name) == name


@pytest.mark.parametrize(
    "name", ["ab", "a" * 33, "Abc", "abC", "abc-", "1abc", "-abc", "a_b", "a b", "", None]
)
def test_step_name_refused(name: Any) -> None:
    with pytest.raises(ConfigError) as info:
        validate_step_name(name)
    assert str(info.value).startswith("name must be 3 to 32 characters")
    assert str(info.value).endswith(f"got {name!r}")


def test_validate_arguments_converts_and_keeps_parameters() -> None:
    param = PipelineParameter("model", "mnist")
    assert validate_arguments(None) == []
    assert validate_arguments([]) == []
    assert validate_arguments(("--batch", 5, "--rate", 0.5, "--model", param)) == [
        "--batch",
        "5",
        "--rate",
        "0.5",
        "--model",
        param,
    ]


def test_validate_arguments_first_must_be_an_option() -> None:
    with pytest.raises(ConfigError, match=r"must start with an option .*got 'mnist' first"):
        validate_arguments(["mnist", "--model"])
    with pytest.raises(ConfigError, match="got 'x' first"):
        validate_arguments([PipelineParameter("p", "x")])


@pytest.mark.parametrize("value", ["--model mnist", 5, {"--a": 1}])
def test_validate_arguments_must_be_a_list(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"^arguments must be a list"):
        validate_arguments(value)


def test_validate_arguments_refuses_other_items() -> None:
    with pytest.raises(
        ConfigError,
        match=r"arguments\[1\] must be a string, a number or a PipelineParameter; got None",
    ):
        validate_arguments(["--a", None])


@pytest.mark.parametrize("name", RESERVED_ARGUMENTS)
@pytest.mark.parametrize("form", ["--{name}", "--{name}=5"])
def test_validate_arguments_refuses_reserved_names(name: str, form: str) -> None:
    item = form.format(name=name)
    with pytest.raises(ConfigError) as info:
        validate_arguments(["--model", "mnist", item, "5"])
    text = str(info.value)
    assert text.startswith(f"arguments must not set --{name}: it is a ParallelRunConfig parameter")
    assert f"ParallelRunConfig({name}=...)" in text
    assert repr(item) in text


def test_reserved_names_are_azures() -> None:
    assert len(RESERVED_ARGUMENTS) == 11
    assert validate_arguments(["--run_max_tries", "3", "--outputs", "x"]) == [
        "--run_max_tries",
        "3",
        "--outputs",
        "x",
    ]


def test_runtime_options_found_in_both_forms() -> None:
    arguments = [
        "--model",
        "mnist",
        "--progress_update_timeout",
        "600",
        "--task_overhead_timeout=30",
        "--append_row_dataframe_header",
        "--nice",
        "5",
        "--copy_logs_to_parent",
    ]
    before = list(arguments)
    assert runtime_options(arguments) == {
        "progress_update_timeout": "600",
        "task_overhead_timeout": "30",
        "append_row_dataframe_header": "true",
        "nice": "5",
        "copy_logs_to_parent": "true",
    }
    assert arguments == before
    assert runtime_options(None) == {}


def test_with_runtime_options_applies_three_of_them(src: Path) -> None:
    config = make().with_runtime_options(
        [
            "--progress_update_timeout=600",
            "--resource_monitor_interval",
            "0",
            "--append_row_dataframe_header",
            "True",
        ]
    )
    assert config.progress_update_timeout == 600
    assert config.progress_timeout == 600
    assert config.resource_monitor_interval == 0
    assert config.append_row_dataframe_header is True
    unchanged = make()
    assert unchanged.with_runtime_options(["--model", "x"]) is unchanged
    assert (
        make().with_runtime_options(["--append_row_dataframe_header"]).append_row_dataframe_header
    )


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ["--progress_update_timeout", "soon"],
            "--progress_update_timeout in arguments must be a number of seconds; got 'soon'",
        ),
        (
            ["--progress_update_timeout", "0"],
            "progress_update_timeout must be None or a number of seconds > 0; got 0.0",
        ),
        (
            ["--resource_monitor_interval=-5"],
            "resource_monitor_interval must be a number of seconds >= 0 (0 disables); got -5.0",
        ),
        (
            ["--append_row_dataframe_header", "maybe"],
            "--append_row_dataframe_header in arguments must be true or false; got 'maybe'",
        ),
    ],
)
def test_with_runtime_options_checks_values(src: Path, arguments: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        make().with_runtime_options(arguments)
    assert str(info.value) == expected


def test_validate_output() -> None:
    validate_output("append_row", "out")
    validate_output("summary_only", None)
    validate_output("SUMMARY_ONLY", None)
    with pytest.raises(
        ConfigError, match=r"^output is required when output_action is 'append_row'"
    ):
        validate_output("append_row", None)
    with pytest.raises(ConfigError, match=r"^output is required"):
        validate_output(PipelineParameter("action", "append_row"), None)
    with pytest.raises(
        ConfigError, match=r"^output_action must be 'append_row' or 'summary_only'; got 'rows'"
    ):
        validate_output("rows", "out")
