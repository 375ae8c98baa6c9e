"""A tabular dataset's column types, inferred once in the driver from a sample.

When a dataset is created, the first MiB of each of its first few files is parsed (Azure
reads the first 200 rows). The types found are merged (an integer column with a float in
another file is a float, anything else mixed is a string) and applied to every mini-batch,
so that all mini-batches get the same dtypes.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from itertools import islice
from typing import Any

from shardrun.data.columns import type_name
from shardrun.data.formats import (
    ENCODINGS,
    Options,
    open_binary,
    parse_csv,
    parse_jsonl,
    read_errors,
)
from shardrun.data.listing import tabular_files
from shardrun.errors import ConfigError, DataError

#: Bytes read from each sampled file.
SAMPLE_BYTES = 1 << 20
#: Files sampled.
SAMPLE_FILES = 4


def read_sample(path: str, options: Options, nbytes: int = SAMPLE_BYTES) -> Any:
    """The first records of a CSV or JSON Lines file (about ``nbytes``), to infer types.

    The sample ends at the last complete record: for CSV, the last line feed outside a
    quoted field.
    """
    codec = ENCODINGS.get(str(options.get("encoding", "utf8")), "utf-8")
    with open_binary(path) as handle:
        data = handle.read(nbytes)
        complete = not handle.read(1)
    try:
        text = codecs.getincrementaldecoder(codec)().decode(data, final=complete)
    except UnicodeError as e:
        raise DataError(f"cannot read {path}, bytes 0-{len(data)}: {e}") from e
    if not complete:
        text = text[: _last_record_end(text, options.get("format") == "csv")]
    utf8 = {**options, "encoding": "utf8"}
    raw = text.encode("utf-8")
    try:
        if options.get("format") == "jsonl":
            return parse_jsonl(raw, utf8)
        return parse_csv(raw, None, utf8)
    except read_errors() as e:
        raise DataError(f"cannot read {path}, bytes 0-{len(data)}: {e}") from e


def _last_record_end(text: str, quoted: bool) -> int:
    end = 0
    inside = False
    position = 0
    for line in text.split("\n")[:-1]:
        position += len(line) + 1
        if quoted:
            inside ^= line.count('"') % 2 == 1
        if not inside:
            end = position
    return end


def sample_types(paths: Sequence[str], options: Options) -> dict[str, str]:
    """Column name -> type name, from samples of the first files ``paths`` name.

    Parquet files carry their own types: only the first footer is read, as a check.

    Raises:
        ConfigError: No data file matches, or a sample cannot be read or parsed.
    """
    files = [name for name, _size in islice(tabular_files(paths), SAMPLE_FILES)]
    if not files:
        raise ConfigError(f"path {list(paths)} matched no data files; give files, folders or globs")
    found: dict[str, Any] = {}
    for name in files:
        try:
            if options.get("format") == "parquet":
                parquet_schema(name)
                return {}
            widen(found, read_sample(name, options).schema)
        except DataError as e:
            raise ConfigError(
                f"cannot read a sample of {name} to check the dataset: {e}; fix the data or "
                "the dataset's options (or pass validate=False, infer_column_types=False)"
            ) from e
    return {k: n for k, t in found.items() if (n := type_name(t)) is not None}


def widen(found: dict[str, Any], schema: Any) -> None:
    """Merge a sample's column types into ``found``: int and float make float, else string."""
    import pyarrow as pa

    for field in schema:
        seen, new = found.get(field.name), field.type
        if pa.types.is_null(new) or seen == new:
            continue
        if seen is None:
            found[field.name] = new
        elif pa.types.is_integer(seen) and pa.types.is_integer(new):
            found[field.name] = pa.int64()
        elif all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in (seen, new)):
            found[field.name] = pa.float64()
        else:
            found[field.name] = pa.string()


def parquet_schema(path: str) -> Any:
    """The Arrow schema in a Parquet file's footer.

    Raises:
        DataError: The file cannot be read or is not Parquet.
    """
    import pyarrow.parquet as pq

    try:
        with open_binary(path) as handle:
            return pq.ParquetFile(handle).schema_arrow
    except read_errors() as e:
        raise DataError(f"cannot read the Parquet footer of {path}: {e}") from e
