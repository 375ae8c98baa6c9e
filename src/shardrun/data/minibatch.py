"""The mini-batch descriptor: what one call of ``run()`` covers, named and never held.

Planning (:mod:`shardrun.data.splits`, :mod:`shardrun.data.windows`,
:mod:`shardrun.engine.partition`) makes them, the ledger stores them, and a worker reads the
data they name (:mod:`shardrun.data.formats`). :mod:`shardrun.engine.messages` carries them
to workers inside a ``Task``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How a mini-batch's data is named: a list of files, or a slice of one tabular file.
BatchKind = Literal["files", "csv", "jsonl", "parquet"]


@dataclass(frozen=True, slots=True)
class MiniBatch:
    """One call of ``run()``: it names its data and never holds it.

    Attributes:
        index: Position in dataset order; the append_row file follows it.
        input_name: The input (dataset) this mini-batch was cut from.
        kind: ``"files"`` (``run`` gets a list of local paths) or a tabular format.
        files: The files, in order. A tabular mini-batch names exactly one file.
        items: Items known when planning (files), or -1 when only the worker can count
            them (records of a byte range).
        size: Bytes of data this mini-batch covers, as planned.
        start: Tabular only: first byte (csv/jsonl) or first row (parquet).
        stop: Tabular only: end byte or end row, exclusive; -1 means the end of the file.
        row_groups: Parquet only: the row groups to read.
        partition_key_value: The ``partition_keys`` values of this mini-batch, if any.
    """

    index: int
    input_name: str
    files: tuple[str, ...]
    items: int
    size: int = 0
    kind: BatchKind = "files"
    start: int = 0
    stop: int = -1
    row_groups: tuple[int, ...] = ()
    partition_key_value: tuple[tuple[str, str], ...] = ()
