"""Resource samples (the driver's of local workers, a worker's own), and slow imports.

The Ray actors' samples are tested on a real cluster in ``tests/cluster/test_ray_usage.py``.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from shardrun.engine import readback
from shardrun.engine.monitor import Monitor
from shardrun.worker.usage import PERF_COLUMNS, SelfSampler, append_rows, perf_path
from tests.engine.test_runs import MakeInputs, attempts, start


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


def _perf_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        text = handle.read()
    assert text.count("time,node,pid") == 1, "one header line"
    assert text.startswith(",".join(PERF_COLUMNS) + "\n")
    return list(csv.DictReader(text.splitlines()))


def test_a_local_run_samples_each_worker_every_interval_while_run_sleeps(
    inputs: MakeInputs, tmp_path: Path
) -> None:
    result = start(inputs(["sleep 1.5"] * 4), tmp_path, resource_monitor_interval=1)
    assert result.status == "Completed", result.reason
    logs = result.run_dir / "logs"
    rows = _perf_rows(logs / "perf" / "node0" / "processes_resource_usage.csv")
    by_process: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_process.setdefault(row["process"], []).append(row)
    assert set(by_process) == {"process000", "process001"}
    for process, samples in by_process.items():
        # The worker's own word for its PID: init() prints it to the worker's stdout log.
        stdout = (logs / "user" / "stdout" / "node0" / f"{process}.stdout.txt").read_text()
        (pid,) = re.findall(r"init pid=(\d+)", stdout)
        assert len(samples) >= 2, samples  # ~3 s in run(), a sample a second
        for row in samples:
            assert (row["node"], row["pid"]) == ("node0", pid)
            assert int(row["rss_bytes"]) > 10_000_000
            assert float(row["cpu_percent"]) >= 0
            assert int(row["num_threads"]) >= 1
    assert {(a["node"], a["process"]) for a in attempts(result)} <= {
        ("node0", p) for p in by_process
    }


def test_a_worker_samples_itself_from_start_to_stop(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "perf" / "node1" / "processes_resource_usage.csv"
    sampler = SelfSampler(path, "node1", "process003", interval=0.2)
    sampler.start()
    assert len(_perf_rows(path)) == 1  # the first row is written at once
    burn_until = time.monotonic() + 0.7
    while time.monotonic() < burn_until:  # busy: later samples see the CPU it used
        sum(range(1000))
    sampler.stop()
    rows = _perf_rows(path)
    assert len(rows) >= 4  # at start, about three in 0.7 s, at stop
    assert {(r["node"], r["pid"], r["process"]) for r in rows} == {
        ("node1", str(os.getpid()), "process003")
    }
    assert float(rows[0]["cpu_percent"]) == 0.0  # nothing to compare the first one with
    assert max(float(r["cpu_percent"]) for r in rows) > 10
    assert all(int(r["rss_bytes"]) > 10_000_000 for r in rows)
    assert not any(t.name == "shardrun-resource-sampler" for t in threading.enumerate())
    sampler.stop()  # twice is harmless
    assert len(_perf_rows(path)) == len(rows)


APPENDER = """
import sys
from pathlib import Path
from shardrun.worker.usage import append_rows
path, name = Path(sys.argv[1]), sys.argv[2]
for n in range(300):
    append_rows(path, [("2026-01-01T00:00:00", "node0", n, 1.5, 123456, 4, name)])
"""


def test_processes_appending_to_one_file_write_one_header_and_whole_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "perf" / "node0" / "processes_resource_usage.csv"
    writers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(path), f"process{n:03d}"])
        for n in range(3)
    ]
    try:
        for writer in writers:
            assert writer.wait(timeout=120) == 0
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    rows = _perf_rows(path)
    assert len(rows) == 900
    for name in ("process000", "process001", "process002"):
        mine = [int(r["pid"]) for r in rows if r["process"] == name]
        assert mine == list(range(300))  # whole lines, in each writer's order


def test_the_dashboard_reader_keeps_apart_workers_of_two_nodes_with_one_pid(
    tmp_path: Path,
) -> None:
    # Ray actors on two machines may have the same PID; node and PID name a process.
    logs = tmp_path / "logs"
    for node, process, rss in (("node0", "process000", 111), ("node1", "process001", 222)):
        system = logs / "sys" / "worker" / node / f"{process}.txt"
        system.parent.mkdir(parents=True)
        system.write_text(
            f"2026-01-01 00:00:00,000|INFO|x|{process} on {node}: pid 4242 starting\n"
        )
        row = ("2026-01-01T00:00:01", node, 4242, 12.5, rss * 1_000_000, 9, process)
        append_rows(perf_path(logs, node), [row])
    workers = readback.worker_processes(tmp_path)
    assert [(w.node, w.name, w.pid, w.rss_bytes, w.cpu_percent) for w in workers] == [
        ("node0", "process000", 4242, 111_000_000, 12.5),
        ("node1", "process001", 4242, 222_000_000, 12.5),
    ]
