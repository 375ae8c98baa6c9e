"""The resource monitor samples every worker's CPU and RSS into the run's perf CSV."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from shardrun.engine import readback
from tests.test_cli import project, shardrun


def test_each_worker_is_sampled_every_interval(tmp_path: Path) -> None:
    job = project(tmp_path, ["sleep 0.3"] * 12)
    done = shardrun(
        *("run", str(job), "--workspace", "ws", "--run-id", "perf"),
        *("--set", "mini_batch_size=1", "--set", "resource_monitor_interval=0.5"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "ws/runs/perf"
    with open(run_dir / "logs/perf/node0/processes_resource_usage.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        *("time", "node", "pid", "cpu_percent", "rss_bytes", "num_threads", "process")
    ]
    per_process = Counter(row["process"] for row in rows)
    assert set(per_process) == {"process000", "process001"}
    assert min(per_process.values()) >= 3  # ~1.8 s of work, a sample every 0.5 s
    assert all(int(row["rss_bytes"]) > 1_000_000 for row in rows)
    workers = {w.name: w for w in readback.worker_processes(run_dir)}
    for row in rows:
        assert workers[row["process"]].pid == int(row["pid"])
