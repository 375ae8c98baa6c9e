"""What one contender did on one workload: its time, its output, and whether it was right."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.checks import check_file


@dataclass
class Outcome:
    """One contender on one workload.

    Attributes:
        contender: ``shardrun``, ``pool``, ``ray_data``, ``dask``, ``shardrun_ray2`` or ``raw``.
        workload: The workload's name.
        items: Files or rows processed.
        seconds: Wall-clock seconds, process start-up included; None if it did not run.
        output: The output file that was checked.
        error: Why the time does not count (a wrong output, a failure, "n/a ..."), or "".
        extra: Anything else worth keeping (e.g. Ray's ``init`` seconds).
    """

    contender: str
    workload: str
    items: int
    seconds: float | None = None
    output: str | None = None
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """The run finished and its output matched the reference."""
        return self.seconds is not None and not self.error

    @property
    def throughput(self) -> float | None:
        """Items per second, if the time counts."""
        return self.items / self.seconds if self.valid and self.seconds else None

    def check(self, kind: str, reference: pd.DataFrame) -> Outcome:
        """Compare the output with ``reference``; a difference becomes ``error``."""
        if self.seconds is not None and not self.error:
            problem = check_file(Path(self.output) if self.output else None, kind, reference)
            if problem:
                self.error = f"wrong output: {problem}"
        return self

    def to_dict(self) -> dict[str, Any]:
        """For the JSON file."""
        return {**asdict(self), "throughput": self.throughput, "valid": self.valid}
