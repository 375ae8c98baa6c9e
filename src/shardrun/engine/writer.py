"""The driver's side of the output: durable parts and the final, ordered merge.

Each worker appends the encoded result of every successful attempt to its own *spill file*
(:mod:`shardrun.worker.results`) and reports where the bytes are (a
:class:`~shardrun.engine.messages.Part`: path, offset, length). The scheduler makes a group
of results durable with one fsync per spill file touched (:class:`Syncer`), then records the
parts in the ledger in one transaction. At the end :func:`merge` copies the recorded byte
ranges, in mini-batch order, into the ``append_row`` file. Bytes of abandoned attempts (a
killed worker, a retry) are never referenced, which is what makes the output exactly-once.

Formats (``append_row_format``):

========  ======================================================================
text      Azure's: ``str(x)`` per list element; DataFrames space-separated, no header
          (``append_row_dataframe_header=True`` adds one header line at the top)
csv       comma-separated with one header line; a list becomes a ``result`` column
jsonl     one JSON object (DataFrame row) or value (list element) per line
parquet   one Parquet file, row groups in mini-batch order
========  ======================================================================
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from shardrun.engine.messages import Part
from shardrun.errors import ConfigError

FORMATS = ("text", "csv", "jsonl", "parquet")


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb", fsync: bool = True) -> Iterator[IO[Any]]:
    """Write ``path`` under a temporary name, fsync it, then rename it into place.

    A text ``mode`` writes UTF-8; file names that are not UTF-8 keep their bytes.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    binary = "b" in mode
    encoding, errors = (None, None) if binary else ("utf-8", "surrogateescape")
    try:
        with open(tmp, mode, encoding=encoding, errors=errors) as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_dir(path: str | Path) -> None:
    """Make the renames inside a folder durable (one call covers many parts)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Syncer:
    """The driver's side of durability: fsync the spill files a group of results wrote to."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def sync(self, parts: Iterable[Part]) -> None:
        """Make these parts durable: one fsync per spill file, plus its folder when new."""
        new_folders: set[str] = set()
        touched: set[str] = set()
        for part in parts:
            if part.path not in self._fds:
                self._fds[part.path] = os.open(part.path, os.O_RDONLY)
                new_folders.add(os.path.dirname(part.path))
            touched.add(part.path)
        for path in touched:
            os.fsync(self._fds[path])
        for folder in new_folders:
            fsync_dir(folder)

    def close(self) -> None:
        """Close the files it kept open."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


PartList = Iterable[tuple[int, Part, tuple[str, ...] | None]]


def _read(part: Part, handles: dict[str, IO[bytes]]) -> Iterator[bytes]:
    handle = handles.get(part.path)
    if handle is None:
        handle = handles[part.path] = open(part.path, "rb")  # noqa: SIM115 - closed by merge
    handle.seek(part.offset)
    remaining = part.length
    while remaining > 0:
        chunk = handle.read(min(remaining, 1 << 20))
        if not chunk:
            raise OSError(f"spill file {part.path} is shorter than the ledger says")
        remaining -= len(chunk)
        yield chunk


def merge(
    parts: Callable[[], PartList],
    destination: str | Path,
    fmt: str,
    header: bool = False,
) -> int:
    """Concatenate parts, in the order given, into ``destination`` atomically.

    Args:
        parts: Gives ``(index, part, columns)`` in mini-batch order (``ledger.parts``);
            called twice for Parquet (schemas first).
        destination: The append_row file.
        fmt: One of :data:`FORMATS`.
        header: Write one header line first (always for ``csv``).

    Returns:
        The number of parts merged.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"append_row_format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if fmt == "parquet":
        return _merge_parquet(parts, destination)
    merged = 0
    handles: dict[str, IO[bytes]] = {}
    try:
        with atomic_write(destination) as out:
            for _index, part, columns in parts():
                if merged == 0 and (header or fmt == "csv") and columns:
                    out.write(_header_line(columns, fmt).encode())
                for chunk in _read(part, handles):
                    out.write(chunk)
                merged += 1
    finally:
        for handle in handles.values():
            handle.close()
    return merged


def _header_line(columns: tuple[str, ...], fmt: str) -> str:
    if fmt == "csv":
        import csv

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(columns)
        return buffer.getvalue()
    return " ".join(columns) + "\n"


def _merge_parquet(parts: Callable[[], PartList], destination: str | Path) -> int:
    """Two passes: unify the parts' schemas (footers), then write every part cast to it.

    Types are promoted as Arrow allows (int64 + double → double, null → anything), so a
    column that is all-null or integral in some mini-batches does not fail the merge.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    handles: dict[str, IO[bytes]] = {}

    def table(part: Part, schema_only: bool = False) -> Any:
        source = pa.BufferReader(b"".join(_read(part, handles)))
        return pq.read_schema(source) if schema_only else pq.read_table(source)

    try:
        schemas = [table(part, schema_only=True) for _i, part, _c in parts()]
        if not schemas:
            return 0
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        merged = 0
        with atomic_write(destination) as out, pq.ParquetWriter(out, schema) as writer:
            for _index, part, _columns in parts():
                writer.write_table(table(part).select(schema.names).cast(schema))
                merged += 1
        return merged
    finally:
        for handle in handles.values():
            handle.close()
