"""Cut an input into mini-batch descriptors, lazily.

A descriptor names data and never holds it. Listing an input streams ``(path, size)``
pairs; they are sorted outside Python's memory (a temporary SQLite database spills to disk),
so that a million-file folder never sits in memory as a million Python objects, and the
mini-batches come out in a deterministic order: sorted by path.

:func:`plan_input` plans one input of a run: file inputs here, tabular inputs (byte ranges,
row groups) and ``partition_keys`` (one mini-batch per key combination) in
:mod:`shardrun.data.splits`.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

from shardrun.config.parallel_run import MiniBatchSize, ParallelRunConfig
from shardrun.data.datasets import AbstractDataset, FileDataset
from shardrun.engine.messages import MiniBatch
from shardrun.errors import ConfigError
from shardrun.workspace.datastores import is_url, iter_remote

_log = logging.getLogger("shardrun")


def iter_files(paths: Iterable[str]) -> Iterator[tuple[str, int]]:
    """Stream ``(path, size)`` for every file that ``paths`` name.

    A path may be a file, a folder (listed recursively) or a glob (``**`` recurses), local
    or any fsspec URL. Local results are absolute paths.

    Raises:
        ConfigError: A path that is not a glob does not exist.
    """
    for path in paths:
        if is_url(path):
            try:
                yield from iter_remote(path)
            except FileNotFoundError:
                raise ConfigError(
                    f"input path {path!r} does not exist; give a file, a folder or a glob"
                ) from None
        else:
            yield from _iter_local(path.removeprefix("file://"))


def _iter_local(path: str) -> Iterator[tuple[str, int]]:
    path = os.path.abspath(os.path.expanduser(path))
    if any(c in path for c in "*?["):
        for match in glob.iglob(path, recursive=True):
            if os.path.isdir(match):
                yield from _walk_local(match)
            else:
                yield match, os.stat(match).st_size
    elif os.path.isdir(path):
        yield from _walk_local(path)
    elif os.path.isfile(path):
        yield path, os.stat(path).st_size
    else:
        raise ConfigError(f"input path {path!r} does not exist; give a file, a folder or a glob")


def _walk_local(folder: str) -> Iterator[tuple[str, int]]:
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir():
                    stack.append(entry.path)
                elif entry.is_file():
                    yield entry.path, entry.stat().st_size


@contextmanager
def scratch_db(prefix: str) -> Iterator[sqlite3.Connection]:
    """A throwaway SQLite database on disk (no journal, no fsync), removed afterwards.

    Used to sort and group listings larger than memory. Inside a generator, the removal
    also runs when an abandoned generator is collected.
    """
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        db = sqlite3.connect(os.path.join(tmp, "scratch.sqlite"))
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            yield db
        finally:
            db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sorted_unique(
    files: Iterable[tuple[str, int]], chunk: int = 10_000
) -> Iterator[tuple[str, int]]:
    """Sort ``(path, size)`` pairs by path and drop repeats, spilling to a temporary file."""
    with scratch_db("shardrun-sort-") as db:
        db.execute("CREATE TABLE f (path TEXT PRIMARY KEY, size INTEGER) WITHOUT ROWID")
        iterator = iter(files)
        while rows := list(islice(iterator, chunk)):
            db.executemany("INSERT OR IGNORE INTO f VALUES (?, ?)", rows)
            db.commit()
        yield from db.execute("SELECT path, size FROM f ORDER BY path")


def group_files(
    files: Iterable[tuple[str, int]],
    size: MiniBatchSize,
    input_name: str,
    first_index: int = 0,
) -> Iterator[MiniBatch]:
    """Group sorted files into mini-batches of ``size.count`` files or about ``size.bytes``.

    With a byte size, files are added until the next one would pass the size; a file larger
    than the size is a mini-batch of its own.
    """
    index = first_index
    batch: list[str] = []
    batch_bytes = 0
    for path, nbytes in files:
        full = size.count is not None and len(batch) >= size.count
        over = size.bytes is not None and batch and batch_bytes + nbytes > size.bytes
        if full or over:
            yield MiniBatch(index, input_name, tuple(batch), len(batch), batch_bytes)
            index += 1
            batch, batch_bytes = [], 0
        batch.append(path)
        batch_bytes += nbytes
    if batch:
        yield MiniBatch(index, input_name, tuple(batch), len(batch), batch_bytes)


def plan_files(
    paths: Iterable[str], size: MiniBatchSize, input_name: str, first_index: int = 0
) -> Iterator[MiniBatch]:
    """List, sort and group the files of one file input into mini-batches."""
    return group_files(sorted_unique(iter_files(paths)), size, input_name, first_index)


def list_files(dataset: FileDataset) -> Iterator[tuple[str, int]]:
    """``(path, size)`` of a file dataset's files in path order, ``take``/``skip`` applied.

    Every file is listed and sorted first (spilling to disk), then the window is cut.
    """
    return dataset.window.apply(sorted_unique(iter_files(dataset.paths)))


def plan_input(
    dataset: AbstractDataset, config: ParallelRunConfig, input_name: str, first_index: int = 0
) -> Iterator[MiniBatch]:
    """Plan one input of a run: the mini-batches of ``dataset``, numbered from ``first_index``.

    With ``partition_keys``, one mini-batch per distinct combination of key values (see
    :mod:`shardrun.data.splits`); ``mini_batch_size`` is then ignored, with a warning, as in
    Azure's v2 parallel job. Otherwise files are grouped by count (or bytes), and tabular
    data is cut into pieces of about ``mini_batch_size`` bytes. ``take()`` and ``skip()``
    apply here: to the sorted files, or to the records (see :mod:`shardrun.data.windows`).
    """
    from shardrun.data import splits
    from shardrun.data.tables import TabularDataset
    from shardrun.data.windows import plan_table

    if config.partition_keys:
        if not dataset.window.whole:
            raise ConfigError(
                f"{dataset!r} was cut with take() or skip(), which cannot be combined with "
                "partition_keys yet; drop one of them",
                parameter="partition_keys",
            )
        if config.mini_batch_size is not None:
            _log.warning(
                "partition_keys %s and mini_batch_size %r are both set: partition_keys win, "
                "one mini-batch per distinct key combination",
                config.partition_keys,
                config.mini_batch_size,
            )
        return splits.plan_keys(dataset, config.partition_keys, input_name, first_index)
    if isinstance(dataset, FileDataset):
        size = config.mini_batch_size_for("files")
        return group_files(list_files(dataset), size, input_name, first_index)
    if isinstance(dataset, TabularDataset):
        size_bytes = config.mini_batch_size_for("tabular").bytes or 1
        return plan_table(dataset, size_bytes, input_name, first_index)
    raise ConfigError(f"inputs of kind {dataset.kind!r} cannot be planned yet")
