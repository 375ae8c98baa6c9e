"""The worker's side of the output: what ``run()`` returned, encoded and appended.

A worker appends each successful attempt's encoded result to its own append-only *spill
file* and reports the byte range as a :class:`~shardrun.engine.messages.Part`; the driver
makes the bytes durable and merges them in order (:mod:`shardrun.engine.writer`, where the
formats are described).
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

from shardrun.engine.messages import Part


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
    """Encode one ``run()`` result as a part's bytes; also return its column names.

    Text is UTF-8; a file name that is not (its bytes are lone surrogates in Python) is
    written back as the bytes it was read from.
    """
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
        return text.encode("utf-8", "surrogateescape"), columns
    if fmt == "text":
        return "".join(f"{x}\n" for x in result).encode("utf-8", "surrogateescape"), None
    if fmt == "csv":
        import csv

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([x] for x in result)
        return buffer.getvalue().encode("utf-8", "surrogateescape"), ("result",)
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
