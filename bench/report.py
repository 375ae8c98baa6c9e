"""The outputs of a benchmark run: the printed tables, ``latest.json`` and ``latest.png``."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench.outcome import Outcome
from bench.scale import Sizes
from bench.targets import Figure

CONTENDERS = ("raw", "shardrun", "pool", "ray_data", "dask", "shardrun_ray2")
WORKLOADS = ("overhead", "images", "parquet", "csv")


def _value(figure: Figure) -> str:
    if figure.value is None:
        return "-"
    return f"{figure.value:,.0f}" if abs(figure.value) >= 100 else f"{figure.value:.2f}"


def targets_table(figures: list[Figure]) -> str:
    """The targets table: figure, value, target, PASS/MISS/n/a, note."""
    rows = [("figure", "value", "target", "status", "note")]
    for f in figures:
        target = f"{f.op} {f.target:g}{(' ' + f.unit) if f.unit else ''}"
        rows.append((f.label, _value(f), target, f.status, f.note[:70]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append("  ".join(cells) + ("  " + row[4] if row[4] else ""))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def contenders_table(outcomes: list[Outcome]) -> str:
    """Seconds and throughput of every contender on every workload (or why not)."""
    by = {(o.contender, o.workload): o for o in outcomes}
    lines = [f"{'workload':9s} " + " ".join(f"{c:>22s}" for c in CONTENDERS)]
    for workload in WORKLOADS:
        cells = []
        for contender in CONTENDERS:
            o = by.get((contender, workload))
            if o is None:
                cells.append(f"{'not run':>22s}")
            elif o.valid and o.seconds and o.throughput:
                cells.append(f"{o.seconds:7.2f} s {o.throughput:10,.0f}/s")
            else:
                cells.append(f"{(o.error or 'no time')[:22]:>22s}")
        lines.append(f"{workload:9s} " + " ".join(cells))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where it ran: CPUs, load, Python, and the libraries' versions."""
    versions: dict[str, str] = {}
    for name in ("ray", "dask", "pyarrow", "onnxruntime", "pandas"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = "not installed"
    return {
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def write_json(
    path: Path,
    sizes: Sizes,
    outcomes: list[Outcome],
    engine: dict[str, Any],
    figures: list[Figure],
    note: str,
) -> None:
    """``latest.json``: sizes, machine, every outcome, the engine figures and the table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": note,
        "sizes": sizes.to_dict(),
        "machine": machine(),
        "outcomes": [o.to_dict() for o in outcomes],
        "engine": engine,
        "figures": [f.to_dict() for f in figures],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def draw_chart(path: Path, outcomes: list[Outcome], title: str, processes: int) -> bool:
    """``latest.png``: throughput per contender, one panel per workload (log scale), with
    the ideal (P x single-process throughput) as a dashed line; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    by = {(o.contender, o.workload): o for o in outcomes}
    figure, axes = plt.subplots(1, len(WORKLOADS), figsize=(4 * len(WORKLOADS), 4.2))
    for ax, workload in zip(axes, WORKLOADS, strict=True):
        names, values, labels = [], [], []
        for contender in CONTENDERS[1:]:
            o = by.get((contender, workload))
            if o is None:
                continue
            names.append(contender)
            values.append(o.throughput or 0.0)
            labels.append(f"{o.throughput:,.0f}" if o.throughput else "n/a")
        bars = ax.bar(range(len(names)), values, color="#4c72b0")
        for bar, label in zip(bars, labels, strict=True):
            ax.annotate(
                label,
                (bar.get_x() + bar.get_width() / 2, max(bar.get_height(), 1.0)),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        raw = by.get(("raw", workload))
        if raw is not None and raw.throughput:
            ideal = processes * raw.throughput
            ax.axhline(ideal, color="#c44e52", linestyle="--", linewidth=1)
            ax.annotate(
                f"P x 1 process: {ideal:,.0f}", (0, ideal), fontsize=7, va="bottom", color="#c44e52"
            )
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        unit = "rows/s" if workload in ("parquet", "csv") else "files/s"
        ax.set_title(workload)
        ax.set_ylabel(unit)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
