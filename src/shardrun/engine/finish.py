"""The end of a run, as a sequence a killed driver can always pick up again.

::

    scheduling over ──> merging ──> merge ──> merged ──> parts ──> reports ──> run.json
                        (tmp file)  (output   (ledger    (parts/   (job_result,  (final
                                    renamed,  meta, one  removed)  job_error,    status)
                                    fsynced)  fsync)               csv, overview)

Each step is durable before the next starts. The ledger's ``merged`` mark is the point of no
return: before it, a resume merges again from the parts (still on disk); after it, a resume
runs and merges nothing, and only finishes the bookkeeping (:func:`merged_output`). So the
parts are never removed before the output that replaces them is recorded.

At the start of every drive (:func:`clear_output`), the temporary files of an earlier killed
attempt are removed, and so is the append_row file this run will write: a run that does not
complete never looks as if it produced the file an earlier run left in the folder.

A full disk must not leave a run ``Running``: :func:`reserve` holds a little space in the run
folder from the start, :func:`complete` frees it first and then writes each piece of
bookkeeping on its own (one failing does not stop the next), a failed run's status first.
Errors of the machine (:data:`STORAGE_ERRORS`) become one-line reasons (:func:`storage`).

Test hook: ``SHARDRUN_TEST_KILL_AT=<step>`` (``merging``, ``merge``, ``merged``, ``parts``,
``reports``) makes the driver SIGKILL itself right after that step (``<step>:TERM`` sends
SIGTERM instead). ``tests/engine/test_finish.py`` kills a real driver at each step this way.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardrun.config.parallel_run import ParallelRunConfig
from shardrun.engine import reports
from shardrun.engine.ledger import Counts, Ledger
from shardrun.engine.messages import ErrorInfo, Part
from shardrun.engine.record import write_record
from shardrun.engine.slots import Verdict
from shardrun.engine.writer import fsync_dir, merge
from shardrun.errors import NoResultToAppend, ShardrunError, StorageError

KILL_AT = "SHARDRUN_TEST_KILL_AT"
MERGED = "merged"
#: Space held for the end of the run: a full disk must still take its status and verdict.
RESERVE = ".reserve"
RESERVE_BYTES = 256 * 1024
#: The temporary name :func:`~shardrun.engine.writer.atomic_write` gives a file.
_TMP = re.compile(r"^\.(?P<name>.+)\.\d+\.tmp$")

#: Errors of the machine, not of the user's script or data: a full disk, a lost folder.
STORAGE_ERRORS = (OSError, sqlite3.Error)


def checkpoint(step: str) -> None:
    """Test hook: kill this driver right after ``step`` if ``$SHARDRUN_TEST_KILL_AT`` says so."""
    wanted = os.environ.get(KILL_AT)
    if not wanted:
        return
    name, _, how = wanted.partition(":")
    if name == step:
        os.kill(os.getpid(), signal.SIGTERM if how == "TERM" else signal.SIGKILL)
        time.sleep(1.0)  # the signal lands here (a handler may let the run go on)


@dataclass
class End:
    """How a drive ended: the verdict, init() failures, and the merged output if any."""

    verdict: Verdict
    init_errors: list[ErrorInfo] = field(default_factory=list)
    output_file: Path | None = None


def reserve(run_dir: Path) -> None:
    """Hold :data:`RESERVE_BYTES` of disk in the run folder until :func:`complete` frees it."""
    _best_effort((run_dir / RESERVE).write_bytes, bytes(RESERVE_BYTES))


def destination(record: dict[str, Any], config: ParallelRunConfig) -> Path | None:
    """The append_row file a run writes, or None (``summary_only``)."""
    if config.output_action != "append_row":
        return None
    return Path(record["output_dir"]) / config.append_row_file_name


def merged_output(ledger: Ledger) -> Path | None:
    """The output an earlier drive of this run merged and recorded, if it got that far."""
    value = ledger.get_meta(MERGED)
    return Path(value) if value else None


def clear_output(
    run_dir: Path, record: dict[str, Any], config: ParallelRunConfig, merged: bool = False
) -> None:
    """Remove what an earlier drive left half-done, and the append_row file this run replaces
    (unless this run ``merged`` it already).

    Only called while this run holds its driver lock and its output folder's lock.
    """
    target = destination(record, config)
    folders = [run_dir, run_dir / "logs", run_dir / "logs" / "sys" / "job_report"]
    if target is not None:
        folders.append(target.parent)
        if not merged:
            target.unlink(missing_ok=True)
    for folder in folders:
        for leftover in _temporaries(folder, target):
            leftover.unlink(missing_ok=True)


def _temporaries(folder: Path, target: Path | None) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        match = _TMP.match(path.name)
        # In the output folder only the append_row file's: the rest belongs to the script.
        if match and (target is None or folder != target.parent or match["name"] == target.name):
            yield path


def merge_output(
    record: dict[str, Any], config: ParallelRunConfig, ledger: Ledger, end: End
) -> End:
    """Steps ``merging`` and ``merge``: a completed run's parts, in order, into its output.

    The output is renamed into place and fsynced, but not yet recorded: a driver killed now
    merges again on resume. The caller shields the run from signals, then calls :func:`seal`.
    """
    target = destination(record, config)
    if end.verdict.status != "Completed" or target is None:
        return end
    if ledger.counts().succeeded_items == 0:
        first = ledger.first_error()
        cause = f"{first.error.type}: {first.error.message}" if first and first.error else "none"
        error = NoResultToAppend(
            f"there is no succeeded mini-batch item returned from run(); first error: {cause}"
        )
        return End(Verdict("Failed", str(error), error), end.init_errors)

    def parts() -> Iterator[tuple[int, Part, tuple[str, ...] | None]]:
        for number, item in enumerate(ledger.parts()):
            if number == 1:
                checkpoint("merging")
            yield item

    try:
        merge(parts, target, config.append_row_format, header=config.append_row_dataframe_header)
        fsync_dir(target.parent)
    except (OSError, ShardrunError, ValueError) as e:
        reason = f"merging the output into {target} failed: {e}"
        return End(Verdict("Failed", reason, e), end.init_errors)
    checkpoint("merge")
    return End(end.verdict, end.init_errors, target)


def seal(run_dir: Path, ledger: Ledger, end: End) -> End:
    """Steps ``merged`` and ``parts``: record the merged output durably, then drop the parts.

    From here on a resume only finishes the bookkeeping. Call it shielded from signals.
    """
    if end.output_file is None:
        return end
    if merged_output(ledger) != end.output_file:
        ledger.set_meta(MERGED, str(end.output_file), durable=True)
        checkpoint(MERGED)
    shutil.rmtree(run_dir / "parts", ignore_errors=True)
    checkpoint("parts")
    return end


def complete(
    run_dir: Path,
    record: dict[str, Any],
    config: ParallelRunConfig,
    ledger: Ledger | None,
    end: End,
    seconds: float,
) -> dict[str, Any]:
    """Steps ``reports`` and ``run.json``: the bookkeeping, as far as the disk allows.

    Nothing is left running once the driver stops (running mini-batches go back to
    pending). A run that did not complete leaves no append_row file. Reasons are shortened
    (:func:`~shardrun.engine.reports.shorten`); ``job_error.txt`` has them in full.

    Returns:
        The final record (also written to ``run.json`` where the disk allows).
    """
    _best_effort((run_dir / RESERVE).unlink, True)
    verdict = end.verdict
    target = destination(record, config)
    if verdict.status != "Completed" and target is not None:
        _best_effort(target.unlink, True)
    counts = _best_effort(_settle, ledger) or Counts(*([0] * 9))
    reason = reports.shorten(verdict.reason)
    record.update(
        status=verdict.status,
        reason=reason,
        ended=time.time(),
        output_file=str(end.output_file) if end.output_file else None,
        counts=counts.__dict__,
    )
    if verdict.status != "Completed":
        # The status first, while the reserve is free; a completed run's comes last so that
        # a driver killed before its reports are written is resumed and writes them.
        _best_effort(write_record, run_dir, record)
    logs = run_dir / "logs"
    if ledger is not None:
        _best_effort(reports.write_processed_csv, ledger, logs)
        failure = _failure(verdict) if verdict.status == "Failed" else None
        failed = _best_effort(lambda: list(ledger.attempts(failed_only=True))) or []
        _best_effort(reports.write_job_error, failed, end.init_errors, logs, failure)
    text = reports.summary(verdict.status, counts, reason, end.output_file, seconds)
    _best_effort(reports.write_job_result, text, logs)
    _best_effort(reports.write_overview, logs, record["run_id"], verdict.status, counts, seconds)
    checkpoint("reports")
    _best_effort(write_record, run_dir, record)
    return record


def _settle(ledger: Ledger | None) -> Counts | None:
    if ledger is None:
        return None
    ledger.reset_running()
    return ledger.counts()


def _failure(verdict: Verdict) -> ErrorInfo:
    kind = type(verdict.error).__name__ if verdict.error is not None else "Failed"
    return ErrorInfo(kind, verdict.reason, verdict.reason)


def _best_effort(step: Any, *args: Any) -> Any:
    """Run one bookkeeping step; a full disk must not stop the steps after it."""
    try:
        return step(*args)
    except STORAGE_ERRORS:
        return None


@contextmanager
def storage(what: str, then: str) -> Iterator[None]:
    """A full disk (or a lost folder) outside a run's drive: one StorageError, no traceback.

    Args:
        what: What was being done, for the message (``"creating run 'x'"``).
        then: What the user does once space is freed.
    """
    try:
        yield
    except STORAGE_ERRORS as e:
        raise StorageError(f"{what} failed: {describe_storage(e, then)}") from e


def describe_storage(error: BaseException, then: str) -> str:
    """What went wrong, and what to do where a full disk is the likely cause."""
    text = f"SQLite: {error}" if isinstance(error, sqlite3.Error) else str(error)
    full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
    # SQLite says "disk I/O error" when it cannot grow its shared-memory file on a full disk.
    if full or any(words in str(error) for words in ("disk is full", "disk I/O error")):
        text += f"; free some disk space, then {then}"
    return text
