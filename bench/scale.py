"""The sizes of every workload, scaled by ``SCALE`` (1.0: the issue's sizes)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Sizes:
    """How much data each workload gets, and how many worker processes every contender uses.

    Attributes:
        scale: The factor applied to the issue's sizes.
        processes: Worker processes, the same for every contender.
        overhead_files: Tiny files of the overhead workload (10 per mini-batch).
        images: PNG digits of the images workload (100 per mini-batch).
        rows: Rows of the tabular workload (Parquet and CSV, ``"8MB"`` mini-batches).
        planning_files: Empty files listed and planned into the ledger.
        quoted_csv_bytes: Size of the CSV with quoted line breaks.
        scheduler_batches: Mini-batches of the no-op scheduler run (one file each).
    """

    scale: float
    processes: int
    overhead_files: int
    images: int
    rows: int
    planning_files: int
    quoted_csv_bytes: int
    scheduler_batches: int

    overhead_batch: int = 10
    images_batch: int = 100
    table_batch: str = "8MB"

    @classmethod
    def from_scale(cls, scale: float, processes: int = 2) -> Sizes:
        """The issue's sizes times ``scale`` (each at least a handful)."""
        if not scale > 0:
            raise ValueError(f"SCALE must be a positive number; got {scale!r}")
        return cls(
            scale=scale,
            processes=processes,
            overhead_files=max(100, round(200_000 * scale)),
            images=max(200, round(60_000 * scale)),
            rows=max(20_000, round(5_000_000 * scale)),
            planning_files=max(1_000, round(1_000_000 * scale)),
            quoted_csv_bytes=max(1 << 20, round((1 << 30) * scale)),
            scheduler_batches=max(200, round(20_000 * scale)),
        )

    @classmethod
    def from_env(cls) -> Sizes:
        """From ``SCALE`` and ``BENCH_PROCESSES`` (default 1.0 and 2)."""
        return cls.from_scale(
            float(os.environ.get("SCALE", "1") or 1), int(os.environ.get("BENCH_PROCESSES", "2"))
        )

    @property
    def table_batch_bytes(self) -> int:
        """``table_batch`` in bytes (``"8MB"``: 8 MiB)."""
        return int(self.table_batch.removesuffix("MB")) << 20

    def to_dict(self) -> dict[str, Any]:
        """For the JSON file."""
        return asdict(self)
