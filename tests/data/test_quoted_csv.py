"""CSV files whose quoted fields hold line breaks (``support_multi_line=True``) are cut at
record starts (:mod:`shardrun.data.quoted`) into many mini-batches, and read right."""

from __future__ import annotations

import csv
import io
import itertools
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shardrun import Dataset, ParallelRunConfig, RunResult, run_parallel
from shardrun.data.formats import read_table
from shardrun.data.quoted import record_starts
from shardrun.data.splits import plan_tabular
from shardrun.data.tables import TabularDataset
from tests.conftest import SCRIPTS

COMMA = ord(",")


def reference_cuts(
    data: bytes, size: int, delimiter: int = COMMA, header: bool = False
) -> list[int]:
    """What :func:`record_starts` must yield, byte by byte in plain Python."""
    starts: list[int] = []
    quotes = 0
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else -1
    allowed = {delimiter, ord("\n"), ord("\r"), ord('"')}
    for at, byte in enumerate(data):
        if byte == ord('"'):
            if quotes % 2 == 0:
                fits = at == 0 or at == bom or data[at - 1] in allowed
            else:
                fits = at + 1 == len(data) or data[at + 1] in allowed
            if not fits:
                break  # a stray quote: no record start after it is trusted
            quotes += 1
        elif byte == ord("\n"):
            if header and quotes % 2:
                return []  # the header holds a quoted line break
            header = False
            if quotes % 2 == 0 and at + 1 < len(data):
                starts.append(at + 1)
    cuts: list[int] = []
    target = size
    for start in starts:
        if start >= target:
            cuts.append(start)
            target = start + size
    return cuts


def to_csv(rows: list[list[str]], terminator: str) -> bytes:
    """RFC 4180: a field with a quote, comma, CR or LF is quoted, its quotes doubled."""

    def field(text: str) -> str:
        if any(c in text for c in '",\r\n'):
            return '"' + text.replace('"', '""') + '"'
        return text

    return "".join(",".join(map(field, row)) + terminator for row in rows).encode()


def scan(data: bytes, size: int, block: int, **options: Any) -> list[int]:
    return list(record_starts(io.BytesIO(data), len(data), size, COMMA, block=block, **options))


def pieces(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    bounds = [0, *cuts, len(data)]
    for low, high in itertools.pairwise(bounds):
        yield data[low:high]


def parse_all(data: bytes) -> list[list[str]]:
    """Every row of ``data`` as pyarrow reads the whole file (all strings, no header)."""
    if not data.strip(b"\r\n"):
        return []
    if not data.endswith(b"\n"):
        data += b"\n"  # pyarrow cannot count the columns of one unterminated line
    read = pcsv.ReadOptions(autogenerate_column_names=True)
    table = pcsv.read_csv(
        io.BytesIO(data),
        read,
        pcsv.ParseOptions(newlines_in_values=True),
        pcsv.ConvertOptions(column_types={f"f{i}": pa.string() for i in range(64)}),
    )
    return [list(row.values()) for row in table.to_pylist()]


# -- the scanner ---------------------------------------------------------------------------

CRAFTED = (
    b'id,text\r\n1,"one\r\ntwo"\r\n2,"a ""quoted"" word, and\nmore"\r\n3,plain\r\n'
    b'4,""\r\n5,"""\n"""\r\n6,"x,\r\n,y"\r\n7,last'
)


@pytest.mark.parametrize("size", [1, 2, 5, 9, 13, 30, len(CRAFTED) - 10])
def test_cuts_land_on_record_starts_whatever_the_block_edges(size: int) -> None:
    expected = reference_cuts(CRAFTED, size)
    assert expected, "the crafted file must be cut"
    for block in range(1, len(CRAFTED) + 2):
        assert scan(CRAFTED, size, block) == expected, f"block={block}"
    # Every cut follows a CRLF outside quotes; none falls inside a quoted line break.
    assert all(CRAFTED[c - 2 : c] == b"\r\n" for c in expected)
    assert [row for p in pieces(CRAFTED, expected) for row in parse_all(p)] == parse_all(CRAFTED)


def test_a_cut_right_after_a_quoted_line_break_is_not_taken() -> None:
    data = b'a,"x\ny"\nb,c\nd\n'
    # The line feed at byte 4 is inside quotes: the first record start is 8.
    for block in range(1, len(data) + 1):
        assert scan(data, 1, block) == [8, 12]
        assert scan(data, 5, block) == [8]


def test_a_stray_quote_stops_the_cuts_there() -> None:
    data = b'a,b\n1,2\n3,5"\n4,"x\ny"\n5,z\n'
    assert reference_cuts(data, 1) == [4, 8]
    for block in range(1, len(data) + 1):
        assert scan(data, 1, block) == [4, 8]
    # A closing quote followed by text is stray too ("x"y is not a field).
    closing = b'a\n"x"y\n"b\nc"\nd\n'
    assert [scan(closing, 1, block) for block in (1, 3, 64)] == [[2]] * 3


def test_an_unclosed_quote_makes_no_cut_after_it() -> None:
    data = b'a\nb\n"c\nd\ne\n'
    assert scan(data, 1, 4) == [2, 4]
    # The last mini-batch reads what the whole file's last record is: the rest of the file.
    last = pcsv.read_csv(
        io.BytesIO(data[4:]),
        pcsv.ReadOptions(column_names=["a"]),
        pcsv.ParseOptions(newlines_in_values=True),
    )
    assert last.column("a").to_pylist() == ["c\nd\ne\n"]


def test_a_header_with_a_quoted_line_break_is_never_cut() -> None:
    data = b'"i\nd",t\n1,x\n2,y\n'
    assert scan(data, 1, 3, header=True) == []
    assert scan(data, 1, 3) == [8, 12]
    assert scan(b'"id",t\n1,x\n', 1, 2, header=True) == [7]


def test_a_utf8_bom_before_a_quoted_header_is_the_start_of_the_file() -> None:
    data = b'\xef\xbb\xbf"id",t\n1,x\n2,y\n'
    assert [scan(data, 1, block, header=True) for block in (1, 2, 5, 64)] == [[10, 14]] * 4


def test_nothing_is_cut_at_or_after_the_end() -> None:
    assert scan(b"a\nb\n", 1, 1) == [2]
    assert scan(b"a\nb\n", 4, 1) == []
    assert scan(b"", 1, 1) == []


FIELD = st.text(alphabet=st.sampled_from(list('ab",\r\n')), max_size=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(FIELD, min_size=2, max_size=2), max_size=12),
    stray=st.lists(st.integers(0, 10_000), max_size=2),
    crlf=st.booleans(),
    data=st.data(),
)
def test_scan_matches_the_reference_and_pyarrow(
    rows: list[list[str]], stray: list[int], crlf: bool, data: st.DataObject
) -> None:
    content = bytearray(to_csv(rows, "\r\n" if crlf else "\n"))
    for at in stray:  # a quote where a parser may read it as a literal
        content.insert(at % (len(content) + 1), ord('"'))
    text = bytes(content)
    size = data.draw(st.integers(1, len(text) + 2), label="size")
    block = data.draw(st.integers(1, len(text) + 2), label="block")
    header = data.draw(st.booleans(), label="header")
    cuts = scan(text, size, block, header=header)
    assert cuts == reference_cuts(text, size, header=header)
    if not stray:  # well-formed: the pieces read as the whole file does
        assert [row for p in pieces(text, cuts) for row in parse_all(p)] == parse_all(text)


# -- planning and reading ------------------------------------------------------------------


def quoted_rows(count: int, seed: int = 7) -> list[list[Any]]:
    pick = random.Random(seed)
    texts = [
        "first line\nsecond line",
        'she said ""hi"", then left',
        "a, b and c",
        "windows\r\nline break",
        '"\n"',
        "plain",
        "",
        "trailing newline\n",
    ]
    return [
        [i, pick.choice(texts) + f" {i}", f"tail {i % 13}", "x" * pick.randrange(0, 80)]
        for i in range(count)
    ]


def write_quoted(path: Path, rows: list[list[Any]], terminator: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=terminator)
    writer.writerow(["id", "text", "tail", "pad"])
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode())
    return path


def whole_file(path: Path) -> pa.Table:
    strings = {name: pa.string() for name in ("text", "tail", "pad")}
    return pcsv.read_csv(
        path,
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(column_types=strings, strings_can_be_null=False),
    )


def run(dataset: Any, tmp_path: Path, size: str) -> RunResult:
    config = ParallelRunConfig(
        entry_script="tabular.py",
        source_directory=str(SCRIPTS),
        process_count_per_node=2,
        mini_batch_size=size,
        mini_batch_format="arrow",
        append_row_format="parquet",
        environment_variables={"TABULAR_MODE": "arrow"},
    )
    return run_parallel(
        config, dataset, tmp_path / "out", workspace=tmp_path / "ws", show_progress=False
    )


def multi_line(path: Path) -> TabularDataset:
    return Dataset.Tabular.from_delimited_files(
        str(path), support_multi_line=True, empty_as_string=True
    )


@pytest.mark.parametrize("terminator", ["\n", "\r\n"])
def test_a_multi_line_csv_is_split_into_many_mini_batches(tmp_path: Path, terminator: str) -> None:
    path = write_quoted(tmp_path / "data" / "quoted.csv", quoted_rows(40_000), terminator)
    nbytes = path.stat().st_size
    assert nbytes > 2_500_000
    dataset = multi_line(path)
    batches = list(plan_tabular(dataset, 64 << 10, "input"))
    assert len(batches) >= 0.9 * nbytes / (64 << 10)
    data = path.read_bytes()
    assert all(data[b.start - 1 : b.start] == b"\n" for b in batches[1:])
    assert [b.stop for b in batches[:-1]] == [b.start for b in batches[1:]]
    assert batches[-1].stop == -1

    result = run(dataset, tmp_path, "64KB")
    assert result.status == "Completed", result.reason
    assert result.total_mini_batches == len(batches)
    output = pq.read_table(result.output_file)
    expected = whole_file(path)
    assert output.num_rows == expected.num_rows == 40_000
    for name in expected.column_names:
        assert output.column(name).to_pylist() == expected.column(name).to_pylist(), name
    texts = output.column("text").to_pylist()
    assert any("first line\nsecond line" in t for t in texts)
    assert any("\r\nline break" in t for t in texts)
    # Mini-batches came in order: their indices never decrease down the output.
    order = output.column("batch").to_pylist()
    assert order == sorted(order)
    assert len(set(order)) == len(batches)


def test_a_stray_quote_reads_the_rest_of_the_file_as_one_mini_batch(tmp_path: Path) -> None:
    rows = quoted_rows(6_000)
    path = write_quoted(tmp_path / "data" / "stray.csv", rows)
    data = path.read_bytes()
    # 6 inches, unquoted: pyarrow reads the quote as a literal, so parity is off from there.
    line = data.index(b"\n3000,")
    data = data[: line + 1] + b'3000,6",tail,pad\n' + data[line + 1 :]
    path.write_bytes(data)
    dataset = multi_line(path)
    batches = list(plan_tabular(dataset, 16 << 10, "input"))
    # The last cut is the last record start before the stray quote that a target reached.
    assert 0 <= line + 1 - batches[-1].start < (16 << 10) + 1000
    assert len(batches) >= 0.9 * (line / (16 << 10))
    tables = [read_table(batch, dataset.read_options()) for batch in batches]
    read = pa.concat_tables(tables)
    assert read.column("id").to_pylist() == [r[0] for r in rows[:3000]] + [3000] + [
        r[0] for r in rows[3000:]
    ]
    assert read.column("text").to_pylist()[3000] == '6"'
    assert read.column("text").to_pylist()[:10] == whole_file(path).column("text").to_pylist()[:10]

    # The same quote on the first line: the file is one mini-batch, as without the scan.
    early = tmp_path / "early" / "stray.csv"
    early.parent.mkdir()
    early.write_bytes(b'id,text,tail,pad\n0,5",t,p\n' + data[data.index(b"\n") + 1 :])
    assert [(b.start, b.stop) for b in plan_tabular(multi_line(early), 16 << 10, "input")] == [
        (0, -1)
    ]


def test_files_without_quotes_and_small_files(tmp_path: Path) -> None:
    plain = tmp_path / "plain" / "plain.csv"
    plain.parent.mkdir()
    plain.write_text("id,v\n" + "".join(f"{i},{i * 3}\n" for i in range(30_000)))
    dataset = multi_line(plain)
    batches = list(plan_tabular(dataset, 8 << 10, "input"))
    assert len(batches) >= 0.9 * plain.stat().st_size / (8 << 10)
    read = pa.concat_tables([read_table(b, dataset.read_options()) for b in batches])
    assert read.column("v").to_pylist() == [i * 3 for i in range(30_000)]

    small = write_quoted(tmp_path / "small" / "small.csv", quoted_rows(20))
    assert [(b.start, b.stop) for b in plan_tabular(multi_line(small), 1 << 20, "input")] == [
        (0, -1)
    ]


def test_a_delimiter_of_two_bytes_is_not_scanned(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a§b\n" + "".join(f'{i}§"x\n{i}"\n' for i in range(2_000)), encoding="utf-8")
    dataset = Dataset.Tabular.from_delimited_files(
        str(path), separator="§", support_multi_line=True, validate=False, infer_column_types=False
    )
    assert [(b.start, b.stop) for b in plan_tabular(dataset, 1 << 10, "input")] == [(0, -1)]
    # In Latin-1 the same delimiter is one byte: the file is cut.
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    latin = Dataset.Tabular.from_delimited_files(
        str(path),
        separator="§",
        support_multi_line=True,
        encoding="latin1",
        validate=False,
        infer_column_types=False,
    )
    cuts = [b.start for b in plan_tabular(latin, 1 << 10, "input")][1:]
    assert cuts == reference_cuts(path.read_bytes(), 1 << 10, ord("§"), header=True)
    assert len(cuts) > 10


def test_cuts_on_any_block_size_read_every_record_once() -> None:
    rows = quoted_rows(400, seed=3)
    with tempfile.TemporaryDirectory() as folder:
        path = write_quoted(Path(folder) / "q.csv", rows, "\r\n")
        data = path.read_bytes()
        for block in (7, 64, 1000):
            with open(path, "rb") as handle:
                cuts = list(record_starts(handle, len(data), 500, COMMA, header=True, block=block))
            assert cuts == reference_cuts(data, 500, header=True)
        dataset = multi_line(path)
        tables = [read_table(b, dataset.read_options()) for b in plan_tabular(dataset, 500, "x")]
        assert len(tables) > 20
        assert pa.concat_tables(tables).column("id").to_pylist() == list(range(400))


def test_a_headerless_file_without_a_final_line_feed(tmp_path: Path) -> None:
    # The last mini-batch may be one unterminated record: pyarrow cannot count its columns
    # unless the record ends, so the reader ends it.
    path = tmp_path / "h.csv"
    path.write_bytes(b"".join(b'%d,"x\n%d"\n' % (i, i) for i in range(30)) + b'99,"la\nst"')
    expected = [[i, f"x\n{i}"] for i in range(30)] + [[99, "la\nst"]]
    for size in range(4, 60, 3):
        dataset = TabularDataset([str(path)], header=False, support_multi_line=True)
        batches = list(plan_tabular(dataset, size, "input"))
        tables = [read_table(b, dataset.read_options()) for b in batches]
        rows = [[r["Column1"], r["Column2"]] for t in tables for r in t.to_pylist()]
        assert rows == expected, size


class _ReadOnly:
    """A handle with ``read`` and nothing else (no ``readinto``)."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, count: int) -> bytes:
        return self._stream.read(min(count, 3))  # short reads, too


def test_a_handle_without_readinto_is_read_with_read() -> None:
    handle: Any = _ReadOnly(CRAFTED)
    cuts = list(record_starts(handle, len(CRAFTED), 9, COMMA, block=5))
    assert cuts == reference_cuts(CRAFTED, 9)


def test_a_multi_line_csv_on_an_fsspec_url_is_cut_and_read(tmp_path: Path) -> None:
    import fsspec

    rows = quoted_rows(3_000)
    data = write_quoted(tmp_path / "q.csv", rows).read_bytes()
    memory = fsspec.filesystem("memory")
    root = f"/quoted-{tmp_path.name}"
    memory.pipe(f"{root}/q.csv", data)
    try:
        dataset = Dataset.Tabular.from_delimited_files(
            f"memory://{root}/q.csv", support_multi_line=True, empty_as_string=True
        )
        batches = list(plan_tabular(dataset, 8 << 10, "input"))
        assert len(batches) >= 0.9 * len(data) / (8 << 10)
        assert [b.start for b in batches[1:]] == reference_cuts(data, 8 << 10, header=True)
        tables = [read_table(b, dataset.read_options()) for b in batches]
        assert pa.concat_tables(tables).column("id").to_pylist() == list(range(3_000))
    finally:
        memory.rm(root, recursive=True)
