"""The rules a parallel step's own settings follow: its name, ``arguments`` and ``output``,
and the id of a run.

These are Azure ML's ``ParallelRunStep`` checks. Import them from
:mod:`shardrun.config.parallel_run` (:func:`validate_run_id` from here).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

from shardrun.config.parameters import PipelineParameter
from shardrun.config.rules import check_value
from shardrun.errors import ConfigError

#: ParallelRunConfig parameters that a step's ``arguments`` must not set (Azure's list).
RESERVED_ARGUMENTS = (
    "mini_batch_size",
    "error_threshold",
    "allowed_failed_count",
    "allowed_failed_percent",
    "output",
    "output_action",
    "logging_level",
    "process_count_per_node",
    "run_invocation_timeout",
    "run_max_try",
    "append_row_file_name",
)

#: Runtime options Azure reads from a step's ``arguments`` (``--name value``).
RUNTIME_OPTIONS = (
    "progress_update_timeout",
    "task_overhead_timeout",
    "first_task_creation_timeout",
    "resource_monitor_interval",
    "append_row_dataframe_header",
    "copy_logs_to_parent",
    "metrics_name_prefix",
    "push_metrics_to_parent",
    "profiling_module",
    "nice",
)

_STEP_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# Azure's run ids: letters, digits, '_', '-' and '.', at most 255; a run id is also a folder
# name under <workspace>/runs, so it must not start with '.' nor hold '..' or a separator.
_RUN_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254}")
_RUN_ID_RULE = "1 to 255 letters, digits, '_', '-' or '.', not starting with '.' and without '..'"


def validate_run_id(run_id: str) -> str:
    """Check a run id: it names the run's folder, which must stay inside ``<workspace>/runs``.

    Returns:
        The run id, unchanged.

    Raises:
        ConfigError: The id is empty, too long, or holds a path separator, ``..`` or
            another character Azure does not allow.
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise ConfigError(
            parameter="run_id", message=f"run id must be {_RUN_ID_RULE}; got {run_id!r}"
        )
    return run_id


def validate_step_name(name: str) -> str:
    """Check a step name: 3 to 32 characters, ``^[a-z]([-a-z0-9]*[a-z0-9])?$``.

    Returns:
        The name, unchanged.

    Raises:
        ConfigError: The name is too short, too long or has other characters.
    """
    if not isinstance(name, str) or not 3 <= len(name) <= 32 or not _STEP_NAME.fullmatch(name):
        raise ConfigError(
            parameter="name",
            message="name must be 3 to 32 characters: lower-case letters, digits and '-', starting "
            f"with a letter and not ending with '-'; got {name!r}",
        )
    return name


def validate_arguments(arguments: Sequence[Any] | None) -> list[str | PipelineParameter]:
    """Check a step's ``arguments`` the way Azure does.

    Strings and numbers become strings; pipeline parameters are kept. The first argument
    must be an option (start with ``-``), and none may set a ParallelRunConfig parameter
    (``--run_max_try 5`` or ``--run_max_try=5``): those belong to the config.

    Returns:
        A new list; ``None`` gives ``[]``.

    Raises:
        ConfigError: Not a list, an item of another type, a leading positional argument,
            or a reserved name.
    """
    if arguments is None:
        return []
    if not isinstance(arguments, list | tuple):
        raise ConfigError(
            parameter="arguments",
            message="arguments must be a list such as ['--model_name', 'mnist']; "
            f"got {arguments!r}",
        )
    checked: list[str | PipelineParameter] = []
    for index, item in enumerate(arguments):
        if not isinstance(item, str | numbers.Real | PipelineParameter):
            raise ConfigError(
                parameter="arguments",
                message=f"arguments[{index}] must be a string, a number or a PipelineParameter; "
                f"got {item!r}",
            )
        checked.append(item if isinstance(item, str | PipelineParameter) else str(item))
    if checked and not _text(checked[0]).startswith("-"):
        raise ConfigError(
            parameter="arguments",
            message="arguments must start with an option such as '--model_name' (keyword arguments "
            f"only); got {_text(checked[0])!r} first",
        )
    for item in checked:
        name = _option_name(_text(item))
        if name in RESERVED_ARGUMENTS:
            raise ConfigError(
                parameter="arguments",
                message=f"arguments must not set --{name}: it is a ParallelRunConfig parameter; "
                f"pass ParallelRunConfig({name}=...) instead; got {_text(item)!r}",
            )
    return checked


def runtime_options(arguments: Sequence[Any] | None) -> dict[str, str]:
    """The Azure runtime options in ``arguments`` (``--name value`` or ``--name=value``).

    An option without a value (the last argument, or one followed by another option) is
    a flag and gets ``"true"``. ``arguments`` is not changed.

    Returns:
        Option name (without ``--``) to value text, for the names in
        :data:`RUNTIME_OPTIONS` only.
    """
    items = [_text(item) for item in arguments or ()]
    found: dict[str, str] = {}
    for index, item in enumerate(items):
        name = _option_name(item)
        if name not in RUNTIME_OPTIONS:
            continue
        if "=" in item:
            found[name] = item.split("=", 1)[1]
        elif index + 1 < len(items) and not items[index + 1].startswith("--"):
            found[name] = items[index + 1]
        else:
            found[name] = "true"
    return found


def runtime_settings(arguments: Sequence[Any] | None) -> dict[str, Any]:
    """The ParallelRunConfig values given as runtime options in ``arguments``.

    ``--progress_update_timeout`` and ``--resource_monitor_interval`` become numbers,
    ``--append_row_dataframe_header`` a bool (``true``/``false``, ``1``/``0``, ``yes``/``no``
    or no value at all).

    Raises:
        ConfigError: A value is not a number, or not a boolean.
    """
    found = runtime_options(arguments)
    settings: dict[str, Any] = {}
    for name in ("progress_update_timeout", "resource_monitor_interval"):
        if name in found:
            settings[name] = _number_text(name, found[name])
    if "append_row_dataframe_header" in found:
        settings["append_row_dataframe_header"] = _bool_text(found["append_row_dataframe_header"])
    return settings


def validate_output(output_action: str | PipelineParameter, output: Any) -> None:
    """Check that an ``append_row`` step has an ``output`` to append to.

    Raises:
        ConfigError: ``output_action`` is invalid, or it is ``append_row`` and ``output``
            is None.
    """
    param = output_action if isinstance(output_action, PipelineParameter) else None
    action = check_value("output_action", param.default_value if param else output_action, param)
    if action == "append_row" and output is None:
        raise ConfigError(
            parameter="output",
            message="output is required when output_action is 'append_row'; pass output= (a "
            "PipelineData or a folder), or use output_action='summary_only'",
        )


def _text(item: Any) -> str:
    return str(item.default_value) if isinstance(item, PipelineParameter) else str(item)


def _option_name(item: str) -> str:
    return item[2:].split("=", 1)[0] if item.startswith("--") else ""


def _number_text(name: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(
            parameter=name,
            message=f"--{name} in arguments must be a number of seconds; got {text!r}",
        )
    return number


def _bool_text(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"", "1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(
        parameter="append_row_dataframe_header",
        message=f"--append_row_dataframe_header in arguments must be true or false; got {text!r}",
    )
