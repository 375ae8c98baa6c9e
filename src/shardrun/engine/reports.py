"""The run's reports, read back from the ledger: where a user looks first when a run fails.

* ``logs/job_result.txt`` — the verdict in one paragraph.
* ``logs/job_error.txt`` — errors grouped by type: count, first traceback, inputs.
* ``logs/sys/job_report/processed_mini-batches.csv`` — one row per attempt.
* ``logs/job_progress_overview.txt`` — progress, rewritten while the run goes.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shardrun.engine.attempts import Attempt
from shardrun.engine.ledger import Counts, Ledger
from shardrun.engine.messages import ErrorInfo
from shardrun.engine.writer import atomic_write

MAX_INPUTS_LISTED = 20
#: Longest reason kept in run.json, job_result.txt and the CLI; job_error.txt keeps it whole.
MAX_REASON = 2000

CSV_COLUMNS = (
    "mini_batch_id",
    "attempt",
    "node",
    "process",
    "start_time",
    "end_time",
    "total_items",
    "succeeded_items",
    "failed_items",
    "elapsed_seconds",
    "process_seconds",
    "run_method_seconds",
    "status",
    "error_category",
    "error_message",
    "mini_batch",
)


def shorten(text: str, limit: int = MAX_REASON) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was left out and where."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters in logs/job_error.txt)"


def _iso(timestamp: float) -> str:
    if not timestamp:
        return ""
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(timestamp))
        + f".{int(timestamp % 1 * 1000):03d}"
    )


def write_processed_csv(ledger: Ledger, logs: Path) -> Path:
    """``logs/sys/job_report/processed_mini-batches.csv``: one row per attempt."""
    path = logs / "sys" / "job_report" / "processed_mini-batches.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w", fsync=False) as handle:
        out = csv.writer(handle)
        out.writerow(CSV_COLUMNS)
        out.writerows(ledger.processed_rows())  # formatted by SQLite: no Python per row
    return path


@dataclass
class _Group:
    count: int = 0
    first: ErrorInfo | None = None
    inputs: list[str] = field(default_factory=list)
    more_inputs: int = 0


def write_job_error(
    attempts: Iterable[Attempt],
    init_errors: Iterable[ErrorInfo],
    logs: Path,
    failure: ErrorInfo | None = None,
) -> Path:
    """``logs/job_error.txt``: errors grouped by type, each with its first traceback.

    Args:
        attempts: The failed attempts (``ledger.attempts(failed_only=True)``).
        init_errors: Failures of ``init()``.
        logs: The run's ``logs`` folder.
        failure: Why the run failed, in full, when it failed: it comes first.
    """
    groups: dict[str, _Group] = {}
    for error in init_errors:
        group = groups.setdefault(f"init(): {error.type}", _Group())
        group.count += 1
        group.first = group.first or error
    for attempt in attempts:
        if attempt.error is None:
            continue
        group = groups.setdefault(attempt.error.type, _Group())
        group.count += 1
        group.first = group.first or attempt.error
        for name in attempt.files:
            if name in group.inputs:
                continue
            if len(group.inputs) < MAX_INPUTS_LISTED:
                group.inputs.append(name)
            else:
                group.more_inputs += 1
    lines: list[str] = []
    if failure is not None:
        lines += [f"== the run failed: {failure.type}", failure.message.rstrip(), ""]
    elif not groups:
        lines.append("No errors.")
    for name, group in sorted(groups.items(), key=lambda kv: -kv[1].count):
        lines.append(f"== {name}: {group.count} time(s)")
        if group.inputs:
            more = f" (and {group.more_inputs} more)" if group.more_inputs else ""
            lines.append(f"inputs: {', '.join(group.inputs)}{more}")
        if group.first is not None:
            lines.append("first traceback:")
            lines.append(group.first.traceback.rstrip())
        lines.append("")
    path = logs / "job_error.txt"
    with atomic_write(path, "w", fsync=False) as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def summary(status: str, counts: Counts, reason: str, output: Path | None, seconds: float) -> str:
    """The one-paragraph verdict of ``job_result.txt`` (also printed by the CLI)."""
    text = (
        f"{status}. {counts.finished} of {counts.total} mini-batches processed "
        f"({counts.done - _partial(counts)} fully succeeded, {counts.failed_batches} with "
        f"failures); {counts.succeeded_items} items succeeded, {counts.failed_items} failed; "
        f"{seconds:.1f} s."
    )
    if reason:
        text += f" Reason: {reason}"
    if output is not None:
        text += f" Output: {output}"
    return text


def _partial(counts: Counts) -> int:
    return max(0, counts.failed_batches - counts.failed)


def write_job_result(text: str, logs: Path) -> Path:
    """``logs/job_result.txt``."""
    path = logs / "job_result.txt"
    with atomic_write(path, "w", fsync=False) as handle:
        handle.write(text + "\n")
    return path


def write_overview(logs: Path, run_id: str, state: str, counts: Counts, elapsed: float) -> None:
    """``logs/job_progress_overview.txt``: what a user tails while the run goes."""
    rate = counts.finished / elapsed if elapsed > 0 else 0.0
    remaining = counts.total - counts.finished
    eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
    text = (
        f"run: {run_id}\nstate: {state}\nupdated: {_iso(time.time())}\n"
        f"mini-batches: {counts.total} scheduled, {counts.done} done, {counts.failed} failed, "
        f"{remaining} remaining\n"
        f"items: {counts.succeeded_items} succeeded, {counts.failed_items} failed\n"
        f"elapsed: {elapsed:.1f} s; rate: {rate:.2f} mini-batches/s; ETA: {eta}\n"
    )
    with atomic_write(logs / "job_progress_overview.txt", "w", fsync=False) as handle:
        handle.write(text)
