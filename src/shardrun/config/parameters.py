"""Pipeline parameters: values chosen when a pipeline is submitted, not when it is built.

A :class:`PipelineParameter` stands in for any value of a :class:`~shardrun.ParallelRunConfig`
or of a step's ``arguments``. Its ``default_value`` is used unless the submission gives
another value under the parameter's ``name``::

    batch = PipelineParameter(name="batch_size", default_value="10")
    config = ParallelRunConfig(entry_script="score.py", mini_batch_size=batch, ...)
    config.resolve({"batch_size": "20"}).mini_batch_size  # '20'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shardrun.errors import ConfigError

__all__ = ["PipelineParameter", "resolve"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class PipelineParameter:
    """A named value that a pipeline submission may override (Azure ML's class).

    Args:
        name: The parameter's name: a letter or ``_``, then letters, digits, ``_`` or ``-``.
        default_value: The value used when the submission does not name this parameter.

    Raises:
        ConfigError: The name is empty or has other characters.

    Example:
        >>> PipelineParameter(name="batch_size", default_value="10")
        PipelineParameter(name='batch_size', default_value='10')
    """

    __slots__ = ("default_value", "name")

    def __init__(self, name: str, default_value: Any) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                "PipelineParameter name must start with a letter or '_' and hold only "
                f"letters, digits, '_' or '-'; got {name!r}"
            )
        self.name = name
        self.default_value = default_value

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PipelineParameter):
            return NotImplemented
        return (self.name, self.default_value) == (other.name, other.default_value)

    def __hash__(self) -> int:
        return hash(self.name)


def resolve(value: Any, params: Mapping[str, Any]) -> Any:
    """Replace a pipeline parameter by its submitted value, or else its default.

    Args:
        value: Any value; only a :class:`PipelineParameter` is replaced.
        params: Values given at submission, by parameter name.

    Returns:
        ``params.get(value.name, value.default_value)`` for a parameter, else ``value``.
    """
    if isinstance(value, PipelineParameter):
        return params.get(value.name, value.default_value)
    return value
