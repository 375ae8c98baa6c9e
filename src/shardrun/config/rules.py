"""The rule each ``ParallelRunConfig`` value must follow, and ``mini_batch_size`` parsing.

Each rule is Azure ML's (``_ParallelRunConfigBase``), or stricter where Azure quietly
fixed a mistake (an ``error_threshold`` below -1). Every failure is a
:class:`~shardrun.errors.ConfigError` that names its ``parameter``: one line with the
parameter, the value and what is allowed. Import the public names from
:mod:`shardrun.config.parallel_run`.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardrun.config.parameters import PipelineParameter
from shardrun.errors import ConfigError

_SIZE = re.compile(r"([0-9]+)([kKmMgG][bB])?")
_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}
_FORBIDDEN_NAME_CHARS = '~"#%&*:<>?/\\{|}'
_SIZE_RULE = 'a positive integer or a size like "1MB" (digits then KB, MB or GB)'


class _Bad(Exception):
    """A value broke its rule; ``detail`` says why when the rule alone does not."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class MiniBatchSize:
    """A parsed ``mini_batch_size``: at most one of ``count`` and ``bytes`` is set.

    Attributes:
        count: Items per mini-batch (a plain number such as ``10`` or ``"10"``).
        bytes: Approximate bytes per mini-batch (a size such as ``"1MB"``).
    """

    count: int | None = None
    bytes: int | None = None


def parse_size(value: int | str | None) -> MiniBatchSize:
    """Parse a ``mini_batch_size``: ``10`` or ``"10"`` is a count, ``"1MB"`` is bytes.

    KB, MB and GB (any case) are 1024-based. ``None`` gives an empty
    :class:`MiniBatchSize` (the caller applies the default).

    Raises:
        ConfigError: Not a positive integer nor digits followed by KB, MB or GB.
    """
    try:
        return _parse_size(value)
    except _Bad:
        raise ConfigError(
            parameter="mini_batch_size", message=_message("mini_batch_size", value, None)
        ) from None


def _parse_size(value: Any) -> MiniBatchSize:
    if value is None:
        return MiniBatchSize()
    if not isinstance(value, bool) and isinstance(value, numbers.Integral) and int(value) >= 1:
        return MiniBatchSize(count=int(value))
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) < 1:
        raise _Bad
    if match[2] is None:
        return MiniBatchSize(count=int(match[1]))
    return MiniBatchSize(bytes=int(match[1]) * _UNITS[match[2][0].lower()])


# -- one rule per parameter ---------------------------------------------------------------


def _integer(low: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise _Bad
        return int(value)

    return check


def _number(low: float, high: float = math.inf, above: bool = False) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _Bad
        number = float(value)
        if math.isnan(number) or number < low or number > high or (above and number == low):
            raise _Bad
        return number

    return check


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _choice(*choices: str, upper: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in choices:
            raise _Bad
        return value.upper() if upper else value.lower()

    return check


def _error_threshold(value: Any) -> int:
    # Azure's runtime takes a float and rounds it up; anything below -1 is a mistake here.
    number = _number(-1)(value)
    if math.isinf(number):
        raise _Bad
    return math.ceil(number)


def _mini_batch_size(value: Any) -> int | str | None:
    _parse_size(value)
    return int(value) if isinstance(value, numbers.Integral) else value


def _append_row_file_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or value in {".", ".."}:
        raise _Bad
    if any(char in _FORBIDDEN_NAME_CHARS for char in value):
        raise _Bad
    return value


def _source_directory(value: Any) -> str | None:
    # Whether the folder exists is checked by check_paths, against the right base.
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise _Bad
    return os.fspath(value)


def _environment_variables(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _Bad
    for key, item in value.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise _Bad(f"bad entry {key!r}: {item!r}")
        if not isinstance(item, str):
            raise _Bad(f'{key!r}: {item!r} is not a string; in YAML, quote it: {key}: "{item}"')
    return dict(value)


def _partition_keys(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _Bad("a string must be the JSON text of a list") from None
    if not isinstance(value, list | tuple) or not value:
        raise _Bad
    if not all(isinstance(key, str) and key for key in value) or len(set(value)) < len(value):
        raise _Bad
    return list(value)


def _description(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _Bad
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad
    return value


_RULES: dict[str, tuple[Callable[[Any], Any], str]] = {
    "source_directory": (_source_directory, "None or an existing directory"),
    "mini_batch_size": (_mini_batch_size, _SIZE_RULE),
    "error_threshold": (_error_threshold, "an integer >= -1 (-1 ignores failed items)"),
    "allowed_failed_count": (
        _optional(_integer(-1)),
        "None or an integer >= -1 (-1 ignores failed mini-batches)",
    ),
    "allowed_failed_percent": (_optional(_number(0, 100)), "None or a number from 0 to 100"),
    "output_action": (_choice("append_row", "summary_only"), "'append_row' or 'summary_only'"),
    "append_row_file_name": (
        _append_row_file_name,
        f"a file name without any of {_FORBIDDEN_NAME_CHARS}",
    ),
    "compute_target": (lambda value: value, "anything"),
    "node_count": (_integer(1), "an integer >= 1"),
    "process_count_per_node": (_optional(_integer(1)), "None (one per CPU) or an integer >= 1"),
    "environment": (lambda value: value, "anything"),
    "environment_variables": (
        _environment_variables,
        "None or a mapping of names (without '=') to strings",
    ),
    "description": (_description, "None or a string"),
    "logging_level": (_choice("warning", "info", "debug", upper=True), "WARNING, INFO or DEBUG"),
    "run_invocation_timeout": (_integer(1), "an integer number of seconds > 0"),
    "run_max_try": (_integer(1), "an integer >= 1"),
    "partition_keys": (
        _partition_keys,
        "None or a non-empty list of distinct non-empty strings (or its JSON text)",
    ),
    "progress_update_timeout": (
        _optional(_number(0, above=True)),
        "None or a number of seconds > 0",
    ),
    "append_row_format": (
        _choice("text", "csv", "jsonl", "parquet"),
        "'text', 'csv', 'jsonl' or 'parquet'",
    ),
    "append_row_dataframe_header": (_boolean, "True or False"),
    "mini_batch_format": (_choice("pandas", "arrow"), "'pandas' or 'arrow'"),
    "resource_monitor_interval": (_number(0), "a number of seconds >= 0 (0 disables)"),
}


def _message(name: str, value: Any, param: PipelineParameter | None, detail: str = "") -> str:
    rule = _RULES[name][1] if name in _RULES else "a valid value"
    where = f"{name} (pipeline parameter {param.name!r})" if param is not None else name
    return f"{where} must be {rule}; got {value!r}" + (f" ({detail})" if detail else "")


def check_value(name: str, value: Any, param: PipelineParameter | None = None) -> Any:
    """Check one ``ParallelRunConfig`` value (not ``entry_script``) and return it normalised.

    Args:
        name: The parameter.
        value: Its value (a pipeline parameter's default, or a submitted value).
        param: The pipeline parameter the value came from, named in the error.

    Raises:
        ConfigError: The value breaks the parameter's rule.
    """
    try:
        return _RULES[name][0](value)
    except _Bad as bad:
        raise ConfigError(
            parameter=name, message=_message(name, value, param, bad.detail)
        ) from None


def check_paths(
    values: Mapping[str, Any], params: Mapping[str, PipelineParameter], base: Path
) -> tuple[Path | None, str, Path]:
    """Check that ``source_directory`` is a folder and ``entry_script`` a file inside it.

    Args:
        values: The config's values; ``source_directory`` already passed its rule.
        params: Pipeline parameters by config parameter, named in errors.
        base: The folder relative paths start from (the cwd when the config was made).

    Returns:
        The absolute source folder (or None), the stripped script, its absolute path.

    Raises:
        ConfigError: No such folder; the script is not a non-empty path, does not exist,
            or is outside ``source_directory``.
    """
    source, value, param = values["source_directory"], values["entry_script"], None
    folder = Path(os.path.abspath(base / source)) if source is not None else None
    if folder is not None and not folder.is_dir():
        detail = f"no directory {folder}"
        message = _message("source_directory", source, params.get("source_directory"), detail)
        raise ConfigError(parameter="source_directory", message=message)
    param = params.get("entry_script")
    where = f"entry_script (pipeline parameter {param.name!r})" if param else "entry_script"
    if not isinstance(value, str | os.PathLike) or not os.fspath(value).strip():
        message = f"{where} must be the path of a Python file; got {value!r}"
        raise ConfigError(parameter="entry_script", message=message)
    script = os.fspath(value).strip()
    path = Path(os.path.abspath((folder or base) / script))
    inside = f"inside source_directory {str(folder)!r}" if folder else ""
    if folder is not None and not path.is_relative_to(folder):
        raise ConfigError(
            parameter="entry_script", message=f"{where} must be a file {inside}; got {script!r}"
        )
    if not path.is_file():
        what = f"an existing file {inside}" if folder else "an existing file"
        raise ConfigError(
            parameter="entry_script",
            message=f"{where} must be {what}; got {script!r} (no file {path})",
        )
    return folder, script, path
