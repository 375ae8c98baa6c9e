"""The issue's targets table: each figure computed from the outcomes, with PASS or MISS.

Targets are ratios where possible, so that they hold on a noisy machine. The two absolute
planning targets are for 1,000,000 files; at ``SCALE`` < 1 the seconds target is scaled
with the file count (the RSS target is not). A figure whose inputs are missing or wrong is
``n/a`` with the reason, never a PASS.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench.outcome import Outcome

AT_MOST, AT_LEAST = "<=", ">="
_OPS: dict[str, Callable[[float, float], bool]] = {AT_MOST: operator.le, AT_LEAST: operator.ge}


@dataclass
class Figure:
    """One row of the targets table."""

    key: str
    label: str
    value: float | None
    op: str
    target: float
    unit: str = ""
    note: str = ""

    @property
    def status(self) -> str:
        """PASS, MISS, or n/a when there is no value."""
        if self.value is None:
            return "n/a"
        return "PASS" if _OPS[self.op](self.value, self.target) else "MISS"

    def to_dict(self) -> dict[str, Any]:
        """For the JSON file."""
        return {**asdict(self), "status": self.status}


Pair = tuple[str, str]  # (contender, workload)

#: The figures that are one outcome's seconds or throughput over another's:
#: (key, label, top, bottom, of, op, target), in the order of the targets table.
RATIOS: list[tuple[str, str, Pair, Pair, str, str, float]] = [
    (
        "overhead_vs_pool",
        "overhead: shardrun wall / Pool wall",
        ("shardrun", "overhead"),
        ("pool", "overhead"),
        "seconds",
        AT_MOST,
        1.25,
    ),
    (
        "overhead_ray_vs_shardrun",
        "overhead: Ray Data wall / shardrun wall",
        ("ray_data", "overhead"),
        ("shardrun", "overhead"),
        "seconds",
        AT_LEAST,
        5,
    ),
    *[
        (
            f"{name}_vs_ray",
            f"{name}: shardrun throughput / Ray Data throughput",
            ("shardrun", name),
            ("ray_data", name),
            "throughput",
            AT_LEAST,
            1.3,
        )
        for name in ("images", "parquet", "csv")
    ],
    (
        "ray2_vs_local",
        "images: shardrun on 2-node Ray / shardrun local",
        ("shardrun_ray2", "images"),
        ("shardrun", "images"),
        "throughput",
        AT_LEAST,
        0.85,
    ),
]


class _Outcomes:
    def __init__(self, outcomes: list[Outcome]) -> None:
        self.by = {(o.contender, o.workload): o for o in outcomes}

    def get(self, contender: str, workload: str) -> Outcome | None:
        return self.by.get((contender, workload))

    def why_not(self, *pairs: Pair) -> str:
        for contender, workload in pairs:
            o = self.get(contender, workload)
            if o is None:
                return f"{contender} not run"
            if not o.valid:
                return f"{contender}: {o.error or 'no time'}"
        return ""

    def ratio(self, top: Pair, bottom: Pair, of: str) -> tuple[float | None, str]:
        reason = self.why_not(top, bottom)
        if reason:
            return None, reason
        a, b = self.get(*top), self.get(*bottom)
        assert a is not None
        assert b is not None
        x, y = getattr(a, of), getattr(b, of)
        return (x / y if x and y else None), ""

    def figure(
        self, key: str, label: str, top: Pair, bottom: Pair, of: str, op: str, target: float
    ) -> Figure:
        """One row of :data:`RATIOS`, measured."""
        value, note = self.ratio(top, bottom, of)
        return Figure(key, label, value, op, target, note=note)


def compute(
    outcomes: list[Outcome], engine: dict[str, dict[str, Any]], scale: float, processes: int
) -> list[Figure]:
    """Every figure of the targets table."""
    o = _Outcomes(outcomes)
    figures: list[Figure] = []

    figures.extend(o.figure(*row) for row in RATIOS[:2])
    for name in ("images", "parquet", "csv"):
        reason = o.why_not(("shardrun", name), ("raw", name))
        value = None
        if not reason:
            ours, raw = o.get("shardrun", name), o.get("raw", name)
            assert ours is not None
            assert raw is not None
            if ours.throughput and raw.throughput:
                value = ours.throughput / (processes * raw.throughput)
        figures.append(
            Figure(
                f"{name}_efficiency",
                f"{name}: shardrun throughput / (P x single-process throughput)",
                value,
                AT_LEAST,
                0.90,
                note=reason,
            )
        )
    figures.extend(o.figure(*row) for row in RATIOS[2:5])

    missing = {"error": "not measured"}
    sched = engine.get("scheduler", missing)
    figures.append(
        Figure(
            "scheduler",
            f"scheduler: no-op mini-batches per second, {processes} workers",
            sched.get("per_second"),
            AT_LEAST,
            3000,
            "mini-batches/s",
            sched.get("error", ""),
        )
    )
    plan = engine.get("planning", missing)
    files = f"{plan['files']:,} files" if "files" in plan else "files"
    figures.append(
        Figure(
            "planning_seconds",
            f"planning {files}: seconds",
            plan.get("seconds"),
            AT_MOST,
            round(15 * scale, 3),
            "s",
            plan.get("error", "") or (f"target 15 s x SCALE {scale:g}" if scale != 1 else ""),
        )
    )
    figures.append(
        Figure(
            "planning_rss",
            f"planning {files}: driver peak RSS",
            plan.get("peak_rss_mb"),
            AT_MOST,
            300,
            "MB",
            plan.get("error", ""),
        )
    )
    start = engine.get("startup", missing)
    figures.append(
        Figure(
            "startup",
            "startup: shardrun run -> first finished mini-batch - init()",
            start.get("seconds"),
            AT_MOST,
            1.0,
            "s",
            start.get("error", ""),
        )
    )
    quoted = engine.get("quoted_csv", {})
    if not quoted:
        quoted_note = "not measured"
    elif "error" in quoted:
        quoted_note = quoted["error"]
    else:
        quoted_note = f"{quoted['mini_batches']} planned for {quoted['expected']:.1f} expected"
        if "mb_per_second" in quoted:
            quoted_note += f", scanned at {quoted['mb_per_second']:,.0f} MB/s"
    figures.append(
        Figure(
            "quoted_csv",
            "quoted CSV: mini-batches planned / (size / mini_batch_size)",
            quoted.get("ratio"),
            AT_LEAST,
            0.9,
            note=quoted_note,
        )
    )
    figures.append(o.figure(*RATIOS[5]))
    return figures
