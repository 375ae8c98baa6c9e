"""What the dashboard reads from a workspace, and the one rule for paths in requests.

Everything here reads files; nothing writes (a pipeline run whose driver died reads
``NotResponding``, as a run does; it is not marked Failed as ``PipelineRun`` does).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from shardrun.engine import history, readback
from shardrun.pids import alive


class PathEscape(LookupError):
    """A path in a request names something outside the folder it must stay in."""


def inside(root: Path, *parts: str) -> Path:
    """``root / parts``, resolved, which must exist and stay inside ``root``.

    Absolute parts, ``..``, empty or NUL-bearing parts and symlinks that lead out of
    ``root`` are refused.

    Raises:
        PathEscape: The path would leave ``root``.
        FileNotFoundError: It stays inside but does not exist.
    """
    check_parts(*parts)
    base = root.resolve()
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        raise PathEscape("/".join(parts))
    if not target.exists():
        raise FileNotFoundError("/".join(parts))
    return target


def check_parts(*parts: str) -> None:
    """Refuse absolute parts, ``..``, empty parts and NUL bytes.

    Raises:
        PathEscape: One of the parts is such.
    """
    for part in parts:
        pieces = part.replace("\\", "/").split("/")
        if part.startswith(("/", "\\")) or "\0" in part or any(p in ("..", "") for p in pieces):
            raise PathEscape(part)


def run_dir(workspace: Path, run_id: str) -> Path:
    """The folder of a run named in a request (exact id or a unique prefix)."""
    check_parts(run_id)
    found = history.find_run(workspace, run_id)
    return inside(workspace / "runs", found.name)


def _driven(record: dict[str, Any]) -> dict[str, Any]:
    """Add ``driver_alive``; a live record whose driver died reads ``NotResponding``."""
    pid = record.get("pid")
    record["driver_alive"] = isinstance(pid, int) and alive(pid)
    live = record.get("status") in ("NotStarted", "Running") and "pid" in record
    if live and not record["driver_alive"]:
        record["status"] = history.GONE_STATUS
    return record


def pipeline_runs(workspace: Path) -> list[dict[str, Any]]:
    """Every pipeline run's record, newest first, with ``experiment`` and ``driver_alive``."""
    found = []
    for path in workspace.glob("experiments/*/*/run.json"):
        try:
            record = dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
        record.setdefault("experiment", path.parent.parent.name)
        found.append(_driven(record))
    return sorted(found, key=lambda r: -float(r.get("created", 0)))


def pipeline_run(workspace: Path, experiment: str, run_id: str) -> dict[str, Any]:
    """One pipeline run with its steps, their dependencies and their runs' progress.

    Steps recorded before ``after`` existed are drawn as a chain in their run order.
    """
    folder = inside(workspace / "experiments", experiment, run_id)
    record = _driven(dict(json.loads((folder / "run.json").read_text())))
    previous: list[str] = []
    for step in record.get("steps", []):
        step.setdefault("after", previous)
        previous = [step["name"]]
        shown = step.get("reused_from") or step.get("run_id")
        folder = workspace / "runs" / str(shown)
        step["has_run"] = (folder / "run.json").is_file()
        if step["has_run"]:
            step["progress"] = history.summarise(folder).to_dict()
    return record


def run_details(workspace: Path, run_id: str) -> dict[str, Any]:
    """All the run page shows: summary, states, throughput, workers, failures, log files."""
    folder = run_dir(workspace, run_id)
    record = history.read_record(folder)
    summary = history.summarise(folder, record, history.experiments(workspace).get(folder.name, ""))
    started = summary.started or summary.created
    step = _step(summary.duration)
    failures = [
        {
            "mini_batch": a.index,
            "attempt": a.attempt,
            "worker": a.worker,
            "type": a.error.type if a.error else "",
            "message": a.error.message if a.error else "",
            "traceback": a.error.traceback if a.error else "",
            "inputs": list(a.files),
            "ended": a.ended,
        }
        for a in readback.failures(folder, limit=50)
    ]
    points = readback.throughput(folder, started, step)
    if summary.driver_alive:
        # The interval under way is not over: drawn, it would look like a stall.
        points = points[: int(summary.duration // step)]
    return {
        "summary": summary.to_dict(),
        "now": time.time(),
        "throughput": {"step": step, "points": points},
        "workers": [w.__dict__ for w in readback.worker_processes(folder)],
        "worker_stats": [
            {**s.__dict__, "items_per_second": s.items_per_second}
            for s in readback.worker_stats(folder)
        ],
        "failures": failures,
        "logs": [{"path": p, "size": n} for p, n in readback.log_files(folder)],
        "config": history.v2_config(record.get("config") or {}),
    }


def _step(seconds: float) -> float:
    """Bucket width of the throughput chart: about 60 points over the run."""
    for step in (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0):
        if seconds / step <= 60:
            return step
    return 3600.0
