"""Grouping file inputs into mini-batches (listing: tests/data/test_listing.py)."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from pathlib import Path

from shardrun.config.parallel_run import MiniBatchSize
from shardrun.data.minibatch import MiniBatch
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


def _stat_calls(call: Callable[[], object]) -> int:
    """How many times ``call`` stat'ed a folder entry (counted by cProfile, not patched)."""
    profile = cProfile.Profile()
    profile.runcall(call)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return sum(
        v[1] for k, v in stats.items() if k[2] == "<method 'stat' of 'posix.DirEntry' objects>"
    )


def test_a_count_size_reads_no_file_sizes(tmp_path: Path) -> None:
    make(tmp_path, [f"d{d}/{n}.txt" for d in range(3) for n in range(20)], size=7)
    (tmp_path / "broken").symlink_to(tmp_path / "missing")
    (tmp_path / "link.txt").symlink_to(tmp_path / "d0" / "0.txt")
    by_count = MiniBatchSize(count=25, bytes=None)
    batches: list[MiniBatch] = []
    stats = _stat_calls(lambda: batches.extend(plan_files([str(tmp_path)], by_count, "in")))
    assert stats == 3  # the three folders (loop detection), no file
    assert [b.items for b in batches] == [25, 25, 11]  # the link to a file counts, broken not
    assert all(b.size == 0 for b in batches)
    by_bytes = list(plan_files([str(tmp_path)], MiniBatchSize(count=None, bytes=70), "in"))
    assert sum(b.size for b in by_bytes) == 61 * 7
    files = [f for b in batches for f in b.files]
    assert files == [f for b in by_bytes for f in b.files]
