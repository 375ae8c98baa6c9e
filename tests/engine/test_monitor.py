"""The monitor: resource samples, and the slow imports kept off the run's start-up path."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from shardrun.engine.monitor import PERF_COLUMNS, Monitor


def test_resource_samples_are_written_for_live_processes(tmp_path: Path) -> None:
    monitor = Monitor("run", tmp_path, show_progress=True)  # stderr is no terminal here
    monitor._sample({os.getpid(): "node0/process000"})
    path = tmp_path / "perf" / "node0" / "processes_resource_usage.csv"
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(PERF_COLUMNS)
    assert rows[1][2] == str(os.getpid())
    assert int(rows[1][4]) > 0  # rss_bytes
    assert rows[1][6] == "process000"


def test_starting_a_run_imports_neither_rich_nor_psutil_nor_packaging() -> None:
    code = (
        "import sys, shardrun.engine.runs, shardrun.engine.monitor\n"
        "print(sorted(m for m in ('rich', 'psutil', 'packaging') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
