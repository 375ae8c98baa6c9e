"""Encoding results, spill files and the ordered merge."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from shardrun.engine.messages import Part
from shardrun.engine.writer import Syncer, atomic_write, merge
from shardrun.worker.results import SpillFile, encode, result_length

FRAME = pd.DataFrame({"file": ["a.png", "b.png"], "score": [0.25, 1.5]})


def test_text_is_azures_format() -> None:
    assert encode(["a: 1", 2, ("t", 3)], "text") == (b"a: 1\n2\n('t', 3)\n", None)
    data, columns = encode(FRAME, "text")
    assert data == b"a.png 0.25\nb.png 1.5\n"
    assert columns == ("file", "score")


def test_csv_and_jsonl_formats() -> None:
    assert encode(FRAME, "csv") == (b"a.png,0.25\nb.png,1.5\n", ("file", "score"))
    assert encode(["x,y", 'q"'], "csv")[0] == b'"x,y"\n"q"""\n'
    assert (
        encode(FRAME, "jsonl")[0]
        == b'{"file":"a.png","score":0.25}\n{"file":"b.png","score":1.5}\n'
    )
    assert encode([{"a": 1}, "s"], "jsonl")[0] == b'{"a": 1}\n"s"\n'


def test_result_length_accepts_only_lists_tuples_and_frames() -> None:
    assert result_length([1, 2]) == 2
    assert result_length((1,)) == 1
    assert result_length(FRAME) == 2
    with pytest.raises(TypeError, match="got dict"):
        result_length({"a": 1})


def spill(tmp_path: Path, chunks: list[bytes]) -> list[Part]:
    file = SpillFile(tmp_path / "parts" / "w.spill")
    parts = [file.append(chunk) for chunk in chunks]
    file.close()
    syncer = Syncer()
    syncer.sync(parts)
    syncer.close()
    return parts


def test_merge_follows_the_given_order_and_skips_unlisted_bytes(tmp_path: Path) -> None:
    parts = spill(tmp_path, [b"second\n", b"abandoned attempt\n", b"first\n"])
    out = tmp_path / "out.txt"
    assert merge(lambda: [(0, parts[2], None), (1, parts[0], None)], out, "text") == 2
    assert out.read_text() == "first\nsecond\n"


def test_merge_writes_one_header(tmp_path: Path) -> None:
    data, columns = encode(FRAME, "csv")
    parts = spill(tmp_path, [data, data])
    out = tmp_path / "out.csv"
    merge(lambda: [(0, parts[0], columns), (1, parts[1], columns)], out, "csv")
    assert pd.read_csv(out).shape == (4, 2)
    text_out = tmp_path / "out.txt"
    text, _ = encode(FRAME, "text")
    merge(lambda: [(0, spill(tmp_path, [text])[0], columns)], text_out, "text", header=True)
    assert text_out.read_text().splitlines()[0] == "file score"


def test_parquet_parts_merge_into_one_file(tmp_path: Path) -> None:
    first, columns = encode(FRAME, "parquet")
    second, _ = encode(FRAME.iloc[:1], "parquet")
    parts = spill(tmp_path, [first, second])
    out = tmp_path / "out.parquet"
    merge(lambda: [(0, parts[0], columns), (1, parts[1], columns)], out, "parquet")
    table = pq.read_table(out)
    assert table.column("file").to_pylist() == ["a.png", "b.png", "a.png"]


def test_parquet_merge_promotes_types_that_differ_between_parts(tmp_path: Path) -> None:
    ints, columns = encode(pd.DataFrame({"id": [1, 2], "score": [None, None]}), "parquet")
    floats, _ = encode(pd.DataFrame({"id": [3], "score": [0.5]}), "parquet")
    parts = spill(tmp_path, [ints, floats])
    out = tmp_path / "out.parquet"
    merge(lambda: [(0, parts[0], columns), (1, parts[1], columns)], out, "parquet")
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == [1, 2, 3]
    assert table.column("score").to_pylist() == [None, None, 0.5]


def test_atomic_write_leaves_nothing_on_error(tmp_path: Path) -> None:
    def fail_halfway() -> None:
        with atomic_write(tmp_path / "f.txt", "w") as handle:
            handle.write("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_halfway()
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_spill_file_is_an_error(tmp_path: Path) -> None:
    (part,) = spill(tmp_path, [b"abc\n"])
    bad = Part(part.path, part.offset, 100)
    with pytest.raises(OSError, match="shorter than the ledger says"):
        merge(lambda: [(0, bad, None)], tmp_path / "out.txt", "text")
