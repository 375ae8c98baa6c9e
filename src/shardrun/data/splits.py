"""Plan tabular inputs and key-partitioned inputs into mini-batches, reading no data.

Called by :func:`shardrun.engine.partition.plan_input`, and by the datasets themselves when
they read their records. Three ways to cut:

=================  ===========================================================================
by size            CSV / JSON Lines: byte ranges of ``mini_batch_size`` bytes, from the file
                   sizes alone (the worker aligns them to line boundaries). CSV with
                   ``support_multi_line=True``: ranges cut at record starts that one
                   sequential read of each larger file finds (:mod:`shardrun.data.quoted`).
                   Parquet: runs of row groups up to the size, from the footers; a row group
                   larger than the size becomes row ranges. A mini-batch never spans two
                   files.
whole files        Files in an encoding where a line feed is not one byte (utf16, utf32), or
                   multi-line CSV that cannot be scanned safely (a delimiter of more than
                   one byte; a header line with a quoted line break; from a stray quote on,
                   see :mod:`shardrun.data.quoted`): one mini-batch per file (or its rest).
by partition key   ``partition_keys``: one mini-batch per distinct combination of key values,
                   with every file that has it; values come from the paths (Hive
                   ``key=value/`` folders or the dataset's ``partition_format``).
=================  ===========================================================================

Mini-batches come out in path order (key groups: in the order of their first file).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby, islice
from typing import Protocol

from shardrun.data.formats import ENCODINGS, SPLITTABLE, open_binary, read_errors
from shardrun.data.listing import (
    iter_files,
    path_bytes,
    path_text,
    scratch_db,
    sorted_unique,
    tabular_files,
)
from shardrun.data.minibatch import BatchKind, MiniBatch
from shardrun.data.pathkeys import compile_format, path_keys, root_of
from shardrun.errors import ConfigError


class TableSource(Protocol):
    """What planning needs of a tabular dataset (:class:`~shardrun.data.tables.TabularDataset`)."""

    @property
    def paths(self) -> tuple[str, ...]:
        """Files, folders and globs."""

    @property
    def format(self) -> BatchKind:
        """``"csv"``, ``"jsonl"`` or ``"parquet"``."""

    @property
    def encoding(self) -> str:
        """An Azure encoding name (a key of :data:`shardrun.data.formats.ENCODINGS`)."""

    @property
    def support_multi_line(self) -> bool:
        """Quoted CSV fields may hold line breaks (ranges are then cut at record starts)."""

    @property
    def header(self) -> bool:
        """CSV files start with a header line."""

    @property
    def separator(self) -> str:
        """The CSV field delimiter (one character)."""


class KeySource(Protocol):
    """What :func:`plan_keys` needs of a dataset: its kind and paths.

    ``partition_format``, ``partition_keys`` (declared keys) and ``format`` (tabular) are
    read when the dataset has them.
    """

    @property
    def kind(self) -> str:
        """``"file"`` or ``"tabular"``."""

    @property
    def paths(self) -> tuple[str, ...]:
        """Files, folders and globs."""


# (row groups, first row, end row or -1, rows, bytes) of one Parquet mini-batch.
Piece = tuple[tuple[int, ...], int, int, int, int]

_FOOTER_THREADS = 16


def plan_tabular(
    dataset: TableSource, size: int, input_name: str, first_index: int = 0
) -> Iterator[MiniBatch]:
    """The mini-batches of a tabular dataset, about ``size`` bytes each."""
    files = sorted_unique(tabular_files(dataset.paths))
    index = first_index
    if dataset.format == "parquet":
        for path, pieces in _parquet_footers(files, size):
            for groups, start, stop, rows, nbytes in pieces:
                yield MiniBatch(
                    index, input_name, (path,), rows, nbytes, "parquet", start, stop, groups
                )
                index += 1
        return
    split = dataset.encoding in SPLITTABLE
    delimiter = _delimiter_byte(dataset) if dataset.format == "csv" else None
    quoted = dataset.format == "csv" and dataset.support_multi_line
    for path, nbytes in files:
        if quoted and nbytes > size:
            ranges = (
                record_ranges(path, nbytes, size, delimiter, dataset.header)
                if split and delimiter is not None
                else byte_ranges(nbytes, size, split=False)
            )
        else:
            ranges = byte_ranges(nbytes, size, split)
        for start, stop, covered in ranges:
            yield MiniBatch(index, input_name, (path,), -1, covered, dataset.format, start, stop)
            index += 1


def record_ranges(
    path: str, nbytes: int, size: int, delimiter: int, header: bool
) -> Iterator[tuple[int, int, int]]:
    """``(start, stop, bytes)`` ranges of a CSV whose quoted fields may hold line breaks,
    cut at record starts about ``size`` bytes apart (the last ``stop`` is -1).

    The file is read once, sequentially, as the ranges are yielded
    (:func:`shardrun.data.quoted.record_starts`). A file that cannot be opened is one range:
    its worker reports why.
    """
    from shardrun.data.quoted import record_starts  # numpy: only when a file is scanned

    start = 0
    try:
        with open_binary(path) as handle:
            for cut in record_starts(handle, nbytes, size, delimiter, header=header):
                yield start, cut, cut - start
                start = cut
    except (OSError, EOFError):
        pass
    yield start, -1, max(nbytes - start, 0)


def _delimiter_byte(dataset: TableSource) -> int | None:
    """The delimiter's one byte in the files' encoding, or None when it is not one byte."""
    codec = ENCODINGS.get(dataset.encoding, "utf-8").removesuffix("-sig")
    try:
        encoded = dataset.separator.encode(codec)
    except UnicodeError:
        return None
    return encoded[0] if len(encoded) == 1 else None


def byte_ranges(nbytes: int, size: int, split: bool = True) -> Iterator[tuple[int, int, int]]:
    """``(start, stop, bytes)`` ranges of about ``size`` bytes that tile a file.

    The last range's ``stop`` is -1 (the end of the file), so that a file that is only
    one range is read whole.
    """
    if not split or nbytes <= size:
        yield 0, -1, nbytes
        return
    count = math.ceil(nbytes / size)
    for number in range(count):
        start = number * size
        last = number == count - 1
        yield start, -1 if last else start + size, (nbytes - start) if last else size


def parquet_pieces(path: str, nbytes: int, size: int) -> list[Piece]:
    """Runs of row groups up to ``size`` bytes; a larger row group becomes row ranges.

    Only the footer is read. A file whose footer cannot be read is one mini-batch: its
    worker reports why, and the run goes on.
    """
    import pyarrow.parquet as pq

    try:
        with open_binary(path) as handle:
            meta = pq.ParquetFile(handle).metadata
            groups = [
                (
                    meta.row_group(g).num_rows,
                    sum(
                        meta.row_group(g).column(c).total_compressed_size
                        for c in range(meta.num_columns)
                    ),
                )
                for g in range(meta.num_row_groups)
            ]
    except read_errors():
        return [((), 0, -1, -1, nbytes)]
    if not groups:
        return [((), 0, -1, 0, nbytes)]
    pieces: list[Piece] = []
    run: list[int] = []
    rows = used = 0
    for group, (group_rows, group_bytes) in enumerate(groups):
        if run and (used + group_bytes > size or (group_bytes > size and group_rows > 0)):
            pieces.append((tuple(run), 0, -1, rows, used))
            run, rows, used = [], 0, 0
        if group_bytes > size and group_rows > 1:
            step = math.ceil(group_rows / math.ceil(group_bytes / size))
            for low in range(0, group_rows, step):
                high = min(low + step, group_rows)
                share = group_bytes * (high - low) // group_rows
                pieces.append(((group,), low, high, high - low, share))
            continue
        run.append(group)
        rows += group_rows
        used += group_bytes
    if run:
        pieces.append((tuple(run), 0, -1, rows, used))
    return pieces


def _parquet_footers(
    files: Iterable[tuple[str, int]], size: int
) -> Iterator[tuple[str, list[Piece]]]:
    # Footers of remote files cost a round trip each: read a few at a time, in order.
    listing = iter(files)
    with ThreadPoolExecutor(_FOOTER_THREADS) as pool:
        while chunk := list(islice(listing, 4 * _FOOTER_THREADS)):
            pieces = pool.map(lambda item: parquet_pieces(item[0], item[1], size), chunk)
            yield from zip((path for path, _ in chunk), pieces, strict=True)


# -- partition keys ------------------------------------------------------------------------


def plan_keys(
    dataset: KeySource, keys: Sequence[str], input_name: str, first_index: int = 0
) -> Iterator[MiniBatch]:
    """One mini-batch per distinct combination of ``keys``, with every file that has it.

    Raises:
        ConfigError: A file has no value for one of ``keys`` in its path, or the dataset
            declared partition keys that do not include them.
    """
    fmt_text: str | None = getattr(dataset, "partition_format", None)
    declared = tuple(getattr(dataset, "partition_keys", None) or ())
    if declared and not set(keys) <= set(declared):
        raise ConfigError(
            f"partition_keys {list(keys)} must be a subset of the partition keys of every "
            f"input; {dataset!r} is partitioned by {list(declared)}",
            parameter="partition_keys",
        )
    paths = list(dataset.paths)
    if dataset.kind == "file":
        kind: BatchKind = "files"
        listing = sorted_unique(iter_files(paths))
    else:
        kind = getattr(dataset, "format", "csv")
        listing = sorted_unique(tabular_files(paths))
    roots = [root_of(p) for p in paths]
    fmt = compile_format(fmt_text) if fmt_text else None

    def keyed() -> Iterator[tuple[str, str, int]]:
        for path, nbytes in listing:
            found = path_keys(path, roots, fmt)
            missing = [k for k in keys if k not in found]
            if missing:
                raise ConfigError(_missing_keys(keys, path, missing, found), "partition_keys")
            yield json.dumps([found[k] for k in keys]), path, nbytes

    index = first_index
    for values, group in _grouped(keyed()):
        members = list(group)
        files = tuple(path for path, _ in members)
        items = len(files) if kind == "files" else -1
        nbytes = sum(n for _, n in members)
        pairs = tuple(zip(keys, json.loads(values), strict=True))
        yield MiniBatch(index, input_name, files, items, nbytes, kind, partition_key_value=pairs)
        index += 1


def _grouped(
    rows: Iterable[tuple[str, str, int]], chunk: int = 10_000
) -> Iterator[tuple[str, Iterator[tuple[str, int]]]]:
    """Group ``(key, path, size)`` by key, groups in the order of their first row.

    Rows spill to a temporary SQLite file, so that a million files never sit in memory.
    """
    with scratch_db("shardrun-keys-") as db:
        db.execute("CREATE TABLE f (seq INTEGER PRIMARY KEY, key TEXT, path BLOB, size INT)")
        iterator = iter(rows)
        seq = 0
        while batch := list(islice(iterator, chunk)):
            db.executemany(
                "INSERT INTO f VALUES (?, ?, ?, ?)",
                [
                    (seq + n, key, path_bytes(path), size)
                    for n, (key, path, size) in enumerate(batch)
                ],
            )
            seq += len(batch)
            db.commit()
        ordered = db.execute(
            "SELECT key, path, size FROM f ORDER BY MIN(seq) OVER (PARTITION BY key), seq"
        )
        for key, group in groupby(ordered, key=lambda row: str(row[0])):
            yield key, ((path_text(path), int(size)) for _key, path, size in group)


def _missing_keys(keys: Sequence[str], path: str, missing: list[str], found: dict[str, str]) -> str:
    return (
        f"partition_keys {list(keys)} must be keys of every input file, but {path} has no "
        f"{', '.join(map(repr, missing))} in its path (keys found: {sorted(found) or 'none'}). "
        "Keys come from Hive folders (key=value/) or the dataset's partition_format; to "
        f"partition by columns inside the files, write a partitioned copy once with "
        f"dataset.partition_by({list(keys)}, target=...)"
    )
