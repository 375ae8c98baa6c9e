"""What the chaos tests share: a killable driver, finding its processes, the three checks.

Every process of a chaos run carries ``SHARDRUN_CHAOS_MARKER=<one id per run>`` in its
environment (the driver gets it, workers and what ``run()`` starts inherit it): processes
are found by that marker, never by name, and stopped by PID.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from shardrun.engine.ledger import Counts, Ledger

HERE = Path(__file__).parent
MARKER = "SHARDRUN_CHAOS_MARKER"
#: How many rounds each case plays: 1 under ``make test``, more under ``make chaos``.
SCALE = max(1, int(os.environ.get("SHARDRUN_CHAOS_SCALE", "1")))
#: Seconds a killed driver's processes get to disappear before they count as orphans.
GRACE = 3.0
ITEMS = 40
HANG_AT, HOG_AT = 13, 29


@dataclass
class Figures:
    """What the chaos tests did and found, summed over the session."""

    runs: int = 0
    worker_kills: int = 0
    driver_kills: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0
    orphans: int = 0

    def line(self) -> str:
        return (
            f"chaos figures (scale {SCALE}): runs={self.runs} worker_kills={self.worker_kills} "
            f"driver_kills={self.driver_kills} rows_lost={self.rows_lost} "
            f"rows_duplicated={self.rows_duplicated} orphans={self.orphans}"
        )


FIGURES = Figures()


def directives() -> list[str]:
    """The dataset every case runs: short sleeps, one ``hang`` and one ``hog`` file."""
    # Longer under the soak, so that a run lasts long enough for its many kills.
    words = [f"slow {0.25 if SCALE > 1 else 0.1}"] * ITEMS
    words[HANG_AT], words[HOG_AT] = "hang", "hog"
    return words


def config(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "entry_script": "entry.py",
        "source_directory": str(HERE),
        "mini_batch_size": "1",
        "process_count_per_node": 2,
        "run_invocation_timeout": 3,
        "run_max_try": 1000,
    }
    settings.update(overrides)
    return settings


class Job:
    """One job of a chaos case: its folders, its marker, and the drivers that run it."""

    def __init__(self, root: Path, data: Path, **overrides: Any) -> None:
        self.root = root
        self.marker = uuid.uuid4().hex
        self.run_dir = root / "ws" / "runs" / "chaos"
        self.output = root / "out"
        self.settings = {
            "workspace": str(root / "ws"),
            "run_id": "chaos",
            "data": str(data),
            "output": str(self.output),
            "config": config(**overrides),
        }
        self.driver: subprocess.Popen[str] | None = None

    def start(self, **environment: str) -> subprocess.Popen[str]:
        """Start a driver (a fresh run, or a resume once the run exists)."""
        self.stop_driver()  # the previous driver's pipe is closed, even if it ended by itself
        env = {**os.environ, MARKER: self.marker, **environment}
        self.driver = subprocess.Popen(
            [sys.executable, str(HERE / "driver.py"), json.dumps(self.settings)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return self.driver

    def finish(self, timeout: float = 120.0, **environment: str) -> str:
        """Run a driver to its end; its last line (``STATUS ...``)."""
        driver = self.start(**environment)
        try:
            out, _ = driver.communicate(timeout=timeout)
        finally:
            self.stop_driver()
        lines = out.strip().splitlines()
        assert lines, out
        assert lines[-1].startswith("STATUS "), out
        return lines[-1]

    def kill_driver(self, spare: frozenset[int] = frozenset()) -> None:
        """SIGKILL the driver, then count what it left behind (but the ``spare`` pids)."""
        assert self.driver is not None
        self.driver.send_signal(signal.SIGKILL)
        self.driver.communicate()
        FIGURES.driver_kills += 1
        self.assert_no_orphans(spare=spare)

    def stop_driver(self) -> None:
        """Kill the driver if it still runs, and read and close its pipe."""
        if self.driver is None:
            return
        if self.driver.poll() is None:
            self.driver.kill()
        if self.driver.stdout is not None and not self.driver.stdout.closed:
            self.driver.communicate()

    def workers(self) -> list[psutil.Process]:
        """The driver's live children that carry the marker (its workers)."""
        if self.driver is None:
            return []
        try:
            children = psutil.Process(self.driver.pid).children()
        except psutil.Error:
            return []
        return [p for p in children if _environ(p).get(MARKER) == self.marker]

    def assert_no_orphans(self, grace: float = GRACE, spare: frozenset[int] = frozenset()) -> None:
        """Nothing with the marker outlives ``grace`` seconds; leftovers are killed, counted.

        ``spare``: pids expected to outlive a killed driver (until the run is resumed).
        """
        deadline = time.monotonic() + grace
        left = [p for p in marked(self.marker) if p.pid not in spare]
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in marked(self.marker) if p.pid not in spare]
        FIGURES.orphans += len(left)
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.kill()
        assert not left, f"left running: {[(p.pid, _cmdline(p)) for p in left]}"

    def cleanup(self) -> None:
        """Stop this job's driver and every marked process, by PID (teardown, even on failure)."""
        self.stop_driver()
        for process in marked(self.marker):
            with contextlib.suppress(psutil.Error):
                process.kill()

    def done(self) -> int:
        """Mini-batches the ledger has done (0 while it does not exist)."""
        ledger = self.run_dir / "ledger.sqlite"
        if not ledger.exists():
            return 0
        try:
            with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as db:
                query = "SELECT COUNT(*) FROM mini_batches WHERE state='done'"
                return int(db.execute(query).fetchone()[0])
        except sqlite3.Error:
            return 0

    def check(self, clean: list[str]) -> None:
        """The three promises: the clean run's output, no process left, reports agree."""
        FIGURES.runs += 1
        lines = (self.output / "parallel_run_step.txt").read_text().splitlines()
        got, want = Counter(lines), Counter(clean)
        FIGURES.rows_lost += sum((want - got).values())
        FIGURES.rows_duplicated += sum((got - want).values())
        assert lines == clean
        self.assert_no_orphans()
        check_reports(self.run_dir)


def marked(marker: str) -> list[psutil.Process]:
    """Every live process whose environment holds ``SHARDRUN_CHAOS_MARKER=marker``."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(MARKER) == marker:
                found.append(process)
    return found


def _environ(process: psutil.Process) -> dict[str, str]:
    try:
        return dict(process.environ())
    except psutil.Error:
        return {}


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return "?"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def check_reports(run_dir: Path) -> None:
    """The ledger's counts match run.json, job_result.txt, the overview and the CSV."""
    ledger = Ledger.open(run_dir / "ledger.sqlite")
    try:
        counts = ledger.counts()
        attempts = list(ledger.attempts())
    finally:
        ledger.close()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "Completed"
    assert Counts(**record["counts"]) == counts
    assert counts.done == counts.total == ITEMS
    assert counts.succeeded_items == ITEMS
    assert (counts.failed, counts.failed_items) == (0, 0)
    result = (run_dir / "logs" / "job_result.txt").read_text()
    assert result.startswith(f"Completed. {ITEMS} of {ITEMS} mini-batches processed")
    assert f"; {ITEMS} items succeeded, 0 failed;" in result
    overview = (run_dir / "logs" / "job_progress_overview.txt").read_text()
    assert f"mini-batches: {ITEMS} scheduled, {ITEMS} done, 0 failed, 0 remaining" in overview
    report = run_dir / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    with open(report, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(attempts)
    succeeded = [r for r in rows if r["status"] in ("SUCCEEDED", "PARTIAL")]
    assert sorted(int(r["mini_batch_id"]) for r in succeeded) == list(range(ITEMS))
    assert sum(int(r["succeeded_items"]) for r in succeeded) == counts.succeeded_items
    # Every other attempt is one a kill or a timeout ended, and says so.
    for row in rows:
        if row not in succeeded:
            assert re.fullmatch("WORKER_LOST|RUN_TIMEOUT", row["status"]), row
