"""Columns of a tabular mini-batch: their types, the columns paths add, pandas dtypes.

* ``set_column_types`` and inferred types are stored as pyarrow type names (JSON-safe, so
  that a run record rebuilds the dataset); :func:`arrow_type` reads them back.
* Keys in a file's path (Hive folders, ``partition_format``) become columns, as does the
  file's path with ``include_path=True`` (Azure's ``Path`` column).
* :func:`to_pandas` gives every mini-batch the same dtypes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from shardrun.data.pathkeys import PathFormat, compile_format, path_keys
from shardrun.errors import ConfigError, DataError

#: The column ``include_path=True`` adds (Azure's name).
PATH_COLUMN = "Path"
#: The folder name Hive writers give a missing key value (read as null).
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"

Options = Mapping[str, Any]

_ALIASES = {
    "int": "int64",
    "long": "int64",
    "integer": "int64",
    "float": "float64",
    "double": "float64",
    "str": "string",
    "bool": "bool",
    "boolean": "bool",
    "datetime": "timestamp[us]",
    "timestamp": "timestamp[us]",
    "date": "date32",
}


def arrow_type(value: Any) -> Any:
    """A ``pyarrow.DataType`` from a type or its name (``"int64"``, ``"float"``, ``"str"``).

    Raises:
        ConfigError: The name is not a type pyarrow knows.
    """
    import pyarrow as pa

    if isinstance(value, pa.DataType):
        return value
    name = str(value).strip()
    try:
        return pa.type_for_alias(_ALIASES.get(name.lower(), name))
    except (ValueError, KeyError):
        raise ConfigError(
            f"column type {value!r} is not a type pyarrow knows; use a pyarrow.DataType or a "
            "name such as 'int64', 'float64', 'string', 'bool', 'timestamp[ms]' or 'date32'"
        ) from None


def type_name(value: Any) -> str | None:
    """The name under which ``value`` (a pyarrow type) is stored in a spec, or None."""
    name = str(value)
    try:
        arrow_type(name)
    except ConfigError:
        return None
    return name


def stored_type(value: Any) -> str:
    """The name under which a ``set_column_types`` value is stored in a dataset's spec.

    Raises:
        ConfigError: ``value`` is not a type, or one that has no name pyarrow reads back.
    """
    name = type_name(arrow_type(value))
    if name is None:
        raise ConfigError(
            f"column type {value!r} cannot be stored in a dataset; use a simpler type such as "
            "'string' and convert in the entry script"
        )
    return name


@lru_cache(maxsize=64)
def _compiled(text: str) -> PathFormat:
    return compile_format(text)


def column_types(options: Options) -> dict[str, Any]:
    """The dataset's column types (set and inferred) as pyarrow types."""
    return {name: arrow_type(t) for name, t in (options.get("column_types") or {}).items()}


def with_path_columns(table: Any, path: str, options: Options) -> Any:
    """Add the path's keys (Hive folders, ``partition_format``) and, if asked, its path.

    Arrow strings are UTF-8: bytes of a file name that are not show as ``\\xNN`` there.
    """
    import pyarrow as pa

    text = options.get("partition_format")
    fmt = _compiled(text) if text else None
    rows = table.num_rows
    for key, value in path_keys(path, options.get("roots") or (), fmt).items():
        if key in table.column_names:
            continue
        if value == HIVE_NULL:
            column = pa.nulls(rows, pa.string())
        elif fmt is not None and key in fmt.dates:
            column = pa.repeat(pa.scalar(datetime.fromisoformat(value), pa.timestamp("s")), rows)
        else:
            column = pa.repeat(pa.scalar(_text(value), pa.string()), rows)
        table = table.append_column(key, column)
    if options.get("include_path") and PATH_COLUMN not in table.column_names:
        column = pa.repeat(pa.scalar(_text(path), pa.string()), rows)
        table = table.append_column(PATH_COLUMN, column)
    return table


def _text(name: str) -> str:
    """``name`` as valid UTF-8 text: undecodable bytes (lone surrogates) as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def convert(table: Any, options: Options, where: str) -> Any:
    """Cast the columns whose type the dataset fixes (``where`` names the data in errors)."""
    for name, wanted in column_types(options).items():
        if name not in table.column_names:
            continue
        position = table.column_names.index(name)
        if table.schema.field(position).type == wanted:
            continue
        try:
            table = table.set_column(position, name, table.column(position).cast(wanted))
        except (ValueError, TypeError, NotImplementedError) as e:
            raise DataError(
                f"cannot read {where}: column {name!r} does not convert to {wanted}: {e}; "
                "fix the data or the dataset's set_column_types"
            ) from e
    return table


def to_pandas(table: Any) -> Any:
    """A pandas DataFrame with the same dtypes in every mini-batch.

    pyarrow's default turns an integer column into ``float64`` (and a boolean one into
    ``object``) only in the mini-batches that happen to hold a missing value; here they are
    pandas' nullable ``Int64`` and ``boolean`` throughout. Strings are pandas' ``str``,
    timestamps ``datetime64``, floats ``float64``. Dates (a CSV column such as
    ``WeekStarting`` of ``1990-06-14``) are ``datetime64`` too, as Azure infers them, not
    Python ``date`` objects.
    """
    import pandas as pd
    import pyarrow as pa

    nullable = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return table.to_pandas(types_mapper=nullable.get, date_as_object=False)
