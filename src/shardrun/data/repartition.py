"""Write a Hive-partitioned Parquet copy of a tabular dataset (``partition_by(target=…)``).

Azure's ``TabularDataset.partition_by`` copies the data into one folder per key
combination; this does the same, piece by piece (never a whole dataset in memory), with
``pyarrow.dataset.write_dataset``: ``<target>/store=1/brand=x/part-0.parquet``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

from shardrun.data.columns import type_name
from shardrun.data.datapaths import normalise_paths
from shardrun.errors import ConfigError, DataError
from shardrun.workspace.datastores import filesystem, is_url, to_url


def write_partitioned(
    tables: Iterator[Any], url: str, keys: Sequence[str], what: str
) -> dict[str, str]:
    """Write ``tables`` (pyarrow Tables, in order) under ``url``, partitioned by ``keys``.

    Returns:
        The key columns' type names, for the copy's ``set_column_types`` (keys come back
        from folder names as strings).

    Raises:
        ConfigError: Nothing to write, a key is not a column, or ``url`` holds data.
        DataError: A piece's columns do not fit the first piece's.
    """
    import pyarrow.dataset as pds

    first = next(tables, None)
    if first is None:
        raise ConfigError(f"{what} holds no records; nothing to partition")
    missing = [k for k in keys if k not in first.column_names]
    if missing:
        raise ConfigError(
            f"partition keys {missing} are not columns of {what}; its columns are "
            f"{first.column_names}"
        )
    schema = first.schema
    fs, base = filesystem(url) if is_url(url) else (None, url)
    if _holds_data(fs, base):
        raise ConfigError(f"cannot write the partitioned copy to {url}: it already holds data")
    # One write per piece, from this thread: the pieces come from generators (SQLite
    # cursors) that must not be resumed on pyarrow's writer threads.
    for number, table in enumerate(chain([first], tables)):
        try:
            piece = table.select(schema.names).cast(schema)
        except (KeyError, ValueError, TypeError) as e:
            raise DataError(
                f"cannot partition {what}: a piece's columns {table.column_names} do not fit "
                f"those of the first ({schema.names}): {e}"
            ) from e
        try:
            pds.write_dataset(
                piece,
                base,
                format="parquet",
                partitioning=list(keys),
                partitioning_flavor="hive",
                filesystem=fs,
                existing_data_behavior="overwrite_or_ignore",
                basename_template=f"part-{number:05d}-{{i}}.parquet",
            )
        except OSError as e:
            raise ConfigError(f"cannot write the partitioned copy to {url}: {e}") from e
    return {k: n for k in keys if (n := type_name(schema.field(k).type)) is not None}


def _holds_data(fs: Any, path: str) -> bool:
    if fs is None:
        return os.path.isdir(path) and bool(os.listdir(path))
    return bool(fs.exists(path) and fs.ls(path))


def target_url(target: Any) -> str:
    """The URL (or absolute path) of a target: a path, a DataPath or ``(datastore, path)``."""
    (url,) = normalise_paths(to_url(target))
    return url
