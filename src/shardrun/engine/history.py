"""The runs of a workspace, read back: list them, find one by a prefix, summarise, cancel.

This is what ``shardrun runs``, ``show``, ``logs`` and ``cancel`` and the dashboard stand on.
Reading never writes into the workspace (a missing workspace simply has no runs). A run is
cancelled by sending SIGTERM to the process that drives it, the one holding its
``driver.lock``; that process writes the ``Canceled`` verdict itself.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shardrun.engine import readback
from shardrun.engine.record import DRIVER_LOCK, LIVE_STATUSES, RUN_RECORD
from shardrun.engine.record import GONE_STATUS as GONE_STATUS
from shardrun.engine.record import inspect_run as inspect_run  # what `show --json` prints
from shardrun.engine.record import read_record as read_record
from shardrun.errors import ConfigError, RunNotFound
from shardrun.pids import alive

FINAL = ("Completed", "Failed", "Canceled")


def runs_dir(workspace: Path) -> Path:
    """``<workspace>/runs``."""
    return workspace / "runs"


def list_records(workspace: Path) -> list[dict[str, Any]]:
    """Every run record of the workspace, newest first (unreadable ones are skipped)."""
    folder = runs_dir(workspace)
    if not folder.is_dir():
        return []
    records = []
    for run_dir in folder.iterdir():
        try:
            records.append(read_record(run_dir))
        except (RunNotFound, ValueError, OSError):
            continue
    return sorted(records, key=lambda r: -float(r.get("created", 0)))


def find_run(workspace: Path, run_id: str) -> Path:
    """The folder of the run called ``run_id``, or of the one run whose id starts with it.

    Raises:
        RunNotFound: No run has that id or prefix.
        ConfigError: The prefix fits several runs (they are listed).
    """
    folder = runs_dir(workspace)
    exact = folder / run_id
    if "/" not in run_id and run_id not in ("", ".", "..") and (exact / RUN_RECORD).is_file():
        return exact
    matches = sorted(
        p.name
        for p in (folder.iterdir() if folder.is_dir() else [])
        if p.name.startswith(run_id) and (p / RUN_RECORD).is_file()
    )
    if not run_id or not matches:
        raise RunNotFound(f"no run {run_id!r} in {workspace}; `shardrun runs` lists them")
    if len(matches) > 1:
        shown = ", ".join(matches[:10]) + (
            f" and {len(matches) - 10} more" if len(matches) > 10 else ""
        )
        raise ConfigError(
            f"run id prefix {run_id!r} is ambiguous: it matches {shown}; give more of the id"
        )
    return folder / matches[0]


def experiments(workspace: Path) -> dict[str, str]:
    """``step run id -> experiment name`` for every step of every pipeline run."""
    found: dict[str, str] = {}
    for record_path in sorted(workspace.glob(f"experiments/*/*/{RUN_RECORD}")):
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            continue
        experiment = str(record.get("experiment") or record_path.parent.parent.name)
        for step in record.get("steps", []):
            found[str(step.get("run_id"))] = experiment
    return found


def driver_pid(run_dir: Path) -> int | None:
    """The PID of the process driving the run now, or None if no process drives it.

    The driver holds an exclusive ``flock`` on ``driver.lock`` and writes its PID into it.
    Linux lists held locks in ``/proc/locks``; the lock is looked up there by inode, so
    that checking takes no lock (which could make a starting driver think another runs).
    """
    lock = run_dir / DRIVER_LOCK
    try:
        inode = lock.stat().st_ino
        written = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return written if written and alive(written) else None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            # Forked children may hold the lock on after the driver died: it must be alive.
            holder = int(fields[4])
            return holder if alive(holder) else None
    return None


def cancel(run_dir: Path) -> int:
    """Ask the process driving the run to stop (SIGTERM); returns its PID.

    The driver ends the run as ``Canceled`` (its workers stop, the reports are written);
    ``shardrun resume`` continues it later. A pipeline step's driver is the pipeline's:
    cancelling the step cancels the pipeline run, as ``PipelineRun.cancel()`` does.

    Raises:
        ConfigError: No process is driving the run (it has ended, or its driver died).
    """
    pid = driver_pid(run_dir)
    status = read_record(run_dir).get("status")
    if pid is None and status in LIVE_STATUSES:
        raise ConfigError(
            f"run {run_dir.name!r} has no driver any more ({GONE_STATUS}); nothing to cancel; "
            f"`shardrun resume {run_dir.name}` continues it"
        )
    if pid is None:
        raise ConfigError(
            f"run {run_dir.name!r} is not running (status {status}); nothing to cancel"
        )
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        raise ConfigError(f"run {run_dir.name!r} ended just now; nothing to cancel") from None
    return pid


def is_over(run_dir: Path) -> bool:
    """Whether the run has a final status and no process drives it any more."""
    return driver_pid(run_dir) is None and read_record(run_dir).get("status") in FINAL


def wait_final(run_dir: Path, timeout: float, poll: float = 0.2) -> str:
    """Wait up to ``timeout`` seconds for the run's record to hold a final status."""
    deadline = time.monotonic() + timeout
    while True:
        status = str(read_record(run_dir).get("status"))
        if status in FINAL or time.monotonic() >= deadline:
            return status
        time.sleep(poll)


@dataclass(frozen=True)
class RunSummary:
    """One run at a glance: what the CLI's table and the dashboard's list show."""

    run_id: str
    experiment: str
    status: str
    driver_alive: bool
    total: int
    done: int
    failed: int
    running: int
    pending: int
    succeeded_items: int
    failed_items: int
    planned_items: int
    created: float
    started: float | None
    ended: float | None
    duration: float
    items_per_second: float
    eta_seconds: float | None
    output: str
    reason: str

    @property
    def finished(self) -> int:
        """Mini-batches that will not run again."""
        return self.done + self.failed

    @property
    def progress(self) -> float:
        """The finished share of mini-batches, 0.0 to 1.0."""
        return self.finished / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields plus ``progress`` and ``finished``."""
        return {**asdict(self), "progress": self.progress, "finished": self.finished}


def summarise(
    run_dir: Path, record: dict[str, Any] | None = None, experiment: str = ""
) -> RunSummary:
    """The summary of one run; counts come from the ledger while it runs.

    A run whose record says it is live but that no process drives reads ``NotResponding``
    (as :func:`shardrun.engine.record.inspect_run` shows it).
    """
    record = record if record is not None else read_record(run_dir)
    status = str(record.get("status", "NotStarted"))
    alive = status in LIVE_STATUSES and driver_pid(run_dir) is not None
    counts = dict(record.get("counts") or {})
    if status in LIVE_STATUSES or not counts:
        live = readback.counts(run_dir)
        counts = dict(live.__dict__) if live is not None else counts
    if status in LIVE_STATUSES and not alive:
        # Nobody drives it (its driver was killed): nothing runs, whatever the ledger says.
        status = GONE_STATUS
        counts["pending"] = int(counts.get("pending", 0)) + int(counts.get("running", 0))
        counts["running"] = 0
    started = record.get("started")
    ended = record.get("ended") if status in FINAL else None
    now = time.time()
    duration = max(0.0, (ended or now) - started) if started else 0.0
    finished = int(counts.get("done", 0)) + int(counts.get("failed", 0))
    total = int(counts.get("total", 0))
    rate = finished / duration if duration > 0 else 0.0
    eta = (total - finished) / rate if alive and rate > 0 else None
    return RunSummary(
        run_id=str(record.get("run_id", run_dir.name)),
        experiment=experiment or str(record.get("experiment") or ""),
        status=status,
        driver_alive=alive,
        total=total,
        done=int(counts.get("done", 0)),
        failed=int(counts.get("failed", 0)),
        running=int(counts.get("running", 0)),
        pending=int(counts.get("pending", 0)),
        succeeded_items=int(counts.get("succeeded_items", 0)),
        failed_items=int(counts.get("failed_items", 0)),
        planned_items=int(counts.get("planned_items", 0)),
        created=float(record.get("created", 0)),
        started=float(started) if started else None,
        ended=float(ended) if ended else None,
        duration=duration,
        items_per_second=int(counts.get("succeeded_items", 0)) / duration if duration else 0.0,
        eta_seconds=eta,
        output=str(record.get("output_file") or record.get("output_dir") or ""),
        reason=str(record.get("reason") or ""),
    )


def summaries(workspace: Path) -> list[RunSummary]:
    """Every run of the workspace, summarised, newest first."""
    names = experiments(workspace)
    return [
        summarise(runs_dir(workspace) / str(r["run_id"]), r, names.get(str(r["run_id"]), ""))
        for r in list_records(workspace)
    ]


def v2_config(config: dict[str, Any]) -> dict[str, Any]:
    """A stored config under its Azure ML v2 job keys (``retry_settings.timeout``, ...).

    Values left unset (None) are left out; dotted keys become nested mappings.
    """
    from shardrun.config.jobschema import SOURCES

    out: dict[str, Any] = {}
    for name, value in config.items():
        if value is None:
            continue
        key = SOURCES.get(name, (name,))[0]
        *parents, leaf = key.split(".")
        target = out
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return out
