"""``Dataset.Tabular``: Azure's factories of tabular datasets, with Azure's signatures.

Each checks its options, reads a sample of the first files (to validate them and infer
column types, see :mod:`shardrun.data.schemas`) and returns a
:class:`~shardrun.data.tables.TabularDataset`; ``from_mltable`` builds what an ``MLTable``
file describes (:mod:`shardrun.data.mltable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from shardrun.data.datasets import FileDataset
from shardrun.data.formats import header_flag
from shardrun.data.mltable import describe
from shardrun.data.tables import PathArg, TabularDataset, build


class TabularFactory:
    """``Dataset.Tabular``: factories of :class:`TabularDataset`, with Azure's signatures."""

    @staticmethod
    def from_delimited_files(
        path: PathArg,
        validate: bool = True,
        include_path: bool = False,
        infer_column_types: bool = True,
        set_column_types: Mapping[str, Any] | None = None,
        separator: str = ",",
        header: Any = True,
        partition_format: str | None = None,
        support_multi_line: bool = False,
        empty_as_string: bool = False,
        encoding: str = "utf8",
    ) -> TabularDataset:
        """CSV (or any delimiter) files, split into byte ranges on line boundaries.

        Args:
            path: Files, folders, globs, URLs, DataPaths or ``(datastore, path)`` tuples
                (one or a list).
            validate: Check now that the first file can be read and parsed. As in Azure,
                skipping that also needs ``infer_column_types=False``.
            include_path: Add a ``Path`` column with each record's file.
            infer_column_types: Infer column types from the first MiB of the first file
                (Azure: the first 200 rows) and apply them to every mini-batch; a value
                that does not fit fails its mini-batch, naming it (fix with
                ``set_column_types``). False: every column is a string.
            set_column_types: Column name -> type (a ``pyarrow.DataType`` or a name:
                ``"int64"``, ``"float"``, ``"string"``, ``"bool"``, ``"timestamp[ms]"``,
                ``"date32"``); wins over inference; applies to key columns too.
            separator: One character; ``"\\t"`` for TSV.
            header: True (every file starts with the same header; Azure's
                ``ALL_FILES_HAVE_SAME_HEADERS``), False (none: columns are ``Column1``,
                ``Column2``, …), or ``COMBINE_ALL_FILES_HEADERS`` (each file's own header).
            partition_format: Keys in paths, e.g. ``"{store}/{date:yyyy/MM/dd}/*.csv"``;
                they become string (date: timestamp) columns. Hive ``key=value/`` folders
                are always understood.
            support_multi_line: Quoted fields may hold line breaks. A run then reads each
                file larger than the mini-batch size once, sequentially, to find record
                starts, and cuts it there (:mod:`shardrun.data.quoted`; a file with a quote
                inside an unquoted field, such as ``5"``, is not cut from that quote on).
                With False (Azure's default), a quoted line break in a file that is split
                fails its mini-batch with an error naming the byte, instead of Azure's
                silently misaligned records; a file that fits one mini-batch is parsed
                correctly. ``take()``/``skip()`` are not available with True.
            empty_as_string: Keep empty fields as ``""`` in string columns. False (the
                default): empty fields, and pyarrow's null markers such as ``NA``, are
                missing values in every column.
            encoding: ``utf8``, ``utf8bom``, ``iso88591``, ``latin1``, ``ascii``,
                ``windows1252``, ``utf16`` or ``utf32`` (files in the last two are not split).

        Raises:
            ConfigError: An option is invalid, or (``validate``) no file matches or the
                first cannot be parsed.
        """
        return build(
            path,
            "csv",
            validate,
            set_column_types,
            infer_column_types,
            infer_column_types=infer_column_types,
            separator=separator,
            header=header_flag(header),
            include_path=include_path,
            partition_format=partition_format,
            support_multi_line=support_multi_line,
            empty_as_string=empty_as_string,
            encoding=encoding,
        )

    @staticmethod
    def from_parquet_files(
        path: PathArg,
        validate: bool = True,
        include_path: bool = False,
        set_column_types: Mapping[str, Any] | None = None,
        partition_format: str | None = None,
    ) -> TabularDataset:
        """Parquet files, split by row groups (and a too-large row group by rows).

        Azure never splits a file with one row group; shardrun does.

        Args:
            path: Files, folders, globs, URLs, DataPaths or ``(datastore, path)`` tuples
                (one or a list).
            validate: Check now that the first file's footer can be read.
            include_path: Add a ``Path`` column with each record's file.
            set_column_types: Column name -> type to convert to (see
                :meth:`from_delimited_files`).
            partition_format: Keys in paths (see :meth:`from_delimited_files`).

        Raises:
            ConfigError: An option is invalid, or (``validate``) no file matches or the
                first is not Parquet.
        """
        return build(
            path,
            "parquet",
            validate,
            set_column_types,
            False,
            include_path=include_path,
            partition_format=partition_format,
        )

    @staticmethod
    def from_json_lines_files(
        path: PathArg,
        validate: bool = True,
        include_path: bool = False,
        set_column_types: Mapping[str, Any] | None = None,
        partition_format: str | None = None,
        encoding: str = "utf8",
    ) -> TabularDataset:
        """JSON Lines files (one object per line), split into byte ranges on line breaks.

        Args:
            path: Files, folders, globs, URLs, DataPaths or ``(datastore, path)`` tuples
                (one or a list).
            validate: Read the first MiB of the first file now; its column types then
                apply to every mini-batch. Without it, each mini-batch infers its own.
            include_path: Add a ``Path`` column with each record's file.
            set_column_types: Column name -> type (see :meth:`from_delimited_files`).
            partition_format: Keys in paths (see :meth:`from_delimited_files`).
            encoding: As for :meth:`from_delimited_files`.

        Raises:
            ConfigError: An option is invalid, or (``validate``) no file matches or the
                first cannot be parsed.
        """
        return build(
            path,
            "jsonl",
            validate,
            set_column_types,
            validate,
            include_path=include_path,
            partition_format=partition_format,
            encoding=encoding,
        )

    @staticmethod
    def from_mltable(path: PathArg) -> TabularDataset | FileDataset:
        """A v2 ``mltable`` input: a folder with an ``MLTable`` file, or data files.

        An ``MLTable`` file without a read step (``paths`` only, as Azure's
        ``dump_mltable.py`` writes) is a file input. See :mod:`shardrun.data.mltable` for
        what is understood.

        Raises:
            ConfigError: The MLTable file is invalid or uses what shardrun does not
                support, or the format cannot be told from the file names.
        """
        recipe = describe(path)
        if recipe.reader == "files":
            return FileDataset(recipe.paths)
        make = getattr(TabularFactory, f"from_{recipe.reader}")
        table = cast(TabularDataset, make(recipe.paths, **recipe.options))
        for name, value in recipe.steps:  # take, skip, keep_columns, drop_columns, filter
            table = getattr(table, name)(value)
        return table
