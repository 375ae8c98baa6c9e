"""Output parts and the final, ordered merge.

Each successful attempt writes one *part* (a worker does it, so the driver never touches the
rows), durably: temporary name, fsync, rename. The ledger then records which part belongs to
which mini-batch, and at the end :func:`merge` concatenates the recorded parts in mini-batch
order into the ``append_row`` file, once. Parts of abandoned attempts are never read, which
is what makes the output exactly-once.

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
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from shardrun.errors import ConfigError

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


def part_path(parts_dir: str | Path, index: int, attempt: int, token: str) -> Path:
    """Where one attempt's part goes; the token keeps a resumed run's parts apart."""
    return Path(parts_dir) / f"{index:09d}.{attempt}.{token}.part"


def write_part(path: Path, data: bytes) -> None:
    """Write one part durably (its folder is fsynced later, once per group, by the driver)."""
    with atomic_write(path) as handle:
        handle.write(data)


def merge(
    parts: Iterable[tuple[int, str, tuple[str, ...] | None]],
    destination: str | Path,
    fmt: str,
    header: bool = False,
) -> int:
    """Concatenate parts, in the order given, into ``destination`` atomically.

    Args:
        parts: ``(index, part path, columns)`` in mini-batch order (from the ledger).
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
    with atomic_write(destination) as out:
        for _index, part, columns in parts:
            if merged == 0 and (header or fmt == "csv") and columns:
                out.write(_header_line(columns, fmt).encode())
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
            merged += 1
    return merged


def _header_line(columns: tuple[str, ...], fmt: str) -> str:
    if fmt == "csv":
        import csv

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(columns)
        return buffer.getvalue()
    return " ".join(columns) + "\n"


def _merge_parquet(
    parts: Iterable[tuple[int, str, tuple[str, ...] | None]], destination: str | Path
) -> int:
    import pyarrow.parquet as pq

    merged = 0
    writer: Any = None
    with atomic_write(destination) as out:
        try:
            for _index, part, _columns in parts:
                table = pq.read_table(part)
                if writer is None:
                    writer = pq.ParquetWriter(out, table.schema)
                writer.write_table(table.cast(writer.schema))
                merged += 1
        finally:
            if writer is not None:
                writer.close()
    return merged
