"""Listing and grouping file inputs: sorted, deduplicated, lazily."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from shardrun.config.parallel_run import MiniBatchSize
from shardrun.engine.partition import group_files, iter_files, plan_files, sorted_unique
from shardrun.errors import ConfigError


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


def test_globs_lists_and_repeats(tmp_path: Path) -> None:
    make(tmp_path, ["x/a.csv", "x/b.txt", "y/c.csv"])
    paths = [str(tmp_path / "**" / "*.csv"), str(tmp_path / "x" / "a.csv")]
    files = [Path(p).name for p, _size in sorted_unique(iter_files(paths))]
    assert files == ["a.csv", "c.csv"]


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        list(iter_files([str(tmp_path / "nope")]))


def test_grouping_by_bytes_never_splits_a_file() -> None:
    files = [("a", 400), ("b", 400), ("c", 400), ("d", 5000), ("e", 1)]
    batches = list(group_files(files, MiniBatchSize(count=None, bytes=1000), "in"))
    assert [b.files for b in batches] == [("a", "b"), ("c",), ("d",), ("e",)]
    assert [b.size for b in batches] == [800, 400, 5000, 1]


def test_first_index_continues_numbering() -> None:
    batches = list(group_files([("a", 1), ("b", 1)], MiniBatchSize(1, None), "in", first_index=7))
    assert [b.index for b in batches] == [7, 8]


def test_sorting_a_large_listing_does_not_hold_it_in_memory() -> None:
    count = 200_000
    names = (f"/data/{(n * 7919) % count:08d}.png" for n in range(count))
    tracemalloc.start()
    try:
        previous = ""
        seen = 0
        for path, _size in sorted_unique((name, 1) for name in names):
            assert path > previous
            previous = path
            seen += 1
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    # 200,000 paths as Python strings would take over 14 MB.
    assert peak < 8_000_000
