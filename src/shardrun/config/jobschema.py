"""The keys a job file may hold, how they map onto ``ParallelRunConfig``, and ``--set``.

The schema is a set of pydantic models that forbid unknown keys, so that a typo such as
``retry_setings`` is reported with the key it was meant to be. Values of config parameters
are not checked here but by :class:`~shardrun.config.parallel_run.ParallelRunConfig`, whose messages
name the parameter; :class:`Settings` adds the job key they came from.
:func:`apply_overrides` edits the raw mapping first. Used by :mod:`shardrun.config.jobspec`.
"""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shardrun.config.parallel_run import RESERVED_ARGUMENTS, ParallelRunConfig
from shardrun.errors import ConfigError

# Reserved in the arguments, and not a setting the runtime would read from there.
_NOT_LIFTED = {"output", "output_action", "append_row_file_name"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataInput(_Strict):
    """``inputs.<name>`` given as a mapping: data to read."""

    type: Literal["uri_folder", "uri_file", "mltable"] = "uri_folder"
    path: Any = None
    mode: Literal["ro_mount", "download", "direct", "eval_mount", "eval_download"] | None = None
    description: str | None = None


class DataOutput(_Strict):
    """``outputs.<name>``: where results go."""

    type: Literal["uri_folder", "uri_file"] = "uri_folder"
    path: str | None = None
    mode: Literal["rw_mount", "upload", "direct"] | None = None
    description: str | None = None


class _Resources(_Strict):
    instance_count: Any = None
    instance_type: str | None = None
    shm_size: str | None = None
    docker_args: str | None = None
    properties: dict[str, Any] | None = None


class _RetrySettings(_Strict):
    max_retries: Any = None
    timeout: Any = None


class _Task(_Strict):
    type: Literal["run_function"] = "run_function"
    code: str | None = None
    entry_script: str | None = None
    environment: Any = None
    program_arguments: Any = None
    append_row_to: str | None = None


class Job(_Strict):
    """A whole job file (Azure ML v2 ``type: parallel`` keys, v1 names, shardrun extras)."""

    schema_: str | None = Field(default=None, alias="$schema")
    type: Literal["parallel"] = "parallel"
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    experiment_name: str | None = None
    tags: dict[str, Any] | None = None
    compute: str | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    input_data: str | None = None
    task: _Task | None = None
    resources: _Resources | None = None
    retry_settings: _RetrySettings | None = None
    # Config parameters (v2 names, v1 names, shardrun's extras), checked by ParallelRunConfig.
    mini_batch_size: Any = None
    error_threshold: Any = None
    mini_batch_error_threshold: Any = None
    allowed_failed_percent: Any = None
    logging_level: Any = None
    max_concurrency_per_instance: Any = None
    environment_variables: Any = None
    partition_keys: Any = None
    entry_script: Any = None
    source_directory: Any = None
    node_count: Any = None
    process_count_per_node: Any = None
    run_invocation_timeout: Any = None
    run_max_try: Any = None
    allowed_failed_count: Any = None
    output_action: Any = None
    append_row_file_name: Any = None
    arguments: Any = None
    progress_update_timeout: Any = None
    append_row_format: Any = None
    append_row_dataframe_header: Any = None
    mini_batch_format: Any = None
    resource_monitor_interval: Any = None


# The v2 keys of config parameters, then their v1 names; other parameters keep their name.
_V2_KEYS: dict[str, tuple[str, ...]] = {
    "entry_script": ("task.entry_script", "entry_script"),
    "source_directory": ("task.code", "source_directory"),
    "environment": ("task.environment",),
    "node_count": ("resources.instance_count", "node_count"),
    "process_count_per_node": ("max_concurrency_per_instance", "process_count_per_node"),
    "run_invocation_timeout": ("retry_settings.timeout", "run_invocation_timeout"),
    "run_max_try": ("retry_settings.max_retries", "run_max_try"),
    "allowed_failed_count": ("mini_batch_error_threshold", "allowed_failed_count"),
}
#: Config parameter -> the job keys that set it, v2 name first. Twins must agree.
SOURCES: dict[str, tuple[str, ...]] = {
    item.name: _V2_KEYS.get(item.name, (item.name,))
    for item in fields(ParallelRunConfig)
    if not item.name.startswith("_") and item.name != "compute_target"
}
#: The job keys that give the entry script's arguments (v2 name first).
ARGUMENT_KEYS = ("task.program_arguments", "arguments")
# Options in the arguments that Azure's runtime reads as config parameters.
_LIFTED = {
    **{name: name for name in RESERVED_ARGUMENTS if name not in _NOT_LIFTED},
    "score_run_timeout": "run_invocation_timeout",
}

_M = TypeVar("_M", bound=BaseModel)


def check_model(model: type[_M], data: Any, where: str = "") -> _M:
    """Validate ``data`` against a schema model; the first problem becomes a ConfigError.

    Args:
        model: The schema model.
        data: The mapping to check.
        where: The dotted key of ``data`` inside the job (``"inputs.images"``), if any.

    Raises:
        ConfigError: One line naming the key; an unknown key comes with the closest
            allowed one.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        key = ".".join([where, *loc] if where else loc) or "the job"
        if error["type"] == "extra_forbidden":
            allowed = _keys_at(model, loc[:-1])
            close = difflib.get_close_matches(loc[-1], allowed, n=1)
            prefix = key[: len(key) - len(loc[-1])]
            hint = f"did you mean {prefix + close[0]!r}?" if close else f"allowed: {allowed}"
            raise ConfigError(f"unknown key {key!r}; {hint}") from None
        got = error.get("input")
        if error["type"] in {"model_type", "dict_type", "model_attributes_type"}:
            raise ConfigError(f"{key} must be a mapping; got {got!r}") from None
        rule = error["msg"].replace("Input should be", "must be")
        raise ConfigError(f"{key} {rule}; got {got!r}") from None


def _keys_at(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """The keys allowed at ``loc`` inside ``model`` (a path through nested models)."""
    for part in loc:
        info = model.model_fields.get(part)
        args = (info.annotation, *get_args(info.annotation)) if info is not None else ()
        models = [arg for arg in args if isinstance(arg, type) and issubclass(arg, BaseModel)]
        if not models:
            return []
        model = models[0]
    return [info.alias or name for name, info in model.model_fields.items()]


class Settings:
    """The config parameters a job sets, with the key each came from.

    Args:
        job: The checked job.

    Raises:
        ConfigError: Two keys set one parameter to different values.
    """

    def __init__(self, job: Job) -> None:
        self.values: dict[str, Any] = {}
        self.origin: dict[str, str] = {}
        raw = job.model_dump(by_alias=True)
        for parameter, keys in SOURCES.items():
            for key in keys:
                self.put(parameter, key, _get(raw, key))
        self._arguments: list[str] | None = None
        self._arguments_key = ""
        for key in ARGUMENT_KEYS:
            value = _get(raw, key)
            if value is None:
                continue
            tokens = _tokens(key, value)
            if self._arguments is not None and tokens != self._arguments:
                raise ConfigError(
                    f"{self._arguments_key} ({self._arguments}) and {key} ({tokens}) both "
                    "give the arguments; keep one"
                )
            self._arguments, self._arguments_key = tokens, key

    def put(self, parameter: str, key: str, value: Any) -> None:
        """Record that ``key`` sets ``parameter`` to ``value`` (``None`` sets nothing).

        Raises:
            ConfigError: Another key already set it to a different value.
        """
        if value is None:
            return
        if parameter in self.values and not _same(self.values[parameter], value):
            first = self.origin[parameter]
            raise ConfigError(
                f"{first} ({self.values[parameter]!r}) and {key} ({value!r}) both set "
                f"{parameter}; keep one"
            )
        self.values[parameter] = value
        self.origin.setdefault(parameter, key)

    def arguments(self) -> list[str]:
        """The entry script's arguments as given (references not yet replaced)."""
        return list(self._arguments or [])

    def lift(self, arguments: list[str]) -> list[str]:
        """Take the config parameters Azure's runtime reads out of ``arguments``.

        Returns:
            The other arguments, in order.

        Raises:
            ConfigError: An option has no value, or conflicts with a key of the job.
        """
        kept: list[str] = []
        index = 0
        while index < len(arguments):
            item = arguments[index]
            name = item[2:].split("=", 1)[0] if item.startswith("--") else ""
            if name not in _LIFTED:
                kept.append(item)
                index += 1
                continue
            if "=" in item:
                text, index = item.split("=", 1)[1], index + 1
            elif index + 1 < len(arguments):
                text, index = arguments[index + 1], index + 2
            else:
                raise ConfigError(f"--{name} in the arguments needs a value")
            self.put(_LIFTED[name], f"--{name} in the arguments", _scalar(text))
        return kept

    def make_paths_absolute(self, base: Path) -> None:
        """Resolve ``source_directory``, or else ``entry_script``, against ``base``."""
        folder = self.values.get("source_directory")
        if isinstance(folder, str):
            self.values["source_directory"] = os.path.abspath(base / os.path.expanduser(folder))
        elif isinstance(self.values.get("entry_script"), str):
            script = os.path.expanduser(self.values["entry_script"].strip())
            self.values["entry_script"] = os.path.abspath(base / script)

    def build(self) -> ParallelRunConfig:
        """The config these settings make.

        Raises:
            ConfigError: A value is invalid; the message starts with the job key it
                came from when that is not the parameter's own name.
        """
        if "entry_script" not in self.values:
            raise ConfigError("task.entry_script is required: the script with init() and run()")
        try:
            return ParallelRunConfig(**self.values)
        except ConfigError as exc:
            if exc.parameter is None:
                raise
            key = self.origin.get(exc.parameter, exc.parameter)
            if key == exc.parameter:
                raise
            raise ConfigError(f"{key}: {exc}") from None


def _get(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _tokens(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}; got {value!r}") from None
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return [_text(item) for item in value]
    raise ConfigError(f"{key} must be a string or a list of strings; got {value!r}")


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) or str(a) == str(b)


# -- overrides ----------------------------------------------------------------------------


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with ``KEY=VALUE`` overrides applied.

    See :func:`shardrun.config.jobspec.parse_job` for the syntax.

    Raises:
        ConfigError: An override has no ``=``, an empty key or an empty value, or goes
            through a value that is not a mapping.
    """
    result: dict[str, Any] = _plain(data)
    for text in overrides:
        key, sep, raw = str(text).partition("=")
        key = key.strip()
        if not sep or not key or "" in key.split(".") or not raw.strip():
            # An empty value would read as null and quietly keep the default.
            raise ConfigError(
                f"override {text!r} must be KEY=VALUE with a value, such as "
                "mini_batch_size=20 or retry_settings.timeout=30 (KEY=null to unset)"
            )
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        target = result
        for depth, part in enumerate(parts[:-1]):
            child = target.setdefault(part, {})
            if child is None:
                child = target[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"override {text!r}: {where} is {child!r}, not a mapping")
            target = child
        target[parts[-1]] = value
        for twin in _twins(key):
            _delete(result, twin)
    return result


def _twins(key: str) -> tuple[str, ...]:
    for keys in (*SOURCES.values(), ARGUMENT_KEYS):
        if key in keys:
            return tuple(other for other in keys if other != key)
    return ()


def _delete(data: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part)
        if not isinstance(node, dict):
            return
    node.pop(last, None)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
