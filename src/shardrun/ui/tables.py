"""Run history in the terminal: the ``runs`` table, ``show``'s summary, ``logs``' output.

Run ids are never cut: the id column keeps its full width and the other columns shrink,
wrap or drop their decoration first (the table fits 80 columns for ids up to ~40
characters).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shardrun.engine import history, readback
from shardrun.engine.history import RunSummary


def duration_text(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def started_text(timestamp: float | None) -> str:
    """Local time, the date only when it is not today."""
    if not timestamp:
        return ""
    if time.strftime("%Y-%m-%d", time.localtime(timestamp)) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M:%S", time.localtime(timestamp))
    return time.strftime("%m-%d %H:%M", time.localtime(timestamp))


def progress_text(run: RunSummary) -> str:
    """``12/40 30%``."""
    return f"{run.finished}/{run.total} {run.progress:.0%}" if run.total else "-"


#: Columns given up, in this order, when the table is wider than the terminal.
DROPPED_FIRST = ("started", "experiment", "items/s", "time")


def print_runs(runs: Iterable[RunSummary], console: Console) -> None:
    """The ``shardrun runs`` table: ids whole, fewer columns on a narrow terminal."""
    runs = list(runs)
    if not runs:
        console.print("no runs yet")
        return
    rows = [
        {
            "run": run.run_id,
            "experiment": run.experiment,
            "status": run.status,
            "progress": progress_text(run),
            "items/s": f"{run.items_per_second:,.1f}",
            "failed": str(run.failed_items),
            "started": started_text(run.started or run.created),
            "time": duration_text(run.duration),
        }
        for run in runs
    ]
    columns = [c for c in rows[0] if c != "experiment" or any(r[c] for r in rows)]
    for name in DROPPED_FIRST:
        if _width(columns, rows) <= console.width:
            break
        if name in columns:
            columns.remove(name)
    console.print(_table(columns, rows), overflow="ignore", crop=False)


def _width(columns: list[str], rows: list[dict[str, str]]) -> int:
    widths = [max(len(name), *(len(row[name]) for row in rows)) for name in columns]
    return sum(widths) + 2 * (len(columns) - 1)


def _table(columns: list[str], rows: list[dict[str, str]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    right = {"progress", "items/s", "failed", "time"}
    for name in columns:
        widest = max(len(row[name]) for row in rows) if name == "run" else None
        table.add_column(
            name, no_wrap=True, min_width=widest, justify="right" if name in right else "left"
        )
    for row in rows:
        table.add_row(*(row[name] for name in columns))
    return table


def runs_json(runs: Iterable[RunSummary]) -> str:
    """``shardrun runs --json``: a list of summaries."""
    return json.dumps([r.to_dict() for r in runs], indent=2)


def print_show(run_dir: Path, record: dict[str, Any], console: Console) -> None:
    """``shardrun show``: one screen about one run."""
    workspace = Path(str(record.get("workspace") or run_dir.parent.parent))
    run = history.summarise(run_dir, record, history.experiments(workspace).get(run_dir.name, ""))
    console.print(f"[bold]{run.run_id}[/]  {run.status}", highlight=False)
    lines = [
        ("experiment", run.experiment or "-"),
        ("mini-batches", _batches(run)),
        ("items", f"{run.succeeded_items:,} succeeded, {run.failed_items:,} failed"),
        ("throughput", f"{run.items_per_second:,.1f} items/s"),
        ("started", _when(run.started)),
        ("duration", duration_text(run.duration)),
    ]
    if run.eta_seconds is not None:
        lines.append(("ETA", duration_text(run.eta_seconds)))
    if run.reason:
        lines.append(("reason", run.reason))
    lines += [("output", run.output or "-"), ("run folder", str(run_dir))]
    for key, value in lines:
        console.print(f"  {key:<13}{value}", highlight=False, soft_wrap=True)
    _print_inputs(record, console)
    _print_config(record, console)
    _print_errors(run_dir, console)


def _batches(run: RunSummary) -> str:
    parts = [f"{run.total} total", f"{run.done} done", f"{run.failed} failed"]
    if run.running:
        parts.append(f"{run.running} running")
    if run.pending:
        parts.append(f"{run.pending} pending")
    return ", ".join(parts) + f" ({run.progress:.0%})"


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "-"


def _print_inputs(record: dict[str, Any], console: Console) -> None:
    console.print("[bold]inputs[/]")
    for item in record.get("inputs", []):
        spec = item.get("dataset", {})
        where = spec.get("paths") or spec.get("path") or spec.get("name") or ""
        if isinstance(where, list):
            where = ", ".join(map(str, where[:3])) + (" ..." if len(where) > 3 else "")
        console.print(f"  {item.get('name')}: {spec.get('kind', '')} {where}", highlight=False)


def _print_config(record: dict[str, Any], console: Console) -> None:
    console.print("[bold]config[/] (v2 job keys)")

    def walk(mapping: dict[str, Any], indent: int) -> None:
        for key, value in mapping.items():
            if isinstance(value, dict):
                console.print(" " * indent + f"{key}:", highlight=False)
                walk(value, indent + 2)
            else:
                console.print(" " * indent + f"{key}: {json.dumps(value)}", highlight=False)

    walk(history.v2_config(record.get("config") or {}), 2)
    if record.get("arguments"):
        console.print(f"  program_arguments: {' '.join(record['arguments'])}", highlight=False)


def _print_errors(run_dir: Path, console: Console) -> None:
    groups = readback.error_groups(run_dir)
    if not groups:
        return
    console.print("[bold]top errors[/]")
    for group in groups:
        console.print(
            f"  {group.count}x {group.type}: {group.message}", highlight=False, soft_wrap=True
        )
        if group.inputs:
            console.print(f"    inputs: {', '.join(group.inputs)}", highlight=False)
        last = [line for line in group.traceback.strip().splitlines() if line.strip()][-3:]
        for line in last:
            console.print(f"    | {line}", highlight=False, soft_wrap=True)
    console.print(
        f"  all errors: {run_dir / 'logs' / 'job_error.txt'}", highlight=False, soft_wrap=True
    )


def show_json(run_dir: Path, record: dict[str, Any]) -> str:
    """``shardrun show --json``: the raw record plus the run folder."""
    return json.dumps({**record, "run_dir": str(run_dir)}, indent=2)


def report_texts(run_dir: Path, errors: bool) -> list[tuple[Path, str]]:
    """The reports ``shardrun logs`` prints: progress, verdict and, with ``errors``, errors."""
    names = ["job_progress_overview.txt", "job_result.txt"]
    names += ["job_error.txt"] if errors else []
    found = []
    for name in names:
        path = run_dir / "logs" / name
        if path.is_file():
            found.append((path, path.read_text().rstrip()))
    return found


def log_prefix(path: Path, run_dir: Path) -> str:
    """``[node0/process000 stdout]`` for a worker's file."""
    relative = path.relative_to(run_dir / "logs")
    kind = relative.parts[1] if relative.parts[0] == "user" else "sys"
    name = path.name.split(".")[0]
    return f"[{path.parent.name}/{name} {kind}]"
