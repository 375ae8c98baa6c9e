"""Ray actors sample their own CPU and memory into the run's per-node perf CSV."""

from __future__ import annotations

import csv
import re
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shardrun import RayCompute
from shardrun.engine import readback
from shardrun.worker.shipped_logs import FORCE
from tests.cluster.conftest import ADDRESS
from tests.cluster.test_ray_runs import make_inputs, start

pytestmark = [pytest.mark.ray, pytest.mark.slow]

INTERVAL = 1.0
SCRIPT = """
import os, time

def init():
    print(f"init pid={os.getpid()}")
    time.sleep(2.5)  # sampled too: the driver sees no worker before init() returns

def run(mini_batch, context):
    time.sleep(1.5)
    return [os.path.basename(p) for p in mini_batch]
"""


@pytest.mark.parametrize("shipped", [False, True], ids=["shared-folder", "shipped"])
def test_each_actor_writes_its_samples_to_its_node_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipped: bool
) -> None:
    if shipped:  # one machine shares the run folder: force the path of a node that does not
        monkeypatch.setenv(FORCE, "1")
    script = tmp_path / "usage_script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    folder = make_inputs(tmp_path, ["ok"] * 6)
    result = start(
        folder,
        tmp_path,
        RayCompute(address=ADDRESS),
        entry_script=str(script),
        source_directory=str(tmp_path),
        node_count=2,
        process_count_per_node=1,
        resource_monitor_interval=INTERVAL,
    )
    assert result.status == "Completed", result.reason
    logs = result.run_dir / "logs"
    samples: dict[tuple[str, str], list[dict[str, str]]] = {}
    for node in ("node0", "node1"):
        text = (logs / "perf" / node / "processes_resource_usage.csv").read_text()
        assert text.count("time,node,pid") == 1, text  # one header, also when shipped
        for row in csv.DictReader(text.splitlines()):
            assert row["node"] == node
            samples.setdefault((node, row["process"]), []).append(row)
    assert {node for node, _ in samples} == {"node0", "node1"}
    for (node, process), rows in samples.items():
        stdout = (logs / "user" / "stdout" / node / f"{process}.stdout.txt").read_text()
        (pid,) = re.findall(r"init pid=(\d+)", stdout)  # the actor's own PID
        assert {r["pid"] for r in rows} == {pid}
        assert all(int(r["rss_bytes"]) > 10_000_000 for r in rows)
        assert all(float(r["cpu_percent"]) >= 0 for r in rows)
        assert all(int(r["num_threads"]) >= 2 for r in rows)  # Ray's threads and the sampler
        times = [datetime.fromisoformat(r["time"]) for r in rows]
        span = (max(times) - min(times)).total_seconds()
        # At start, one an interval (also inside run()), at stop; the driver adds none.
        assert 4 <= len(rows) <= span / INTERVAL + 3, (span, rows)
        system = (logs / "sys" / "worker" / node / f"{process}.txt").read_text()
        (ready,) = re.findall(r"^(\S+ \S+)\|INFO\|\S+\|init\(\) took", system, re.M)
        init_end = datetime.strptime(ready, "%Y-%m-%d %H:%M:%S,%f").replace(microsecond=0)
        assert min(times) < init_end - timedelta(seconds=1), (ready, rows)  # during init()
    # The dashboard's worker table: each actor with its node, PID and memory.
    workers = {(w.node, w.name): w for w in readback.worker_processes(result.run_dir)}
    for (node, process), rows in samples.items():
        worker = workers[node, process]
        assert (str(worker.pid), worker.rss_bytes) == (rows[-1]["pid"], int(rows[-1]["rss_bytes"]))
