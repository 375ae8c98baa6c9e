"""Output parts and the final, ordered merge.

Each worker process appends the encoded result of every successful attempt to its own
*spill file* (``parts/<node>-<process>-<token>.spill``) and reports where the bytes are (a
:class:`~shardrun.types.Part`: path, offset, length). Appending is sequential and makes one
file per worker, not one per mini-batch. The scheduler makes a group of results durable with
one fsync per spill file touched (:class:`Syncer`), then records the parts in the ledger in
one transaction. At the end :func:`merge` copies the recorded byte ranges, in mini-batch
order, into the ``append_row`` file. Bytes of abandoned attempts (a killed worker, a retry)
are never referenced, which is what makes the output exactly-once.

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
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from shardrun.errors import ConfigError
from shardrun.types import Part

FORMATS = ("text", "csv", "jsonl", "parquet")


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb", fsync: bool = True) -> Iterator[IO[Any]]:
    """Write ``path`` under a temporary name, fsync it, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as handle:
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


def _is_dataframe(value: object) -> bool:
    # pandas is imported only if the entry script itself returned a DataFrame.
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def _is_arrow_table(value: object) -> bool:
    pyarrow = sys.modules.get("pyarrow")
    return pyarrow is not None and isinstance(value, pyarrow.Table)


def result_length(result: object) -> int:
    """How many rows ``run()`` returned, or raise TypeError for an unsupported type."""
    if isinstance(result, list | tuple) or _is_dataframe(result) or _is_arrow_table(result):
        return len(result)  # type: ignore[arg-type]
    raise TypeError(
        f"run() must return a list, a tuple or a pandas DataFrame; got {type(result).__name__}"
    )


def encode(result: Any, fmt: str) -> tuple[bytes, tuple[str, ...] | None]:
    """Encode one ``run()`` result as a part's bytes; also return its column names."""
    if _is_arrow_table(result):
        result = result.to_pandas()
    if fmt == "parquet":
        return _encode_parquet(result)
    if _is_dataframe(result):
        columns = tuple(str(c) for c in result.columns)
        if fmt == "text":
            text = result.to_csv(header=False, index=False, sep=" ")
        elif fmt == "csv":
            text = result.to_csv(header=False, index=False)
        else:
            text = result.to_json(orient="records", lines=True, date_format="iso")
            text = text if not text or text.endswith("\n") else text + "\n"
        return text.encode(), columns
    if fmt == "text":
        return "".join(f"{x}\n" for x in result).encode(), None
    if fmt == "csv":
        import csv

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([x] for x in result)
        return buffer.getvalue().encode(), ("result",)
    return "".join(json.dumps(x, default=str) + "\n" for x in result).encode(), None


def _encode_parquet(result: Any) -> tuple[bytes, tuple[str, ...] | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if _is_dataframe(result):
        table = pa.Table.from_pandas(result, preserve_index=False)
    else:
        table = pa.table({"result": list(result)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes(), tuple(table.column_names)


class SpillFile:
    """A worker's append-only file of output parts (opened on the first append)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None

    def append(self, data: bytes) -> Part:
        """Append one part's bytes (flushed to the OS, fsynced later by the driver)."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "ab")  # noqa: SIM115 - kept open across appends
        offset = self._handle.seek(0, os.SEEK_END)
        self._handle.write(data)
        self._handle.flush()
        return Part(str(self.path), offset, len(data))

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


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
