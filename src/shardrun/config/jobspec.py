"""The YAML job file: Azure ML v2's ``type: parallel`` job, v1 names accepted.

A job file names the data to split (``input_data``), the script (``task``), the settings
of a :class:`~shardrun.config.parallel_run.ParallelRunConfig` and where results go::

    type: parallel
    name: mnist-batch
    inputs:
      images: {type: uri_folder, path: ./images}
    outputs:
      scores: {type: uri_folder, path: ./out}
    input_data: ${{inputs.images}}
    mini_batch_size: "10"
    retry_settings: {max_retries: 3, timeout: 60}
    task:
      type: run_function
      code: ./src
      entry_script: score.py
      program_arguments: --model_name mnist --out ${{outputs.scores}}
      append_row_to: ${{outputs.scores}}

v2 keys map onto v1 parameters: ``resources.instance_count`` is ``node_count``,
``max_concurrency_per_instance`` is ``process_count_per_node``, ``retry_settings.timeout``
and ``.max_retries`` are ``run_invocation_timeout`` and ``run_max_try``,
``mini_batch_error_threshold`` is ``allowed_failed_count``, ``task.code`` is
``source_directory``, ``task.program_arguments`` is ``arguments``, and ``task.append_row_to``
chooses ``append_row`` (``summary_only`` without it). The v1 names are accepted at the top
level too; giving both twins different values is an error. Relative paths are relative to
the YAML file's folder. As in Azure, ``program_arguments`` may also set config parameters
(``--error_threshold 5``): they are taken out of the list and into the config.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shardrun.config.jobschema import (
    DataInput,
    DataOutput,
    Job,
    Settings,
    apply_overrides,
    check_model,
)
from shardrun.config.parallel_run import (
    ParallelRunConfig,
    runtime_settings,
    validate_arguments,
    validate_step_name,
)
from shardrun.errors import ConfigError

__all__ = ["JobSpec", "load_job", "parse_job"]


@dataclass(frozen=True)
class JobSpec:
    """A parsed job file, ready to run.

    Attributes:
        name: The job (step) name, if given.
        config: The run's settings, paths made absolute.
        input_name: The input that ``input_data`` names.
        inputs: Its path(s): absolute for local paths, URLs as written.
        input_type: ``"uri_folder"``, ``"uri_file"`` or ``"mltable"``.
        output: The output folder (absolute, or a URL), or None without one.
        arguments: Arguments for the entry script, references replaced.
        compute: ``"local"``, ``"ray"``, ``"ray://host:port"`` or another target's name.
        source: The YAML file, or None when parsed from data.
        output_name: The output's name under ``outputs``, if there is an output.
        experiment_name: Groups runs in the workspace, if given.
        display_name: A label for people, if given.
        tags: Free key/value labels.
    """

    name: str | None
    config: ParallelRunConfig
    input_name: str
    inputs: tuple[str, ...]
    input_type: str
    output: str | None
    arguments: tuple[str, ...]
    compute: str
    source: Path | None
    output_name: str | None = None
    experiment_name: str | None = None
    display_name: str | None = None
    tags: Mapping[str, Any] = field(default_factory=dict)


_REF = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_\-]+)\s*\}\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_GLOB = set("*?[")


# -- entry points -------------------------------------------------------------------------


def load_job(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> JobSpec:
    """Read and check a job file.

    Args:
        path: The YAML file.
        overrides: ``KEY=VALUE`` strings (the CLI's ``--set``), applied to the YAML before
            it is checked: see :func:`parse_job`.

    Returns:
        The job, with absolute paths.

    Raises:
        ConfigError: The file is missing, a folder or not valid YAML, or the job is invalid; the
            message starts with the file's name.
    """
    source = Path(os.path.abspath(path))
    if source.is_dir():
        raise ConfigError(f"job file {str(path)!r} is a folder; give the job's YAML file")
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"job file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"job file {str(path)!r} cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a job file must be a mapping of keys; got {data!r}")
    try:
        return _parse(data, source.parent, overrides, source)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_job(
    data: Mapping[str, Any], base_dir: str | os.PathLike[str], overrides: Sequence[str] = ()
) -> JobSpec:
    """Check a job given as data (a parsed YAML mapping).

    Args:
        data: The job's keys, as in a job file.
        base_dir: The folder relative paths start from.
        overrides: ``KEY=VALUE`` strings applied first. Dotted keys reach into nested keys
            (``retry_settings.timeout=30``, ``inputs.images.path=/data``); values are read
            as YAML (``20`` is a number). Setting a v1 name replaces its v2 twin and back.

    Returns:
        The job, with absolute paths.

    Raises:
        ConfigError: An override is malformed, or the job is invalid.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"a job must be a mapping of keys; got {data!r}")
    return _parse(data, Path(os.path.abspath(base_dir)), overrides, None)


def _parse(
    data: Mapping[str, Any], base: Path, overrides: Sequence[str], source: Path | None
) -> JobSpec:
    job = check_model(Job, apply_overrides(data, overrides))
    name = validate_step_name(job.name) if job.name is not None else None
    settings = Settings(job)
    refs = _References(job, base)
    arguments = settings.lift(refs.substitute(settings.arguments()))
    for key, value in runtime_settings(arguments).items():
        settings.put(key, f"--{key} in the arguments", value)
    checked = tuple(str(item) for item in validate_arguments(arguments))
    output_name, output = refs.output(settings)
    settings.make_paths_absolute(base)
    config = settings.build()
    if job.compute and job.compute != "local":
        # A target's name or a Ray address ("ray", "ray://head:10001"), resolved at run time.
        config = config.replace(compute_target=job.compute)
    return JobSpec(
        name=name,
        config=config,
        input_name=refs.input_name,
        inputs=refs.input_paths,
        input_type=refs.input_type,
        output=output,
        arguments=checked,
        compute=job.compute or "local",
        source=source,
        output_name=output_name,
        experiment_name=job.experiment_name,
        display_name=job.display_name,
        tags=dict(job.tags or {}),
    )


# -- inputs, outputs and ${{...}} references ----------------------------------------------


class _References:
    """A job's inputs and outputs: which input is split, and what ``${{...}}`` stands for."""

    def __init__(self, job: Job, base: Path) -> None:
        self.base = base
        self.append_row_to = job.task.append_row_to if job.task else None
        self.literals: dict[str, Any] = {}
        self.data: dict[str, DataInput] = {}
        self.outputs: dict[str, DataOutput] = {}
        self.input_name = self._input_data(job.input_data)
        for name, spec in (job.inputs or {}).items():
            _check_name("inputs", name)
            if isinstance(spec, dict):
                self.data[name] = check_model(DataInput, spec, f"inputs.{name}")
            elif isinstance(spec, str) and name == self.input_name:
                local = not _is_url(spec) and Path(_absolute(spec, base)).is_file()
                self.data[name] = DataInput(type="uri_file" if local else "uri_folder", path=spec)
            elif isinstance(spec, str | int | float | bool):
                self.literals[name] = spec
            else:
                raise ConfigError(f"inputs.{name} must be a mapping or a value; got {spec!r}")
        for name, spec in (job.outputs or {}).items():
            _check_name("outputs", name)
            if isinstance(spec, str):
                spec = {"path": spec}
            self.outputs[name] = check_model(DataOutput, spec, f"outputs.{name}")
        if self.input_name not in self.data:
            declared = sorted(self.data) or "none"
            raise ConfigError(
                f"input_data references inputs.{self.input_name}, which is not a declared "
                f"data input (data inputs: {declared})"
            )
        self.input_type = self.data[self.input_name].type
        self.input_paths = self._paths(self.input_name)
        for path in self.input_paths:
            if not _is_url(path) and not _GLOB & set(path) and not os.path.exists(path):
                raise ConfigError(f"inputs.{self.input_name}.path {path!r} does not exist")

    @staticmethod
    def _input_data(reference: str | None) -> str:
        if reference is None:
            raise ConfigError(
                "input_data is required: name the input to split, such as "
                "input_data: ${{inputs.images}}"
            )
        match = _REF.fullmatch(reference.strip())
        if match is None or match[1] != "inputs":
            raise ConfigError(
                f"input_data must reference one input, such as ${{{{inputs.images}}}}; "
                f"got {reference!r}"
            )
        return match[2]

    def _paths(self, name: str) -> tuple[str, ...]:
        path = self.data[name].path
        paths = path if isinstance(path, list) else [path]
        if not paths or not all(isinstance(item, str) and item.strip() for item in paths):
            raise ConfigError(f"inputs.{name}.path must be a path or a list of paths; got {path!r}")
        return tuple(_absolute(item, self.base) for item in paths)

    def substitute(self, arguments: list[str]) -> list[str]:
        """``arguments`` with each ``${{inputs.x}}`` / ``${{outputs.y}}`` replaced.

        Raises:
            ConfigError: A reference names nothing declared, or an output without a path.
        """
        return [_REF.sub(lambda match: self._value(match[1], match[2]), item) for item in arguments]

    def _value(self, kind: str, name: str) -> str:
        if kind == "inputs" and name in self.literals:
            return str(self.literals[name])
        if kind == "inputs" and name in self.data:
            paths = self._paths(name)
            if len(paths) > 1:
                raise ConfigError(f"${{{{inputs.{name}}}}} names {len(paths)} paths; use one")
            return paths[0]
        if kind == "outputs" and name in self.outputs:
            path = self.outputs[name].path
            if path is None:
                raise ConfigError(f"outputs.{name} needs a path to be used in the arguments")
            return _absolute(path, self.base)
        declared = sorted(self.literals | self.data) if kind == "inputs" else sorted(self.outputs)
        raise ConfigError(f"${{{{{kind}.{name}}}}} is not declared; {kind}: {declared}")

    def output(self, settings: Settings) -> tuple[str | None, str | None]:
        """Choose the output and settle ``output_action`` (and a ``uri_file`` name).

        Returns:
            The output's name and folder (None without an output, or without a path).

        Raises:
            ConfigError: ``append_row`` without an output, or conflicting settings.
        """
        target = (self.append_row_to or "").strip()
        action = str(settings.values.get("output_action", "")).lower()
        if target:
            match = _REF.fullmatch(target)
            if match is None or match[1] != "outputs" or match[2] not in self.outputs:
                raise ConfigError(
                    "task.append_row_to must reference a declared output, such as "
                    f"${{{{outputs.scores}}}} (outputs: {sorted(self.outputs)}); got {target!r}"
                )
            if action not in {"", "append_row"}:
                raise ConfigError(
                    f"task.append_row_to appends rows, but output_action is {action!r}; keep one"
                )
            if not action:
                settings.put("output_action", "task.append_row_to", "append_row")
            return self._folder(match[2], settings)
        if not action:
            settings.values["output_action"] = "summary_only"
        if len(self.outputs) == 1:
            return self._folder(next(iter(self.outputs)), settings)
        if action == "append_row":
            raise ConfigError(
                "output_action 'append_row' needs an output: declare it under outputs and "
                "set task.append_row_to: ${{outputs.<name>}}"
            )
        return None, None

    def _folder(self, name: str, settings: Settings) -> tuple[str, str | None]:
        spec = self.outputs[name]
        if spec.path is None:
            return name, None
        path = _absolute(spec.path, self.base)
        if spec.type != "uri_file":
            return name, path
        folder, _, file_name = path.rstrip("/").rpartition("/" if _is_url(path) else os.sep)
        if str(settings.values.get("output_action")).lower() == "append_row":
            settings.put("append_row_file_name", f"outputs.{name}.path", file_name)
        return name, folder


def _check_name(kind: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{kind} names must start with a letter or '_' and hold only letters, digits, "
            f"'_' or '-'; got {name!r}"
        )


def _is_url(path: str) -> bool:
    return "://" in path or path.startswith("azureml:")


def _absolute(path: str, base: Path) -> str:
    return path if _is_url(path) else os.path.abspath(base / os.path.expanduser(path))
