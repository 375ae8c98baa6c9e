"""Listing files: recursive, globbed, sorted off the heap, any file name, loops skipped."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from shardrun.data.listing import iter_files, sorted_unique
from shardrun.errors import ConfigError


def make(folder: Path, names: list[str], size: int = 1) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)


def test_globs_lists_and_repeats(tmp_path: Path) -> None:
    make(tmp_path, ["x/a.csv", "x/b.txt", "y/c.csv"])
    paths = [str(tmp_path / "**" / "*.csv"), str(tmp_path / "x" / "a.csv")]
    files = [Path(p).name for p, _size in sorted_unique(iter_files(paths))]
    assert files == ["a.csv", "c.csv"]


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        list(iter_files([str(tmp_path / "nope")]))


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
