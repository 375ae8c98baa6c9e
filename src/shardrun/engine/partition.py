"""Cut an input into mini-batch descriptors, lazily.

A descriptor names data and never holds it. Files are listed, and sorted off the heap, by
:mod:`shardrun.data.listing`; mini-batches come out in a deterministic order: by path.

:func:`plan_input` plans one input of a run: file inputs here, tabular inputs (byte ranges,
row groups, :mod:`shardrun.data.windows`) and ``partition_keys`` (one mini-batch per key
combination, :mod:`shardrun.data.splits`) in the data wing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from shardrun.config.parallel_run import MiniBatchSize, ParallelRunConfig
from shardrun.data.datasets import AbstractDataset, FileDataset
from shardrun.data.listing import iter_files, sorted_unique
from shardrun.data.minibatch import MiniBatch
from shardrun.data.splits import plan_keys
from shardrun.data.tables import TabularDataset
from shardrun.data.windows import plan_table
from shardrun.errors import ConfigError

_log = logging.getLogger("shardrun")


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
    """List, sort and group the files of one file input into mini-batches.

    With a count size, files are not stat'ed: their sizes are planned as 0.
    """
    files = sorted_unique(iter_files(paths, sizes=size.bytes is not None))
    return group_files(files, size, input_name, first_index)


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
    if not isinstance(dataset, FileDataset | TabularDataset):
        raise ConfigError(f"inputs of kind {dataset.kind!r} cannot be planned yet")
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
        return plan_keys(dataset, config.partition_keys, input_name, first_index)
    if isinstance(dataset, FileDataset):
        size = config.mini_batch_size_for("files")
        if size.bytes is None:  # a count: no stat per file (sizes are planned as 0)
            files = dataset.window.apply(sorted_unique(iter_files(dataset.paths, sizes=False)))
            return group_files(files, size, input_name, first_index)
        return group_files(dataset.list_files(), size, input_name, first_index)
    size_bytes = config.mini_batch_size_for("tabular").bytes or 1
    return plan_table(dataset, size_bytes, input_name, first_index)
