"""Grouping file inputs into mini-batches (listing: tests/data/test_listing.py)."""

from __future__ import annotations

from pathlib import Path

from shardrun.config.parallel_run import MiniBatchSize
from shardrun.engine.partition import group_files, plan_files


def make(folder: Path, names: list[str], size: int = 1) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)


def test_folders_are_listed_recursively_and_sorted(tmp_path: Path) -> None:
    make(tmp_path, ["b/2.png", "a/1.png", "a/10.png", "c.png"])
    batches = list(plan_files([str(tmp_path)], MiniBatchSize(count=2, bytes=None), "images"))
    assert [[Path(f).relative_to(tmp_path).as_posix() for f in b.files] for b in batches] == [
        ["a/1.png", "a/10.png"],
        ["b/2.png", "c.png"],
    ]
    assert [b.index for b in batches] == [0, 1]
    assert all(b.input_name == "images" and b.items == 2 for b in batches)


def test_grouping_by_bytes_never_splits_a_file() -> None:
    files = [("a", 400), ("b", 400), ("c", 400), ("d", 5000), ("e", 1)]
    batches = list(group_files(files, MiniBatchSize(count=None, bytes=1000), "in"))
    assert [b.files for b in batches] == [("a", "b"), ("c",), ("d",), ("e",)]
    assert [b.size for b in batches] == [800, 400, 5000, 1]


def test_first_index_continues_numbering() -> None:
    batches = list(group_files([("a", 1), ("b", 1)], MiniBatchSize(1, None), "in", first_index=7))
    assert [b.index for b in batches] == [7, 8]
