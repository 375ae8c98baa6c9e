"""Tabular datasets: CSV, Parquet and JSON Lines files that ``run()`` receives as DataFrames.

Create one with Azure's factories, ``Dataset.Tabular.from_delimited_files(...)``,
``from_parquet_files(...)`` or ``from_json_lines_files(...)``, over files, folders, globs
or fsspec URLs. A run cuts it into mini-batches of about ``mini_batch_size`` bytes
(default 1 MB) without reading it, and each worker reads its own slice
(:mod:`shardrun.data.splits` plans, :mod:`shardrun.data.formats` reads).

Where shardrun does better than Azure:

* **Any file splits.** Azure never splits a Parquet file with one row group; shardrun
  splits Parquet by row groups and a too-large row group by rows. CSV and JSON Lines split
  by byte ranges on line boundaries, and the CSV header applies to every range.
* **No silent corruption.** Azure's ``support_multi_line=False`` cuts quoted line breaks
  into misaligned records silently; here such a range fails, naming the file and byte.
* **Consistent dtypes.** Column types are inferred once, when the dataset is created (from
  the first MiB of each of its first four files, where Azure reads 200 rows), and applied
  to every mini-batch; integer and boolean columns are pandas' nullable ``Int64`` /
  ``boolean`` in every mini-batch, with or without missing values.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from typing import Any, Literal, Self, cast

from shardrun.data.columns import stored_type, to_pandas
from shardrun.data.datapaths import normalise_paths, resolving, workspace_of
from shardrun.data.datasets import AbstractDataset, FileDataset
from shardrun.data.expressions import parse
from shardrun.data.formats import ENCODINGS, read_table
from shardrun.data.listing import tabular_files
from shardrun.data.pathkeys import compile_format, path_keys, root_of
from shardrun.data.repartition import target_url, write_partitioned
from shardrun.data.schemas import sample_types
from shardrun.data.windows import Window, plan_table
from shardrun.errors import ConfigError
from shardrun.workspace.workspace import using

FORMATS = ("csv", "jsonl", "parquet")
TableFormat = Literal["csv", "jsonl", "parquet"]
# Pieces read at a time by to_pandas_dataframe() and partition_by().
_READ_BYTES = 64 << 20

PathArg = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Any


class TabularDataset(AbstractDataset):
    """Records in CSV, Parquet or JSON Lines files: ``run(mini_batch)`` gets a DataFrame.

    Create one with :class:`~shardrun.data.tabular_factory.TabularFactory`
    (``Dataset.Tabular.from_…``), whose arguments
    the constructor's mirror (``column_types`` holds pyarrow type names). The dataset is a
    description: nothing is read when a run plans it, except Parquet footers.

    Attributes:
        paths: Files, folders (listed recursively; names starting with ``_`` or ``.``
            skipped) and globs, local or fsspec URLs.
        format: ``"csv"``, ``"jsonl"`` or ``"parquet"``.
        column_types: Column name -> pyarrow type name, applied to every mini-batch:
            inferred when the dataset was created, overridden by ``set_column_types``.
        partition_keys: Keys declared by :meth:`partition_by` (empty if none).
        partition_format: Azure's pattern of keys in paths, or None.
    """

    kind = "tabular"

    def __init__(
        self,
        paths: Sequence[str],
        format: str = "csv",
        *,
        separator: str = ",",
        header: bool = True,
        encoding: str = "utf8",
        support_multi_line: bool = False,
        empty_as_string: bool = False,
        infer_column_types: bool = True,
        column_types: Mapping[str, str] | None = None,
        include_path: bool = False,
        partition_format: str | None = None,
        partition_keys: Sequence[str] = (),
        name: str | None = None,
        kept_columns: Sequence[str] | None = None,
        dropped_columns: Sequence[str] = (),
        filters: Sequence[str] = (),
    ) -> None:
        if format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
        if not isinstance(separator, str) or len(separator) != 1 or separator in '"\r\n':
            raise ConfigError(
                f"separator must be one character other than a quote or a line break, such "
                f"as ',' or '\\t'; got {separator!r}"
            )
        if encoding not in ENCODINGS:
            raise ConfigError(f"encoding must be one of {', '.join(ENCODINGS)}; got {encoding!r}")
        if partition_format is not None:
            compile_format(partition_format)
        self.paths = tuple(paths)
        self.format: TableFormat = cast(TableFormat, format)
        self.separator = separator
        self.header = bool(header)
        self.encoding = encoding
        self.support_multi_line = bool(support_multi_line)
        self.empty_as_string = bool(empty_as_string)
        self.infer_column_types = bool(infer_column_types)
        self.column_types = {str(k): str(v) for k, v in (column_types or {}).items()}
        self.include_path = bool(include_path)
        self.partition_format = partition_format
        self._partition_keys = tuple(partition_keys)
        self.name = name
        self.kept_columns = None if kept_columns is None else [str(c) for c in kept_columns]
        self.dropped_columns = [str(c) for c in dropped_columns]
        for expression in filters:
            parse(expression)
        self.filters = [str(f) for f in filters]

    def __repr__(self) -> str:
        return f"TabularDataset(format={self.format!r}, paths={list(self.paths)!r})"

    @property
    def partition_keys(self) -> list[str]:
        """Keys declared by :meth:`partition_by`, else those of ``partition_format`` (a list)."""
        return list(self._partition_keys) or super().partition_keys

    # -- what a run needs ----------------------------------------------------------------

    def read_options(self) -> dict[str, Any]:
        """What a worker needs, beyond a mini-batch descriptor, to read this dataset."""
        options = self.to_spec()
        for key in ("kind", "name", "paths", "partition_keys"):
            del options[key]
        return {**options, "roots": [root_of(p) for p in self.paths]}

    def to_spec(self) -> dict[str, Any]:
        """A JSON-safe description that :meth:`from_spec` turns back into this dataset."""
        return {
            "kind": self.kind,
            "name": self.name,
            "paths": list(self.paths),
            "format": self.format,
            "separator": self.separator,
            "header": self.header,
            "encoding": self.encoding,
            "support_multi_line": self.support_multi_line,
            "empty_as_string": self.empty_as_string,
            "infer_column_types": self.infer_column_types,
            "column_types": dict(self.column_types),
            "include_path": self.include_path,
            "partition_format": self.partition_format,
            "partition_keys": list(self._partition_keys),
            "kept_columns": self.kept_columns,
            "dropped_columns": list(self.dropped_columns),
            "filters": list(self.filters),
            **self.window.to_spec(),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TabularDataset:
        """The dataset that :meth:`to_spec` described."""
        skipped = ("kind", "paths", "format", *Window.KEYS)
        options = {k: v for k, v in spec.items() if k not in skipped}
        dataset = cls(spec["paths"], spec.get("format", "csv"), **options)
        dataset.window = Window.from_spec(spec)
        return dataset

    def _copy(self, **changes: Any) -> TabularDataset:
        copy = TabularDataset.from_spec({**self.to_spec(), **changes})
        copy._workspace = self._workspace
        return copy

    def _with_window(self, window: Window) -> Self:
        if self.filters:
            raise ConfigError(
                f"take()/skip() after filter({self.filters[-1]!r}) is not supported: counting "
                "the rows a filter keeps would mean reading the data on the driver; call "
                "take/skip before filter"
            )
        return super()._with_window(window)

    def filter(self, expression: str) -> TabularDataset:
        """Azure's ``filter``: a dataset of only the records where ``expression`` is true.

        ``expression`` is text such as ``'col("Age") > 30 and col("species") == "setosa"'``
        (what is allowed: :mod:`shardrun.data.expressions`). Lazy, like take: it is kept in
        the dataset's spec and each worker applies it to its own mini-batch when it reads
        it, so the driver reads nothing. A filtered-out record is not an item: a
        mini-batch's item count (what ``run()`` receives, and what ``append_row`` output,
        ``error_threshold`` and progress count) is that of the records left, and may be 0.
        Mini-batches are still planned by bytes or row groups of the unfiltered data.
        Several filters must all hold. ``take``/``skip`` after a filter are refused; before
        one, they count unfiltered records. A missing column fails the mini-batch that
        reads it (a :class:`~shardrun.errors.DataError` naming the column).

        Raises:
            ConfigError: ``expression`` is not a simple expression, or names a column
                that ``keep_columns`` / ``drop_columns`` already removed.
        """
        names = parse(expression)
        gone = [
            c
            for c in names
            if c in self.dropped_columns
            or (self.kept_columns is not None and c not in self.kept_columns)
        ]
        if gone:
            raise ConfigError(
                f"filter expression {expression!r} names columns {gone} that keep_columns / "
                "drop_columns removed; filter before removing them"
            )
        return self._copy(filters=[*self.filters, expression])

    def keep_columns(self, columns: Sequence[str] | str) -> TabularDataset:
        """Azure's ``keep_columns``: a dataset with only ``columns`` (lazy, like take)."""
        names = [columns] if isinstance(columns, str) else list(columns)
        return self._copy(kept_columns=names, dropped_columns=[])

    def drop_columns(self, columns: Sequence[str] | str) -> TabularDataset:
        """Azure's ``drop_columns``: a dataset without ``columns`` (lazy, like take)."""
        names = [columns] if isinstance(columns, str) else list(columns)
        return self._copy(dropped_columns=[*self.dropped_columns, *names])

    # -- reading -------------------------------------------------------------------------

    def _tables(self) -> Iterator[Any]:
        """Every record, as ``pyarrow.Table`` pieces of about 64 MiB, in dataset order."""
        options = self.read_options()
        for batch in plan_table(self, _READ_BYTES, "input"):
            yield read_table(batch, options)

    def to_pandas_dataframe(self) -> Any:
        """Read every record into one pandas DataFrame (for data that fits in memory).

        Dtypes are those ``run()`` gets. Unlike Azure's, which turns unreadable values
        into nulls by default, a value that does not parse raises.

        Raises:
            DataError: A file cannot be read or parsed; the message names the file, the
                byte or row range and the reason.
        """
        import pyarrow as pa

        with self._resolving():
            tables = list(self._tables())
        if not tables:
            return to_pandas(pa.table({}))
        return to_pandas(pa.concat_tables(tables, promote_options="permissive"))

    # -- partitions ----------------------------------------------------------------------

    def partition_by(
        self,
        partition_keys: Sequence[str] | str,
        target: Any = None,
        name: str | None = None,
        show_progress: bool = True,
        partition_as_file_dataset: bool = False,
    ) -> AbstractDataset:
        """Declare, or write, the data partitioned by ``partition_keys``.

        ``ParallelRunConfig(partition_keys=[...])`` then makes one mini-batch per distinct
        combination of key values, without reading the data to find them: the values come
        from the paths.

        * ``target=None`` (shardrun's addition): the keys are already in the paths, as Hive
          folders (``store=1/brand=x/``) or through the dataset's ``partition_format``.
          The dataset is returned with the keys declared; a run then checks that
          ``partition_keys`` are among them.
        * ``target`` given (Azure's behaviour): the records are read piece by piece and
          written under a new sub-folder of ``target`` (a local folder, an fsspec URL, a
          DataPath or ``(datastore, path)``) as Parquet files in Hive folders, one per key
          combination. The returned dataset reads that copy; key columns keep their
          types. With ``name`` and a datastore target, it is registered under ``name``
          (a new version each call), as Azure does.

        Args:
            partition_keys: Column names (a list, or one name).
            target: Where to write the partitioned copy, or None.
            name: The returned dataset's name.
            show_progress: Accepted for compatibility; nothing is shown.
            partition_as_file_dataset: Return a FileDataset of the written files instead
                (needs ``target``).

        Raises:
            ConfigError: No key given; with ``target=None``, a key is not in the first
                file's path; with a target, a key is not a column, or the target holds data.
        """
        del show_progress
        keys = [partition_keys] if isinstance(partition_keys, str) else list(partition_keys)
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise ConfigError(f"partition_keys must be a non-empty list of names; got {keys!r}")
        if target is None:
            if partition_as_file_dataset:
                raise ConfigError("partition_as_file_dataset=True needs a target to write to")
            self._check_path_keys(keys)
            return self._copy(partition_keys=keys, name=name or self.name)
        # As Azure: a fresh sub-folder per call, so that the same target can be used again.
        url = f"{target_url(target).rstrip('/')}/{uuid.uuid4().hex}"
        workspace = self._workspace or workspace_of(target)
        with using(workspace) if workspace is not None else nullcontext():
            types = write_partitioned(self._tables(), url, keys, repr(self))
            if partition_as_file_dataset:
                dataset: AbstractDataset = FileDataset([url])
            else:
                dataset = build(url, "parquet", True, types, False, partition_keys=keys)
        dataset._workspace = workspace
        dataset.name = name
        if name is not None and workspace is not None:
            dataset = dataset.register(workspace, name, create_new_version=True)
        return dataset

    def _check_path_keys(self, keys: list[str]) -> None:
        first = next(tabular_files(self.paths), None)
        if first is None:
            raise ConfigError(f"{self!r} matched no data files; nothing to partition")
        fmt = compile_format(self.partition_format) if self.partition_format else None
        found = path_keys(first[0], [root_of(p) for p in self.paths], fmt)
        missing = [k for k in keys if k not in found]
        if missing:
            raise ConfigError(
                f"partition keys {missing} are not in the path {first[0]} (keys there: "
                f"{sorted(found) or 'none'}); keys must be Hive folders (key=value/) or named "
                "by partition_format. To partition by columns inside the files, pass target= "
                "to write a partitioned copy"
            )


# -- factories ----------------------------------------------------------------------------


def build(
    path: PathArg,
    format: str,
    validate: bool,
    set_column_types: Mapping[str, Any] | None,
    infer: bool,
    **options: Any,
) -> TabularDataset:
    """A tabular dataset of ``path``, checked and typed as Azure's factories do.

    Args:
        path: What the factories take (normalised by
            :func:`~shardrun.data.datapaths.normalise_paths`).
        format: ``"csv"``, ``"jsonl"`` or ``"parquet"``.
        validate: Read a sample now; a failure raises.
        set_column_types: Column name -> type, winning over inference.
        infer: Infer column types from the sample (a failure is then ignored unless
            ``validate``).
        **options: The other :class:`TabularDataset` options.

    Raises:
        ConfigError: An option is invalid, or (``validate``) the sample cannot be read.
    """
    paths = normalise_paths(path)
    given = {str(name): stored_type(t) for name, t in (set_column_types or {}).items()}
    dataset = TabularDataset(paths, format, column_types=given, **options)
    dataset._workspace = workspace_of(path)
    if not (validate or infer):
        return dataset
    try:
        with resolving(path):
            inferred = sample_types(paths, dataset.read_options())
    except ConfigError:
        if validate:
            raise
        return dataset
    if infer:
        dataset.column_types = {**inferred, **given}
    return dataset
