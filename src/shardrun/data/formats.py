"""Read one planned slice of a CSV, JSON Lines or Parquet file into an Arrow table.

A tabular mini-batch names a file and a slice of it; the worker reads only that slice:

* **CSV and JSON Lines: a byte range** ``[start, stop)``. A record belongs to the range
  that holds its first byte. So a range that starts inside a record skips to the next line
  (that record belongs to the previous range), and a range reads past ``stop`` to finish
  its last record. The ranges of a file tile it: every record is read exactly once, and the
  driver reads no data (except to cut multi-line CSV, below). A CSV header is read from the
  file's first line and applied to every range.
* **Quoted line breaks.** Splitting at line feeds is only right when no quoted field holds
  one. A range of a split file therefore checks that each of its lines has an even number
  of ``"``; if one has not, the mini-batch fails with a :class:`~shardrun.errors.DataError`
  that names the file, the byte and the fix (``support_multi_line=True``). With
  ``support_multi_line=True`` the planner has already cut each range at record starts (one
  scan of the file, :mod:`shardrun.data.quoted`), so the range is read as planned, without
  that check; then, and for a mini-batch that covers a whole file, pyarrow parses with
  quoted line breaks allowed. Rows are never silently cut in two.
* **Parquet: row groups**, and rows ``[start, stop)`` counted from the first of them when
  one row group is larger than the mini-batch size (read batch by batch, so that only the
  slice is kept).

Parsing is pyarrow's (``pyarrow.csv``, ``pyarrow.json``, ``pyarrow.parquet``). Any failure
to read, decode or convert becomes a :class:`~shardrun.errors.DataError` whose message
names the file, the byte or row range, and the reason.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from shardrun.data.columns import column_types, convert, with_path_columns
from shardrun.data.expressions import parse, to_arrow
from shardrun.data.minibatch import MiniBatch
from shardrun.errors import ConfigError, DataError
from shardrun.workspace.datastores import filesystem, is_url

#: Azure's encoding names, and the Python codec of each.
ENCODINGS = {
    "utf8": "utf-8",
    "utf8bom": "utf-8-sig",
    "iso88591": "latin-1",
    "latin1": "latin-1",
    "ascii": "ascii",
    "windows1252": "cp1252",
    "utf16": "utf-16",
    "utf32": "utf-32",
}
#: Azure's ``PromoteHeadersBehavior`` names (lower case) -> does each file have a header?
HEADERS = {
    "all_files_have_same_headers": True,
    "combine_all_files_headers": True,
    "all_files_same_headers": True,
    "all_files_different_headers": True,
    "no_headers": False,
    "no_header": False,
}
#: Encodings in which byte 0x0A is always a line feed: only their files are split.
SPLITTABLE = frozenset(ENCODINGS) - {"utf16", "utf32"}

_CHUNK = 1 << 16
_PARQUET_BATCH = 64 * 1024
Options = Mapping[str, Any]


def header_flag(header: Any) -> bool:
    """Whether each file starts with a header, from True/False or Azure's enum (or its name).

    Every file is read on its own with its own header line, so ``ALL_FILES_HAVE_SAME_HEADERS``
    and ``COMBINE_ALL_FILES_HEADERS`` both mean True.

    Raises:
        ConfigError: ``ONLY_FIRST_FILE_HAS_HEADERS`` or an unknown value.
    """
    if isinstance(header, bool):
        return header
    text = str(getattr(header, "name", header)).lower()
    if text in HEADERS:
        return HEADERS[text]
    raise ConfigError(
        f"header must be True, False or one of {', '.join(n.upper() for n in HEADERS)} "
        f"(ONLY_FIRST_FILE_HAS_HEADERS is not supported: each file is read on its own); "
        f"got {header!r}"
    )


# -- opening and slicing files -----------------------------------------------------------


@contextmanager
def open_binary(path: str) -> Iterator[IO[bytes]]:
    """Open a local path or any fsspec URL for reading bytes."""
    if is_url(path):
        fs, inner = filesystem(path)
        with fs.open(inner, "rb") as handle:
            yield handle
    else:
        with open(path.removeprefix("file://"), "rb") as handle:
            yield handle


def line_range(handle: IO[bytes], start: int, stop: int) -> tuple[int, bytes, bool]:
    """The whole lines of ``handle`` that begin in ``[start, stop)`` (``stop=-1``: the end).

    Returns:
        ``(offset, data, eof)``: the file offset of ``data``, the lines, and whether they
        reach the end of the file.
    """
    origin = max(start - 1, 0)
    handle.seek(origin)
    want = -1 if stop < 0 else max(stop - origin, 0)
    data = handle.read(want)
    eof = want < 0 or len(data) < want
    begin = 0
    if start > 0:
        # A line feed at stop-1 or later means that no line begins in this range.
        cut = data.find(b"\n", 0, len(data) if eof else len(data) - 1)
        if cut < 0:
            return start, b"", eof
        begin = cut + 1
    if not eof and not data.endswith(b"\n"):
        tail: list[bytes] = []
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                eof = True
                break
            cut = chunk.find(b"\n")
            if cut >= 0:
                tail.append(chunk[: cut + 1])
                break
            tail.append(chunk)
        data += b"".join(tail)
    return origin + begin, data[begin:], eof


def _first_line(handle: IO[bytes]) -> bytes:
    handle.seek(0)
    pieces: list[bytes] = []
    while chunk := handle.read(_CHUNK):
        cut = chunk.find(b"\n")
        if cut >= 0:
            pieces.append(chunk[: cut + 1])
            break
        pieces.append(chunk)
    return b"".join(pieces)


def _check_quotes(data: bytes, offset: int, path: str) -> None:
    """Fail if a line has an odd number of quotes: a quoted field would span two lines."""
    if b'"' not in data:
        return
    for line in data.split(b"\n"):
        if line.count(b'"') % 2:
            raise DataError(
                f"cannot read {path}: the line at byte {offset} has an odd number of '\"', so "
                "a quoted field holds a line break (or a quote is stray) and this file cannot "
                "be split at line breaks; create the dataset with support_multi_line=True to "
                "cut it at record starts instead"
            )
        offset += len(line) + 1


def _utf8(data: bytes, options: Options) -> bytes:
    codec = ENCODINGS.get(str(options.get("encoding", "utf8")), "utf-8")
    if codec == "utf-8":
        return data
    return data.decode(codec).encode("utf-8")


# -- parsing -------------------------------------------------------------------------------


def _empty(names: list[str], types: Mapping[str, Any]) -> Any:
    import pyarrow as pa

    return pa.table({n: pa.array([], types.get(n, pa.string())) for n in names})


def parse_csv(data: bytes, names: list[str] | None, options: Options) -> Any:
    """Parse UTF-8 CSV ``data``; ``names=None`` means its first line is the header (or, when
    the dataset has no header, that columns are named ``Column1``, ``Column2``, …)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    types = column_types(options)
    auto = names is None and not options.get("header", True)
    if auto:
        types = {f"f{int(n[6:]) - 1}": t for n, t in types.items() if _is_auto_name(n)}
    if names is not None and not data.strip(b"\r\n"):
        return _empty(names, types)
    if names is None and not data.strip(b"\r\n\xef\xbb\xbf"):
        return pa.table({})
    if auto and not data.endswith((b"\n", b"\r")):
        data += b"\n"  # pyarrow counts the columns of the first row only once it has ended
    read = pcsv.ReadOptions(use_threads=False, column_names=names, autogenerate_column_names=auto)
    parse = pcsv.ParseOptions(delimiter=options.get("separator", ","), newlines_in_values=True)
    strings_null = not options.get("empty_as_string", False)

    def read_csv(column_types: Mapping[str, Any]) -> Any:
        convert = pcsv.ConvertOptions(column_types=column_types, strings_can_be_null=strings_null)
        return pcsv.read_csv(io.BytesIO(data), read, parse, convert)

    table = read_csv(types)
    if not options.get("infer_column_types", True):
        loose = {f.name: pa.string() for f in table.schema if f.name not in types}
        if any(table.schema.field(n).type != pa.string() for n in loose):
            table = read_csv({**types, **loose})
    undecoded = [f.name for f in table.schema if pa.types.is_binary(f.type) and f.name not in types]
    if undecoded:
        # pyarrow's inference falls back to bytes where text does not decode.
        raise ValueError(
            f"column(s) {undecoded} hold bytes that are not valid "
            f"{options.get('encoding', 'utf8')}; set the dataset's encoding"
        )
    if auto:
        table = table.rename_columns([f"Column{i + 1}" for i in range(table.num_columns)])
    return table


def _is_auto_name(name: str) -> bool:
    return name.startswith("Column") and name[6:].isdigit() and int(name[6:]) > 0


def parse_jsonl(data: bytes, options: Options) -> Any:
    """Parse UTF-8 JSON Lines ``data`` (one object per line)."""
    import pyarrow as pa
    import pyarrow.json as pjson

    types = column_types(options)
    if not data.strip():
        return _empty(list(types), types)
    schema = pa.schema(list(types.items())) if types else None
    parse = pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    read = pjson.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 20))
    return pjson.read_json(io.BytesIO(data), read_options=read, parse_options=parse)


def _read_text(handle: IO[bytes], path: str, batch: MiniBatch, options: Options) -> Any:
    begin, data, eof = line_range(handle, batch.start, batch.stop)
    where = f"{path}, bytes {begin}-{begin + len(data)}"
    whole = begin == 0 and eof
    try:
        if batch.kind == "jsonl":
            return parse_jsonl(_utf8(data, options), options)
        if whole:
            return parse_csv(_utf8(data, options), None, options)
        names = None
        if options.get("header", True):
            if begin == 0:
                cut = data.find(b"\n") + 1 or len(data)
                line, data, begin = data[:cut], data[cut:], cut
            else:
                line = _first_line(handle)
            _check_quotes(line, 0, path)
            names = parse_csv(_utf8(line, options), None, options).column_names
        if not options.get("support_multi_line"):
            _check_quotes(data, begin, path)
        return parse_csv(_utf8(data, options), names, options)
    except DataError:
        raise
    except read_errors() as e:
        raise DataError(f"cannot read {where}: {e}") from e


def _read_parquet(handle: IO[bytes], batch: MiniBatch) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(handle)
    if parquet.num_row_groups == 0:
        return parquet.read(use_threads=False)
    groups = list(batch.row_groups) or list(range(parquet.num_row_groups))
    if batch.start == 0 and batch.stop < 0:
        return parquet.read_row_groups(groups, use_threads=False)
    stop = batch.stop if batch.stop >= 0 else float("inf")
    pieces = []
    position = 0
    for record_batch in parquet.iter_batches(
        batch_size=_PARQUET_BATCH, row_groups=groups, use_threads=False
    ):
        low = max(batch.start - position, 0)
        high = min(stop - position, record_batch.num_rows)
        if low < high:
            pieces.append(record_batch.slice(low, int(high - low)))
        position += record_batch.num_rows
        if position >= stop:
            break
    if not pieces:
        return parquet.schema_arrow.empty_table()
    return pa.Table.from_batches(pieces)


def _parquet_where(path: str, batch: MiniBatch) -> str:
    groups = batch.row_groups
    text = f"{path}, row groups {groups[0]}-{groups[-1]}" if groups else path
    if batch.start or batch.stop >= 0:
        stop = "end" if batch.stop < 0 else batch.stop
        text += f", rows {batch.start}-{stop}" + (" of them" if groups else "")
    return text


# -- a mini-batch --------------------------------------------------------------------------


def read_table(batch: MiniBatch, options: Options) -> Any:
    """The records of one tabular mini-batch as a ``pyarrow.Table``, in file order.

    Raises:
        DataError: A file cannot be read, decoded or parsed, or a value does not convert
            to its column's type; the message names the file, the range and the reason.
    """
    import pyarrow as pa

    tables = [_read_file(path, batch, options) for path in batch.files]
    if len(tables) == 1:
        return _columns(_filtered(tables[0], options, batch), options, batch)
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (ValueError, TypeError) as e:
        raise DataError(f"the files of mini-batch {batch.index} do not fit together: {e}") from e
    return _columns(_filtered(table, options, batch), options, batch)


def _filtered(table: Any, options: Options, batch: MiniBatch) -> Any:
    """``table`` with only the rows that every ``filter()`` expression keeps.

    Filters run before ``keep_columns`` / ``drop_columns`` narrow the table
    (:meth:`~shardrun.data.tables.TabularDataset.filter` refuses a column already removed).
    """
    import pyarrow as pa

    for expression in options.get("filters") or []:
        missing = [c for c in parse(expression) if c not in table.column_names]
        if missing:
            raise DataError(
                f"filter {expression!r} names columns {missing} that mini-batch {batch.index} "
                f"of {batch.files[0]} has not; its columns are {table.column_names}"
            )
        try:
            table = table.filter(to_arrow(expression))
        except (pa.ArrowException, ValueError, TypeError) as e:
            raise DataError(
                f"filter {expression!r} cannot be applied to mini-batch {batch.index} of "
                f"{batch.files[0]} (compare values of the same type): {e}"
            ) from e
    return table


def _columns(table: Any, options: Options, batch: MiniBatch) -> Any:
    """``table`` narrowed by the dataset's ``keep_columns`` / ``drop_columns``."""
    kept, dropped = options.get("kept_columns"), options.get("dropped_columns") or []
    wanted = [c for c in (kept or table.column_names) if c not in dropped]
    missing = sorted(set(wanted) - set(table.column_names))
    if missing:
        raise DataError(
            f"mini-batch {batch.index} of {batch.files[0]} has no columns {missing} "
            f"(keep_columns); its columns are {table.column_names}"
        )
    return table if wanted == table.column_names else table.select(wanted)


def read_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that reading a file may raise: they become :class:`DataError`."""
    import pyarrow as pa

    return (pa.ArrowException, ValueError, TypeError, OSError, UnicodeError, EOFError)


def _read_file(path: str, batch: MiniBatch, options: Options) -> Any:
    where = path
    try:
        with open_binary(path) as handle:
            if batch.kind == "parquet":
                where = _parquet_where(path, batch)
                table = _read_parquet(handle, batch)
            else:
                table = _read_text(handle, path, batch, options)
    except DataError:
        raise
    except read_errors() as e:
        raise DataError(f"cannot read {where}: {e}") from e
    return convert(with_path_columns(table, path, options), options, where)
