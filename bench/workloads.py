"""The four throughput workloads, described once for every contender.

A :class:`Workload` says what to read (the files, or one table file), how the hand-written
contenders cut it (``pieces``, the same cut shardrun plans), which function of
:mod:`bench.tasks` reads and scores one piece, and which entry script shardrun runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import tasks
from bench.datagen import Data
from bench.scale import Sizes

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@dataclass(frozen=True)
class Workload:
    """One throughput workload.

    Attributes:
        name: ``overhead``, ``images``, ``parquet`` or ``csv``.
        kind: ``"lines"`` (files in, one text line per file out) or ``"table"`` (a table
            file in, ``id``/``label`` rows out).
        items: Files or rows in all.
        source: The folder of files, or the table file.
        pieces: What one Pool task (or one Dask/Ray batch) gets: a list of file paths, or a
            Parquet/CSV piece of :mod:`bench.tasks`.
        task: Reads and scores one piece (a picklable module-level function).
        script: shardrun's entry script for it.
        mini_batch_size: shardrun's ``mini_batch_size``.
        rows_per_batch: For tables: the rows of an average piece (Ray Data's ``batch_size``).
    """

    name: str
    kind: str
    items: int
    source: Path
    pieces: list[Any]
    task: Callable[[Any], Any]
    script: Path
    mini_batch_size: str
    rows_per_batch: int = 0


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if not p.name.startswith("."))


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def build(data: Data, sizes: Sizes) -> list[Workload]:
    """The overhead, images, Parquet and CSV workloads over ``data``."""
    overhead = _files(data.overhead)
    images = _files(data.images)
    target = sizes.table_batch_bytes
    parquet_pieces = tasks.parquet_pieces(data.parquet, target)
    csv_pieces = tasks.csv_pieces(data.csv, target)
    return [
        Workload(
            "overhead",
            "lines",
            len(overhead),
            data.overhead,
            _chunks(overhead, sizes.overhead_batch),
            tasks.read_lines,
            SCRIPTS / "lines.py",
            str(sizes.overhead_batch),
        ),
        Workload(
            "images",
            "lines",
            len(images),
            data.images,
            _chunks(images, sizes.images_batch),
            tasks.score_images,
            SCRIPTS / "digits.py",
            str(sizes.images_batch),
        ),
        Workload(
            "parquet",
            "table",
            sizes.rows,
            data.parquet,
            parquet_pieces,
            tasks.score_parquet_piece,
            SCRIPTS / "table.py",
            sizes.table_batch,
            max(1, sizes.rows // len(parquet_pieces)),
        ),
        Workload(
            "csv",
            "table",
            sizes.rows,
            data.csv,
            csv_pieces,
            tasks.score_csv_piece,
            SCRIPTS / "table.py",
            sizes.table_batch,
            max(1, sizes.rows // len(csv_pieces)),
        ),
    ]
