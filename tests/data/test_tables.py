"""Tabular datasets, unit level: the API, planning (no data read) and reading slices.

Reading is done in this process by the functions workers call; end-to-end runs on real
worker processes are in ``test_tabular_runs.py``.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shardrun import ConfigError, Dataset, ParallelRunConfig
from shardrun.data.columns import to_pandas
from shardrun.data.datasets import FileDataset, dataset_from_spec
from shardrun.data.formats import line_range, read_table
from shardrun.data.minibatch import MiniBatch
from shardrun.data.pathkeys import compile_format, hive_keys, root_of
from shardrun.data.splits import byte_ranges, plan_keys, plan_tabular
from shardrun.data.tables import TabularDataset
from shardrun.data.tabular_factory import TabularFactory
from shardrun.engine.partition import plan_input
from shardrun.errors import DataError

SCRIPT = Path(__file__).parent.parent / "scripts" / "tabular.py"


def write_csv(path: Path, rows: Sequence[Sequence[Any]], header: Sequence[str] | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def read_all(dataset: TabularDataset, size: int) -> list[pa.Table]:
    options = dataset.read_options()
    return [read_table(batch, options) for batch in plan_tabular(dataset, size, "input")]


def rows_of(tables: Sequence[pa.Table]) -> list[dict[str, Any]]:
    return [row for table in tables for row in table.to_pylist()]


def config(**overrides: Any) -> ParallelRunConfig:
    return ParallelRunConfig(entry_script=str(SCRIPT), **overrides)


# -- keys in paths -------------------------------------------------------------------------


def test_partition_format_keys_and_dates() -> None:
    fmt = compile_format("/{store}/{brand}/{filename}.csv")
    assert fmt.keys == ("store", "brand", "filename")
    assert fmt.match("s3://b/data/1000/tropicana/part-1.csv") == {
        "store": "1000",
        "brand": "tropicana",
        "filename": "part-1",
    }
    assert fmt.match("/data/1000/part-1.txt") is None
    assert fmt.match("/part-1.csv") is None
    dated = compile_format("weather/{state}/{date:yyyy/MM/dd}/data.parquet")
    assert dated.match("/x/weather/WA/2019/01/31/data.parquet") == {
        "state": "WA",
        "date": "2019-01-31",
    }
    assert dated.dates == {"date"}
    assert compile_format("{a}/*.csv").match("/x/y/z.csv") == {"a": "y"}


@pytest.mark.parametrize("bad", ["no-keys.csv", "{a}/{a}.csv", "{d:yyyyQ}"])
def test_bad_partition_format_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="partition_format"):
        compile_format(bad)


def test_hive_keys_below_the_root() -> None:
    assert root_of("/a/b/**/*.csv") == "/a/b"
    assert root_of("/a/b/") == "/a/b"
    assert hive_keys("/a/b/store=1/brand=x%2Fy/f.csv", ["/a/b"]) == {"store": "1", "brand": "x/y"}
    # Folders above the dataset's root are not its keys.
    assert hive_keys("/a/year=1/b/f.csv", ["/a/year=1/b"]) == {}


# -- the dataset ---------------------------------------------------------------------------


def test_delimited_files_infer_types_and_round_trip_their_spec(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [[1, "x", 0.5, "true"], [2, "y", "", "false"]], "abcd")
    dataset = Dataset.Tabular.from_delimited_files(
        str(tmp_path), set_column_types={"a": "float"}, include_path=True
    )
    assert isinstance(dataset, TabularDataset)
    assert dataset.column_types == {"a": "double", "b": "string", "c": "double", "d": "bool"}
    spec = dataset.to_spec()
    assert json.loads(json.dumps(spec)) == spec
    again = dataset_from_spec(spec)
    assert isinstance(again, TabularDataset)
    assert again.to_spec() == spec
    frame = again.to_pandas_dataframe()
    assert list(frame.columns) == ["a", "b", "c", "d", "Path"]
    assert frame["a"].tolist() == [1.0, 2.0]
    assert str(frame["d"].dtype) == "boolean"
    assert frame["Path"].tolist() == [str(tmp_path / "a.csv")] * 2


def test_types_are_sampled_from_several_files(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [[1, 2]], "xy")
    write_csv(tmp_path / "b.csv", [[1.5, "n"]], "xy")
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    assert dataset.column_types == {"x": "double", "y": "string"}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"separator": ";;"}, "separator must be one character"),
        ({"encoding": "utf-7"}, "encoding must be one of"),
        ({"header": "ONLY_FIRST_FILE_HAS_HEADERS"}, "not supported"),
        ({"set_column_types": {"a": "no-such-type"}}, "not a type pyarrow knows"),
        ({"partition_format": "{x"}, "partition_format"),
    ],
)
def test_invalid_options_are_config_errors(
    tmp_path: Path, options: dict[str, Any], match: str
) -> None:
    write_csv(tmp_path / "a.csv", [[1]], "a")
    with pytest.raises(ConfigError, match=match):
        Dataset.Tabular.from_delimited_files(str(tmp_path), **options)


def test_validation_needs_data_and_can_be_skipped(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Dataset.Tabular.from_parquet_files(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="matched no data files"):
        Dataset.Tabular.from_json_lines_files(str(tmp_path / "empty"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ConfigError, match="Parquet footer"):
        Dataset.Tabular.from_parquet_files(str(tmp_path / "bad.parquet"))
    lazy = Dataset.Tabular.from_delimited_files(
        "s3://nowhere/x.csv", validate=False, infer_column_types=False
    )
    assert lazy.paths == ("s3://nowhere/x.csv",)
    assert lazy.column_types == {}


def test_no_header_columns_are_named_like_azure(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [[1, "x"], [2, "y"]], None)
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path), header=False)
    assert dataset.column_types == {"Column1": "int64", "Column2": "string"}
    frame = dataset.to_pandas_dataframe()
    assert list(frame.columns) == ["Column1", "Column2"]
    assert frame["Column1"].tolist() == [1, 2]


def test_empty_as_string_and_strings_only(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('a,b\n1,\n2,NA\n3,""\n')
    missing = Dataset.Tabular.from_delimited_files(str(tmp_path)).to_pandas_dataframe()
    assert missing["b"].isna().tolist() == [True, True, True]
    kept = Dataset.Tabular.from_delimited_files(
        str(tmp_path), empty_as_string=True, infer_column_types=False
    ).to_pandas_dataframe()
    assert kept["a"].tolist() == ["1", "2", "3"]
    assert kept["b"].tolist() == ["", "NA", ""]


def test_encodings(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_bytes("name,n\ncafé,1\n".encode("latin-1"))
    latin = Dataset.Tabular.from_delimited_files(str(tmp_path / "l.csv"), encoding="latin1")
    assert latin.to_pandas_dataframe()["name"].tolist() == ["café"]
    (tmp_path / "u.csv").write_bytes(("name,n\n" + "日本,1\n" * 50).encode("utf-16"))
    wide = Dataset.Tabular.from_delimited_files(str(tmp_path / "u.csv"), encoding="utf16")
    # A line feed is two bytes in UTF-16: such files are never split.
    assert len(list(plan_tabular(wide, 16, "input"))) == 1
    assert wide.to_pandas_dataframe()["name"].tolist() == ["日本"] * 50
    (tmp_path / "bad.csv").write_bytes(b"name\n\xff\xfe\n")
    with pytest.raises(DataError, match=r"bad\.csv, bytes 0-8: .*invalid UTF8"):
        read_all(TabularDataset([str(tmp_path / "bad.csv")], infer_column_types=False), 1 << 20)


def test_dtypes_are_the_same_in_every_mini_batch(tmp_path: Path) -> None:
    # The second half has missing values: pyarrow alone would give float64 and object there.
    rows = [[i, i % 2 == 0, f"s{i}"] for i in range(50)] + [["", "", ""]] * 50
    write_csv(tmp_path / "a.csv", rows, ["n", "flag", "text"])
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    frames = [to_pandas(t) for t in read_all(dataset, 200)]
    assert len(frames) > 2
    dtypes = {tuple(str(t) for t in frame.dtypes) for frame in frames}
    assert dtypes == {("Int64", "boolean", "str")}
    assert sum(len(f) for f in frames) == 100


def test_to_pandas_dataframe_of_parquet_and_jsonl(tmp_path: Path) -> None:
    table = pa.table({"id": [1, 2, 3], "when": pa.array([0, 1, 2], pa.timestamp("s"))})
    pq.write_table(table, tmp_path / "t.parquet")
    frame = Dataset.Tabular.from_parquet_files(str(tmp_path / "t.parquet")).to_pandas_dataframe()
    assert frame["id"].tolist() == [1, 2, 3]
    assert str(frame["when"].dtype).startswith("datetime64")
    (tmp_path / "t.jsonl").write_text('{"id": 1, "v": "a"}\n{"id": 2}\n')
    lines = Dataset.Tabular.from_json_lines_files(str(tmp_path / "t.jsonl"))
    assert lines.column_types == {"id": "int64", "v": "string"}
    assert lines.to_pandas_dataframe()["v"].tolist()[0] == "a"


# -- planning ------------------------------------------------------------------------------


@pytest.mark.parametrize(("nbytes", "size"), [(0, 10), (10, 10), (11, 10), (100, 7), (5, 1)])
def test_byte_ranges_tile_the_file(nbytes: int, size: int) -> None:
    ranges = list(byte_ranges(nbytes, size))
    assert ranges[0][0] == 0
    assert ranges[-1][1] == -1
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert sum(r[2] for r in ranges) == nbytes
    assert all(r[2] <= size for r in ranges)


def test_csv_is_cut_by_size_and_never_across_files(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [[i, "x" * 20] for i in range(200)], ["id", "pad"])
    write_csv(tmp_path / "b.csv", [[i, "y"] for i in range(3)], ["id", "pad"])
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".a.csv.crc").write_text("junk")
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    batches = list(plan_input(dataset, config(mini_batch_size="1KB"), "input", 5))
    assert [b.index for b in batches] == list(range(5, 5 + len(batches)))
    assert all(len(b.files) == 1 and b.kind == "csv" and b.items == -1 for b in batches)
    names = [Path(b.files[0]).name for b in batches]
    assert names == ["a.csv"] * (len(batches) - 1) + ["b.csv"]
    assert len(batches) == 1 + -(-(tmp_path / "a.csv").stat().st_size // 1024)
    assert [r["id"] for r in rows_of(read_all(dataset, 1024))] == [*range(200), 0, 1, 2]


def test_default_size_is_one_mebibyte(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [[1]], ["a"])
    with open(tmp_path / "a.csv", "r+b") as handle:
        handle.truncate(3 << 20)  # planning only looks at the size
    dataset = TabularDataset([str(tmp_path / "a.csv")], infer_column_types=False)
    batches = list(plan_input(dataset, config(), "input"))
    assert [(b.start, b.stop) for b in batches] == [
        (0, 1 << 20),
        (1 << 20, 2 << 20),
        (2 << 20, -1),
    ]


def test_a_one_gigabyte_csv_is_planned_in_well_under_a_second(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = [[i, i * 0.5, f"name {i}"] for i in range(60_000)]
    write_csv(path, rows, ["id", "score", "name"])
    with open(path, "r+b") as handle:
        handle.truncate(1 << 30)  # sparse: real rows, then holes nobody reads
    dataset = Dataset.Tabular.from_delimited_files(str(path))
    assert dataset.column_types == {"id": "int64", "score": "double", "name": "string"}
    read_before = _bytes_read()
    started = time.perf_counter()
    batches = list(plan_input(dataset, config(mini_batch_size="1MB"), "input"))
    elapsed = time.perf_counter() - started
    read = _bytes_read() - read_before
    assert len(batches) == 1024
    assert elapsed < 0.5, elapsed
    if read >= 0:  # the driver read (next to) nothing of the gigabyte
        assert read < 256 * 1024, read


def _bytes_read() -> int:
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return -1
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar")))


def test_parquet_by_row_groups_and_a_huge_row_group_by_rows(tmp_path: Path) -> None:
    small = pa.table({"id": list(range(1000)), "v": [float(i) for i in range(1000)]})
    pq.write_table(small, tmp_path / "a.parquet", row_group_size=100)
    huge = pa.table({"id": list(range(20_000)), "v": [float(i) for i in range(20_000)]})
    pq.write_table(huge, tmp_path / "b.parquet", row_group_size=20_000)
    dataset = Dataset.Tabular.from_parquet_files(str(tmp_path))
    meta = pq.ParquetFile(tmp_path / "b.parquet").metadata
    group_bytes = sum(meta.row_group(0).column(c).total_compressed_size for c in range(2))
    size = group_bytes // 4 + 1
    batches = list(plan_tabular(dataset, size, "input"))
    in_a = [b for b in batches if b.files[0].endswith("a.parquet")]
    in_b = [b for b in batches if b.files[0].endswith("b.parquet")]
    assert all(b.stop == -1 and b.row_groups for b in in_a)
    assert [g for b in in_a for g in b.row_groups] == list(range(10))
    assert len(in_b) == 4
    assert all(b.row_groups == (0,) for b in in_b)
    assert [(b.start, b.stop) for b in in_b] == [
        (0, 5000),
        (5000, 10000),
        (10000, 15000),
        (15000, 20000),
    ]
    assert sum(b.items for b in batches) == 21_000
    tables = [read_table(b, dataset.read_options()) for b in batches]
    assert [t.num_rows for t in tables] == [b.items for b in batches]
    assert [r["id"] for r in rows_of(tables)] == list(range(1000)) + list(range(20_000))


def test_an_unreadable_parquet_file_is_one_mini_batch_that_fails(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1]}), tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"PAR1 but not really")
    dataset = Dataset.Tabular.from_parquet_files(str(tmp_path), validate=False)
    batches = list(plan_tabular(dataset, 1 << 20, "input"))
    assert len(batches) == 2
    assert batches[1].items == -1
    with pytest.raises(DataError, match=r"cannot read .*b\.parquet: "):
        read_table(batches[1], dataset.read_options())


# -- reading byte ranges -------------------------------------------------------------------


def test_line_range_skips_the_partial_first_line_and_finishes_the_last() -> None:
    data = b"aaaa\nbb\ncccccc\nd"
    handle = io.BytesIO(data)
    assert line_range(handle, 0, 3) == (0, b"aaaa\n", False)
    assert line_range(handle, 3, 6) == (5, b"bb\n", False)
    assert line_range(handle, 6, 9) == (8, b"cccccc\n", False)
    assert line_range(handle, 9, 12)[1] == b""
    assert line_range(handle, 12, -1) == (15, b"d", True)
    assert line_range(handle, 5, 8) == (5, b"bb\n", False)


def test_every_range_gets_the_header_and_a_missing_trailing_newline_is_fine(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.csv").write_text("id,name\n" + "\n".join(f"{i},n{i}" for i in range(100)))
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    tables = read_all(dataset, 64)
    assert len(tables) > 10
    assert all(t.column_names == ["id", "name"] for t in tables if t.num_rows)
    assert [r["id"] for r in rows_of(tables)] == list(range(100))
    assert rows_of(tables)[-1] == {"id": 99, "name": "n99"}


def test_quoted_newlines_are_cut_at_records_with_support_multi_line(tmp_path: Path) -> None:
    rows = [[i, f'line one\nline "two", {i}', "x"] for i in range(40)]
    path = write_csv(tmp_path / "a.csv", rows, ["id", "text", "tail"])
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path), support_multi_line=True)
    batches = list(plan_tabular(dataset, 64, "input"))
    data = path.read_bytes()
    records = [data.index(f"\n{i},".encode()) + 1 for i in range(40)]
    assert len(batches) >= 0.9 * len(data) / 64
    assert {b.start for b in batches[1:]} <= set(records)
    assert rows_of(read_all(dataset, 64)) == [
        {"id": i, "text": text, "tail": "x"} for i, text, _ in rows
    ]


def test_quoted_newlines_in_a_split_file_fail_loudly(tmp_path: Path) -> None:
    rows = [[i, f"line one\nline two {i}"] for i in range(40)]
    path = write_csv(tmp_path / "a.csv", rows, ["id", "text"])
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    # A file that fits one mini-batch is parsed whole: quoted line breaks are fine.
    assert len(rows_of(read_all(dataset, 1 << 20))) == 40
    batch = next(iter(plan_tabular(dataset, 128, "input")))
    with pytest.raises(DataError) as failure:
        read_table(batch, dataset.read_options())
    message = str(failure.value)
    assert str(path) in message
    assert "the line at byte 8 has an odd number of '\"'" in message
    assert "support_multi_line=True" in message


def test_a_malformed_row_names_file_range_and_reason(tmp_path: Path) -> None:
    text = "a,b\n" + "".join(f"{i},{i}\n" for i in range(100)) + "1,2,3\n" + "4,5\n" * 10
    (tmp_path / "a.csv").write_text(text)
    with pytest.raises(ConfigError, match="Expected 2 columns, got 3"):
        Dataset.Tabular.from_delimited_files(str(tmp_path))  # validation reads that far
    dataset = Dataset.Tabular.from_delimited_files(
        str(tmp_path), validate=False, infer_column_types=False
    )
    bad = len(text) - len("4,5\n" * 10) - 3
    batches = [b for b in plan_tabular(dataset, 100, "input") if b.start <= bad < b.stop]
    with pytest.raises(DataError, match=r"a\.csv, bytes \d+-\d+: .*Expected 2 columns, got 3"):
        read_table(batches[0], dataset.read_options())


def test_a_value_that_does_not_fit_the_inferred_type_fails_with_the_fix(tmp_path: Path) -> None:
    text = "a\n" + "1\n" * 1000 + "oops\n"
    (tmp_path / "a.csv").write_text(text)
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path), infer_column_types=True)
    dataset.column_types = {"a": "int64"}
    with pytest.raises(DataError, match=r"conversion error to int64: invalid value 'oops'"):
        read_all(dataset, 1 << 20)


def test_json_lines_by_ranges_with_a_bad_line(tmp_path: Path) -> None:
    lines = [json.dumps({"id": i, "text": f"é\n{i}"}, ensure_ascii=False) for i in range(50)]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    dataset = Dataset.Tabular.from_json_lines_files(str(tmp_path))
    assert [r["id"] for r in rows_of(read_all(dataset, 100))] == list(range(50))
    (tmp_path / "a.jsonl").write_text("\n".join([*lines[:3], "{nope", *lines[3:]]) + "\n")
    with pytest.raises(DataError, match=r"a\.jsonl, bytes 0-\d+: JSON parse error"):
        read_all(dataset, 1 << 20)


def test_arrow_and_pandas_payloads_have_the_same_rows(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [[1, "x"], [None, "y"]], ["n", "s"])
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    (table,) = read_all(dataset, 1 << 20)
    frame = to_pandas(table)
    assert isinstance(frame, pd.DataFrame)
    assert frame["n"].isna().tolist() == [False, True]
    assert table.to_pylist() == [{"n": 1, "s": "x"}, {"n": None, "s": "y"}]


# -- every record exactly once, for random files and sizes ---------------------------------

FIELD = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\",; é日'")),
        st.characters(blacklist_categories=("Cs", "Cc")),
    ),
    max_size=6,
)
ROWS = st.lists(st.lists(FIELD, min_size=3, max_size=3), max_size=20)


def _csv_text(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["a", "b", "c"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, data=st.data())
def test_every_csv_record_lands_in_exactly_one_mini_batch(
    rows: list[list[str]], data: st.DataObject
) -> None:
    content = _csv_text(rows)
    size = data.draw(st.integers(max(1, len(content) // 40), len(content) + 2), label="size")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        path.write_bytes(content)
        dataset = TabularDataset([str(path)], empty_as_string=True, infer_column_types=False)
        read = rows_of(read_all(dataset, size))
    assert [[r["a"], r["b"], r["c"]] for r in read] == rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(st.tuples(st.integers(-(2**40), 2**40), st.text(max_size=8)), max_size=20),
    data=st.data(),
)
def test_every_json_line_lands_in_exactly_one_mini_batch(
    records: list[tuple[int, str]], data: st.DataObject
) -> None:
    text = "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in records)
    content = text.encode("utf-8")
    size = data.draw(st.integers(max(1, len(content) // 40), len(content) + 2), label="size")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.jsonl"
        path.write_bytes(content)
        read = rows_of(read_all(TabularDataset([str(path)], "jsonl"), size))
    assert [(r["id"], r["text"]) for r in read] == records


MULTILINE_FIELD = st.text(alphabet=st.sampled_from(list('ab",\n')), max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(MULTILINE_FIELD, min_size=3, max_size=3), max_size=15), data=st.data()
)
def test_quoted_newlines_are_never_silently_misread(
    rows: list[list[str]], data: st.DataObject
) -> None:
    content = _csv_text(rows)
    size = data.draw(st.integers(max(1, len(content) // 30), len(content) + 2), label="size")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        path.write_bytes(content)
        dataset = TabularDataset([str(path)], empty_as_string=True, infer_column_types=False)
        try:
            read = rows_of(read_all(dataset, size))
        except DataError as e:
            failure = str(e)
        else:
            failure = ""
    # Either every record is right, or a mini-batch fails and says how to fix it.
    if failure:
        assert "support_multi_line=True" in failure
    else:
        assert [[r["a"], r["b"], r["c"]] for r in read] == rows


# -- partitions ----------------------------------------------------------------------------


def make_hive(root: Path) -> None:
    for store in (1, 2):
        for brand in ("a", "b"):
            rows = [[f"{store}{brand}{i}", i] for i in range(3)]
            write_csv(root / f"store={store}" / f"brand={brand}" / "part-0.csv", rows, "xn")
    write_csv(root / "store=1" / "brand=a" / "part-1.csv", [["extra", 9]], "xn")


def test_hive_folders_become_columns_and_key_groups(tmp_path: Path) -> None:
    make_hive(tmp_path)
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    frame = dataset.to_pandas_dataframe()
    assert list(frame.columns) == ["x", "n", "store", "brand"]
    assert len(frame) == 13
    batches = list(plan_keys(dataset, ["store", "brand"], "input"))
    assert [dict(b.partition_key_value) for b in batches] == [
        {"store": "1", "brand": "a"},
        {"store": "1", "brand": "b"},
        {"store": "2", "brand": "a"},
        {"store": "2", "brand": "b"},
    ]
    assert [len(b.files) for b in batches] == [2, 1, 1, 1]
    first = read_table(batches[0], dataset.read_options())
    assert first.column("x").to_pylist() == ["1a0", "1a1", "1a2", "extra"]


def test_keys_win_over_size_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_hive(tmp_path)
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="shardrun"):
        batches = list(
            plan_input(dataset, config(partition_keys=["store"], mini_batch_size="1KB"), "in")
        )
    assert [dict(b.partition_key_value) for b in batches] == [{"store": "1"}, {"store": "2"}]
    assert "partition_keys win" in caplog.text


def test_a_key_missing_from_a_path_is_a_config_error(tmp_path: Path) -> None:
    make_hive(tmp_path)
    write_csv(tmp_path / "loose.csv", [["z", 1]], "xn")
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    with pytest.raises(ConfigError, match=r"loose\.csv has no 'store'.*partition_by"):
        list(plan_keys(dataset, ["store"], "input"))


def test_file_inputs_grouped_by_partition_format(tmp_path: Path) -> None:
    for store, brand, name in [(1, "a", "x"), (1, "a", "y"), (2, "b", "z"), (1, "b", "w")]:
        path = tmp_path / str(store) / brand / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("1\n")
    dataset = Dataset.File.from_files(str(tmp_path), partition_format="{store}/{brand}/{name}.csv")
    assert isinstance(dataset, FileDataset)
    assert dataset_from_spec(dataset.to_spec()).to_spec() == dataset.to_spec()
    batches = list(plan_input(dataset, config(partition_keys=["store", "brand"]), "files"))
    assert [(dict(b.partition_key_value), b.items) for b in batches] == [
        ({"store": "1", "brand": "a"}, 2),
        ({"store": "1", "brand": "b"}, 1),
        ({"store": "2", "brand": "b"}, 1),
    ]
    assert all(b.kind == "files" for b in batches)


def test_partition_by_declares_path_keys_or_writes_a_copy(tmp_path: Path) -> None:
    make_hive(tmp_path / "hive")
    hive = Dataset.Tabular.from_delimited_files(str(tmp_path / "hive"))
    declared = hive.partition_by(["store"])
    assert isinstance(declared, TabularDataset)
    assert declared.partition_keys == ["store"]
    with pytest.raises(ConfigError, match="subset of the partition keys"):
        list(plan_input(declared, config(partition_keys=["brand"]), "input"))

    rows = [[i % 3, f"b{i % 2}", i * 1.5] for i in range(30)]
    write_csv(tmp_path / "flat" / "a.csv", rows, ["store", "brand", "sales"])
    flat = Dataset.Tabular.from_delimited_files(str(tmp_path / "flat"))
    with pytest.raises(ConfigError, match="not in the path"):
        flat.partition_by(["store"])
    copy = flat.partition_by(["store", "brand"], target=str(tmp_path / "copy"), name="sales")
    assert isinstance(copy, TabularDataset)
    assert (copy.format, copy.name, copy.partition_keys) == ("parquet", "sales", ["store", "brand"])
    (folder,) = (tmp_path / "copy").iterdir()  # a fresh sub-folder per call, as in Azure
    assert (folder / "store=0" / "brand=b0").is_dir()
    frame = copy.to_pandas_dataframe().sort_values("sales")
    assert frame["sales"].tolist() == [r[2] for r in rows]
    assert str(frame["store"].dtype) == "Int64"
    assert len(list(plan_keys(copy, ["store", "brand"], "input"))) == 6
    again = flat.partition_by(["store"], target=str(tmp_path / "copy"))
    assert len(list((tmp_path / "copy").iterdir())) == 2
    assert len(again.to_pandas_dataframe()) == len(rows)


# -- mltable inputs ------------------------------------------------------------------------


def test_mltable_file_and_extensions(tmp_path: Path) -> None:
    write_csv(tmp_path / "data" / "a.tsv", [], None)
    (tmp_path / "data" / "a.tsv").write_text("x\ty\n1\t2\n")
    (tmp_path / "MLTable").write_text(
        "paths:\n  - pattern: ./data/*.tsv\ntransformations:\n"
        '  - read_delimited:\n      delimiter: "\\t"\n      header: all_files_same_headers\n'
        "      include_path_column: true\n"
    )
    described = TabularFactory.from_mltable(str(tmp_path))
    assert (described.format, described.separator, described.include_path) == ("csv", "\t", True)
    assert described.to_pandas_dataframe()["y"].tolist() == [2]
    guessed = TabularFactory.from_mltable(str(tmp_path / "data"))
    assert (guessed.format, guessed.separator) == ("csv", "\t")
    (tmp_path / "MLTable").write_text(
        "paths:\n  - file: ./data/a.tsv\ntransformations:\n  - filter: x > 1\n"
    )
    with pytest.raises(ConfigError, match="filter expression 'x > 1' uses 'x', which is not"):
        TabularFactory.from_mltable(str(tmp_path))
    (tmp_path / "data" / "b.bin").write_text("?")
    with pytest.raises(ConfigError, match="cannot be told"):
        TabularFactory.from_mltable(str(tmp_path / "data" / "b.bin"))


def test_mini_batch_descriptor_survives_json(tmp_path: Path) -> None:
    # What the ledger stores is enough for a worker to read the same rows again.
    write_csv(tmp_path / "a.csv", [[i] for i in range(10)], ["a"])
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path))
    batch = next(iter(plan_tabular(dataset, 1 << 20, "input")))
    copy = MiniBatch(**{name: getattr(batch, name) for name in MiniBatch.__slots__})
    assert read_table(copy, json.loads(json.dumps(dataset.read_options()))).num_rows == 10


def test_local_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_csv(tmp_path / "a.csv", [[1]], ["a"])
    monkeypatch.chdir(tmp_path)
    dataset = Dataset.Tabular.from_delimited_files("a.csv")
    assert dataset.paths == (os.path.join(str(tmp_path), "a.csv"),)


def test_fsspec_urls_are_planned_and_read_through_the_filesystem() -> None:
    import fsspec

    memory = fsspec.filesystem("memory")
    root = f"/tables-{os.getpid()}"
    rows = b"".join(b"%d,n%d\n" % (i, i) for i in range(500))
    memory.pipe(f"{root}/csv/store=1/a.csv", b"id,name\n" + rows)
    memory.pipe(f"{root}/csv/_SUCCESS", b"")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(1000))}), buffer, row_group_size=100)
    memory.pipe(f"{root}/pq/x.parquet", buffer.getvalue())
    try:
        table = Dataset.Tabular.from_delimited_files(f"memory://{root}/csv")
        assert table.column_types == {"id": "int64", "name": "string"}
        batches = list(plan_tabular(table, 1000, "input"))
        assert {b.files for b in batches} == {(f"memory://{root.lstrip('/')}/csv/store=1/a.csv",)}
        read = read_all(table, 1000)
        assert len(batches) == len(read) > 3
        assert [r["id"] for r in rows_of(read)] == list(range(500))
        assert {r["store"] for r in rows_of(read)} == {"1"}
        parquet = Dataset.Tabular.from_parquet_files(f"memory://{root}/pq/x.parquet")
        assert [r["id"] for r in rows_of(read_all(parquet, 300))] == list(range(1000))
    finally:
        memory.rm(root, recursive=True)
