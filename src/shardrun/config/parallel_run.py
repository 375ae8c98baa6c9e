"""``ParallelRunConfig``: what to run, on how much data at a time, and how failures count.

The parameters, their names, defaults and checks are those of Azure ML's
``ParallelRunConfig`` (SDK v1). A mistake raises :class:`~shardrun.errors.ConfigError` at
construction, with one line naming the parameter, the value and what is allowed; nothing
has started by then. The rules live in :mod:`shardrun.config.rules` (one per parameter)
and :mod:`shardrun.config.step_rules` (step name, ``arguments``, ``output``); the public names
are re-exported here.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shardrun.config.parameters import PipelineParameter
from shardrun.config.rules import (
    MiniBatchSize,
    check_paths,
    check_value,
    parse_size,
)
from shardrun.config.step_rules import (
    RESERVED_ARGUMENTS,
    RUNTIME_OPTIONS,
    runtime_options,
    runtime_settings,
    validate_arguments,
    validate_output,
    validate_step_name,
)
from shardrun.errors import ConfigError

__all__ = [
    "RESERVED_ARGUMENTS",
    "RUNTIME_OPTIONS",
    "MiniBatchSize",
    "ParallelRunConfig",
    "parse_size",
    "runtime_options",
    "runtime_settings",
    "validate_arguments",
    "validate_output",
    "validate_step_name",
]

# Used when ``append_row_file_name`` is not given (Azure's name).
_DEFAULT_NAME = "parallel_run_step.txt"

_DEFAULTS: dict[str, Any] = {
    "entry_script": None,
    "source_directory": None,
    "mini_batch_size": None,
    "error_threshold": -1,
    "allowed_failed_count": None,
    "allowed_failed_percent": None,
    "output_action": "append_row",
    "append_row_file_name": None,
    "compute_target": None,
    "node_count": 1,
    "process_count_per_node": None,
    "environment": None,
    "environment_variables": None,
    "description": None,
    "logging_level": "INFO",
    "run_invocation_timeout": 60,
    "run_max_try": 3,
    "partition_keys": None,
    "progress_update_timeout": None,
    "append_row_format": "text",
    "append_row_dataframe_header": False,
    "mini_batch_format": "pandas",
    "resource_monitor_interval": 5,
}
_FIELDS = tuple(_DEFAULTS)


@dataclass(frozen=True, init=False, repr=False)
class ParallelRunConfig:
    """How a parallel run processes its input (Azure ML's ``ParallelRunConfig``).

    All arguments are keywords. Any of them may be a
    :class:`~shardrun.PipelineParameter`: its ``default_value`` is checked at once, the
    attribute holds that default, and :meth:`resolve` substitutes submitted values.

    Args:
        entry_script: The user script (``init``/``run``/``shutdown``), relative to
            ``source_directory`` if that is set, else to the current directory. It must exist.
        source_directory: Folder with the script and its modules; put first on ``sys.path``.
        mini_batch_size: Files per ``run()`` for file inputs (an int or ``"10"``), or
            approximate bytes per ``run()`` for tabular inputs (``"1MB"``, ``"64KB"``,
            ``"1GB"``, 1024-based). Defaults: 10 files, 1 MB. A size with a unit given to a
            file input groups files by bytes (beyond Azure). ``partition_keys`` wins over it.
        error_threshold: Failed items allowed over the whole run; -1 ignores failed items.
        allowed_failed_count: Failed mini-batches allowed; -1 ignores them.
        allowed_failed_percent: Percentage of failed mini-batches allowed (0 to 100).
        output_action: ``"append_row"`` (``run()`` results go into one file) or
            ``"summary_only"`` (the script writes its own output).
        append_row_file_name: Name of the append_row file (default ``parallel_run_step.txt``).
        compute_target: Where to run (a compute object or its name); ``None`` is local.
        node_count: Nodes to use.
        process_count_per_node: Worker processes per node; ``None`` is one per CPU.
        environment: The Python environment of the workers (kept for reference).
        environment_variables: Variables set in each worker before the script is imported.
        description: Free text.
        logging_level: ``"WARNING"``, ``"INFO"`` or ``"DEBUG"``.
        run_invocation_timeout: Seconds one ``run()`` may take before its worker is stopped.
        run_max_try: Attempts per mini-batch before it counts as failed.
        partition_keys: Columns (or path-format keys) whose values form one mini-batch
            each; a list, or its JSON text (for a ``PipelineParameter``).
        progress_update_timeout: Beyond Azure (a runtime argument there): stop the run if
            nothing finishes for this many seconds; default ``3 * (run_invocation_timeout + 30)``.
        append_row_format: Beyond Azure: ``"text"`` (Azure's format: ``str(item)`` lines,
            DataFrames space-separated), ``"csv"``, ``"jsonl"`` or ``"parquet"``.
        append_row_dataframe_header: Beyond Azure: write a DataFrame's header line in
            the text format.
        mini_batch_format: Beyond Azure: tabular mini-batches as ``"pandas"`` DataFrames
            or ``"arrow"`` tables.
        resource_monitor_interval: Beyond Azure: seconds between CPU/memory samples of
            each worker (default 5), into ``logs/perf/<node>/processes_resource_usage.csv``;
            0 disables. A sample costs the driver well under a millisecond.

    Raises:
        ConfigError: A value is invalid, the entry script does not exist, or a keyword is
            unknown.

    Example:
        >>> config = ParallelRunConfig(
        ...     source_directory="scripts", entry_script="score.py",
        ...     mini_batch_size="5", error_threshold=10, output_action="append_row",
        ...     node_count=1, process_count_per_node=2)  # doctest: +SKIP
    """

    entry_script: str
    source_directory: str | None
    mini_batch_size: int | str | None
    error_threshold: int
    allowed_failed_count: int | None
    allowed_failed_percent: float | None
    output_action: str
    append_row_file_name: str
    compute_target: Any
    node_count: int
    process_count_per_node: int | None
    environment: Any
    environment_variables: dict[str, str] | None
    description: str | None
    logging_level: str
    run_invocation_timeout: int
    run_max_try: int
    partition_keys: list[str] | None
    progress_update_timeout: float | None
    append_row_format: str
    append_row_dataframe_header: bool
    mini_batch_format: str
    resource_monitor_interval: float
    _params: dict[str, PipelineParameter] = field(init=False, repr=False)
    _base: Path = field(init=False, repr=False, compare=False)
    _source_path: Path | None = field(init=False, repr=False, compare=False)
    _entry_script_path: Path = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        *,
        entry_script: str | os.PathLike[str] | PipelineParameter,
        source_directory: str | os.PathLike[str] | PipelineParameter | None = None,
        mini_batch_size: int | str | PipelineParameter | None = None,
        error_threshold: int | float | PipelineParameter = -1,
        allowed_failed_count: int | PipelineParameter | None = None,
        allowed_failed_percent: float | PipelineParameter | None = None,
        output_action: str | PipelineParameter = "append_row",
        append_row_file_name: str | PipelineParameter | None = None,
        compute_target: Any = None,
        node_count: int | PipelineParameter = 1,
        process_count_per_node: int | PipelineParameter | None = None,
        environment: Any = None,
        environment_variables: Mapping[str, str] | PipelineParameter | None = None,
        description: str | PipelineParameter | None = None,
        logging_level: str | PipelineParameter = "INFO",
        run_invocation_timeout: int | PipelineParameter = 60,
        run_max_try: int | PipelineParameter = 3,
        partition_keys: Sequence[str] | str | PipelineParameter | None = None,
        progress_update_timeout: float | PipelineParameter | None = None,
        append_row_format: str | PipelineParameter = "text",
        append_row_dataframe_header: bool | PipelineParameter = False,
        mini_batch_format: str | PipelineParameter = "pandas",
        resource_monitor_interval: float | PipelineParameter = 5,
        **unknown: Any,
    ) -> None:
        given = {name: value for name, value in locals().items() if name in _DEFAULTS}
        if unknown:
            raise ConfigError(_unknown_message(next(iter(unknown))))
        self._setup(given, Path.cwd())

    def _setup(
        self, given: Mapping[str, Any], base: Path, context: Mapping[str, PipelineParameter] = {}
    ) -> None:
        """Check and store ``given``; relative paths start at ``base``.

        A pipeline parameter's default is checked and stored, the parameter kept. Errors
        also name the parameters of ``context`` (those a resolved value came from).
        """
        params = {n: v for n, v in given.items() if isinstance(v, PipelineParameter)}
        values = {n: v.default_value if n in params else v for n, v in given.items()}
        named = {**context, **params}
        checked = {
            n: check_value(n, values[n], named.get(n)) for n in _FIELDS if n != "entry_script"
        }
        source, script, path = check_paths(
            {**checked, "entry_script": values["entry_script"]}, named, base
        )
        checked["entry_script"] = script
        if checked["append_row_file_name"] is None:
            checked["append_row_file_name"] = _DEFAULT_NAME
        _check_node_count(checked["compute_target"], checked["node_count"])
        for name in _FIELDS:
            object.__setattr__(self, name, checked[name])
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_source_path", source)
        object.__setattr__(self, "_entry_script_path", path)

    def __repr__(self) -> str:
        shown = []
        for name in _FIELDS:
            value = self._params.get(name, getattr(self, name))
            default = _DEFAULTS[name] if name != "append_row_file_name" else _DEFAULT_NAME
            if name == "entry_script" or not _same(value, default):
                shown.append(f"{name}={value!r}")
        return f"ParallelRunConfig({', '.join(shown)})"

    # -- derived values -----------------------------------------------------------------

    @property
    def entry_script_path(self) -> Path:
        """The entry script's absolute path."""
        return self._entry_script_path

    @property
    def source_directory_path(self) -> Path:
        """The absolute folder put first on ``sys.path``: ``source_directory`` or the
        entry script's folder."""
        return self._source_path or self._entry_script_path.parent

    @property
    def processes_per_node(self) -> int:
        """Worker processes per node: ``process_count_per_node``, or the CPU count."""
        return self.process_count_per_node or os.cpu_count() or 1

    @property
    def progress_timeout(self) -> float:
        """Seconds without any finished mini-batch after which the run is stopped."""
        if self.progress_update_timeout is not None:
            return self.progress_update_timeout
        return float(3 * (self.run_invocation_timeout + 30))

    @property
    def parameters(self) -> dict[str, PipelineParameter]:
        """The pipeline parameters this config uses, keyed by the config parameter they set."""
        return dict(self._params)

    def mini_batch_size_for(self, kind: Literal["files", "tabular"]) -> MiniBatchSize:
        """The mini-batch size for an input kind, with Azure's defaults applied.

        Args:
            kind: ``"files"`` (a file dataset) or ``"tabular"`` (a tabular dataset).

        Returns:
            For files: a ``count`` (default 10), or ``bytes`` if the size had a unit. For
            tabular data: ``bytes`` (default 1 MiB); a plain number counts bytes, as in Azure.
        """
        size = parse_size(self.mini_batch_size)
        if kind == "files":
            return size if size != MiniBatchSize() else MiniBatchSize(count=10)
        if size == MiniBatchSize():
            return MiniBatchSize(bytes=1024 * 1024)
        return MiniBatchSize(bytes=size.bytes if size.bytes is not None else size.count)

    # -- new configs from this one ------------------------------------------------------

    def replace(self, **changes: Any) -> ParallelRunConfig:
        """A copy with some parameters changed (checked again); pipeline parameters stay.

        Raises:
            ConfigError: A new value is invalid or a name is unknown.
        """
        unknown = [name for name in changes if name not in _DEFAULTS]
        if unknown:
            raise ConfigError(_unknown_message(unknown[0]))
        values: dict[str, Any] = {n: self._params.get(n, getattr(self, n)) for n in _FIELDS}
        changed = object.__new__(ParallelRunConfig)
        changed._setup({**values, **changes}, self._base)
        return changed

    def resolve(self, params: Mapping[str, Any] | None = None) -> ParallelRunConfig:
        """A copy whose pipeline parameters are replaced by values (checked again).

        Args:
            params: Submitted values by parameter name; a missing one takes its default.

        Raises:
            ConfigError: A submitted value is invalid; the message names the parameter.
        """
        given = params or {}
        values: dict[str, Any] = {n: getattr(self, n) for n in _FIELDS}
        for name, param in self._params.items():
            values[name] = given.get(param.name, param.default_value)
        resolved = object.__new__(ParallelRunConfig)
        resolved._setup(values, self._base, self._params)
        return resolved

    def with_runtime_options(self, arguments: Sequence[Any] | None) -> ParallelRunConfig:
        """A copy that applies the runtime options found in ``arguments``.

        Azure reads ``--progress_update_timeout``, ``--resource_monitor_interval`` and
        ``--append_row_dataframe_header`` from the step's arguments; shardrun does too.

        Raises:
            ConfigError: An option's value is invalid.
        """
        changes = runtime_settings(arguments)
        return self.replace(**changes) if changes else self

    # -- storage ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The resolved values as JSON-safe data (for ``run.json``); see :meth:`from_dict`.

        Paths are absolute; ``compute_target`` and ``environment`` become their names.
        Pipeline parameters are written as the values they hold.
        """
        data: dict[str, Any] = {name: getattr(self, name) for name in _FIELDS}
        data["entry_script"] = str(self._entry_script_path)
        if self._source_path is not None:
            data["source_directory"] = str(self._source_path)
        data["compute_target"] = _name_of(self.compute_target)
        data["environment"] = _name_of(self.environment)
        if self.environment_variables is not None:
            data["environment_variables"] = dict(self.environment_variables)
        if self.partition_keys is not None:
            data["partition_keys"] = list(self.partition_keys)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParallelRunConfig:
        """Rebuild a config written by :meth:`to_dict` (checked again).

        Raises:
            ConfigError: ``data`` is not a mapping, has an unknown key or an invalid value.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a stored ParallelRunConfig must be a mapping; got {data!r}")
        return cls(**{str(key): value for key, value in data.items()})


def _check_node_count(compute_target: Any, node_count: int) -> None:
    max_nodes = getattr(compute_target, "max_nodes", None)
    if isinstance(max_nodes, int) and node_count > max_nodes:
        raise ConfigError(
            parameter="node_count",
            message=f"node_count must be at most the compute target's max_nodes ({max_nodes}); "
            f"got {node_count!r}",
        )


def _unknown_message(name: str) -> str:
    close = difflib.get_close_matches(name, _FIELDS, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(map(repr, close))}?" if close else ""
    hint = hint or "see help(ParallelRunConfig) for the parameters"
    return f"ParallelRunConfig got an unknown parameter {name!r}; {hint}"


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and bool(a == b)


def _name_of(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(value)
