"""processed_mini-batches.csv, formatted by SQLite: the same text as row-by-row Python."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from shardrun.engine.attempts import MAX_CSV_MESSAGE, Attempt
from shardrun.engine.ledger import Ledger, Outcome
from shardrun.engine.messages import BatchResult, ErrorInfo, MiniBatch, Part
from shardrun.engine.reports import CSV_COLUMNS, write_processed_csv


def _iso(timestamp: float) -> str:
    if not timestamp:
        return ""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(timestamp))
    return whole + f".{int(timestamp % 1 * 1000):03d}"


def reference(attempts: list[Attempt]) -> str:
    """The CSV as the per-row Python writer made it before the SQL version."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(CSV_COLUMNS)
    for a in attempts:
        node, _, process = a.worker.rpartition("/")
        message = a.error.message if a.error else ""
        if len(message) > MAX_CSV_MESSAGE:
            more = len(message) - MAX_CSV_MESSAGE
            message = (
                f"{message[:MAX_CSV_MESSAGE]}… ({more:,} more characters in logs/job_error.txt)"
            )
        out.writerow(
            (
                a.index,
                a.attempt,
                node,
                process,
                _iso(a.started),
                _iso(a.ended),
                a.total,
                a.succeeded,
                a.total - a.succeeded,
                f"{a.ended - a.started:.3f}" if a.started else "",
                f"{a.cpu_seconds:.3f}",
                f"{a.run_seconds:.3f}",
                a.status,
                a.error.type if a.error else "",
                message,
                json.dumps(list(a.files)),
            )
        )
    return buffer.getvalue()


def test_the_csv_from_sql_matches_the_row_by_row_writer(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite")
    names = [("/d/a b.txt", '/d/"q",c.txt'), ("/d/é\udcff.png",), ("/d/x",), ("/d/y",)]
    ledger.add_mini_batches(iter(MiniBatch(i, "in", f, len(f)) for i, f in enumerate(names)))
    t = 1_700_000_000.0
    long = "ü" * 1234 + '\nline two, "quoted"'
    outcomes = [
        Outcome(
            BatchResult(
                0,
                0,
                1,
                2,
                2,
                2,
                Part("/p/s", 0, 3),
                started=t + 0.9996,
                ended=t + 2.25,
                run_seconds=1.1234,
                cpu_seconds=0.25,
            ),
            "done",
            "SUCCEEDED",
            "node0/process000",
        ),
        Outcome(
            BatchResult(
                0,
                1,
                1,
                1,
                0,
                error=ErrorInfo("ValueError", long, "tb"),
                started=t + 3.5,
                ended=t + 4.125,
            ),
            "pending",
            "RUN_EXCEPTION",
            "node1/process003",
        ),
        Outcome(
            BatchResult(
                0, 1, 2, 1, 0, error=ErrorInfo("WorkerLost", "gone", "gone"), ended=t + 9.0
            ),
            "failed",
            "WORKER_LOST",
            "",
            1,
        ),
        Outcome(
            BatchResult(0, 2, 1, 10, 3, 3, Part("/p/s", 3, 3), started=t + 5.0625, ended=t + 6.0),
            "done",
            "PARTIAL",
            "node0/process001",
            7,
        ),
    ]
    ledger.record([0, 1, 2], outcomes)
    path = write_processed_csv(ledger, tmp_path / "logs")
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    expected = reference(list(ledger.attempts()))
    assert list(csv.reader(io.StringIO(text))) == list(csv.reader(io.StringIO(expected)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["mini_batch_id"], r["attempt"], r["status"]) for r in rows] == [
        ("0", "1", "SUCCEEDED"),
        ("1", "1", "RUN_EXCEPTION"),
        ("1", "2", "WORKER_LOST"),
        ("2", "1", "PARTIAL"),
    ]
    assert rows[0]["start_time"].endswith(":20.999")  # not rounded up to the next second
    assert rows[1]["error_message"].endswith("(753 more characters in logs/job_error.txt)")
    assert rows[3]["error_category"] == "ShortResult"
    assert json.loads(rows[0]["mini_batch"]) == list(names[0])
