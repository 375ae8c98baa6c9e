"""Whole runs on the session's real Ray cluster: two nodes, a node lost, a hang, a resume."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from shardrun import ConfigError, RayCompute, RunResult, resume, run_parallel
from shardrun.engine.ledger import Ledger
from shardrun.pids import alive
from tests.cluster.conftest import ADDRESS, CLIENT_ADDRESS, Cluster
from tests.conftest import write_inputs
from tests.engine.test_runs import attempts, config, expected, lines

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def start(
    folder: Path, tmp_path: Path, compute: Any, run_id: str | None = None, **overrides: Any
) -> RunResult:
    return run_parallel(
        config(compute_target=compute, **overrides),
        folder,
        tmp_path / f"out-{run_id or 'run'}",
        workspace=tmp_path / "ws",
        run_id=run_id,
        show_progress=False,
    )


def make_inputs(tmp_path: Path, directives: Sequence[str]) -> Path:
    folder = tmp_path / "data"
    write_inputs(folder, directives)
    return folder


def test_two_nodes_share_the_work_and_match_the_local_output_byte_for_byte(
    tmp_path: Path,
) -> None:
    directives = ["sleep 0.05"] * 24 + ["skip", "ok"] * 4
    folder = make_inputs(tmp_path, directives)
    shape = {"node_count": 2, "process_count_per_node": 2, "mini_batch_size": "2"}
    on_ray = start(folder, tmp_path, RayCompute(address=ADDRESS), "on-ray", **shape)
    on_local = start(folder, tmp_path, None, "on-local", **shape)
    assert on_ray.status == "Completed", on_ray.reason
    assert on_ray.output_file is not None
    assert on_local.output_file is not None
    assert on_ray.output_file.read_bytes() == on_local.output_file.read_bytes()
    assert lines(on_ray) == expected(directives, keep=lambda d: d != "skip")
    ledger = Ledger.open(on_ray.run_dir / "ledger.sqlite")
    try:
        workers = {a.worker for a in ledger.attempts() if a.status in ("SUCCEEDED", "PARTIAL")}
    finally:
        ledger.close()
    assert {w.split("/")[0] for w in workers} == {"node0", "node1"}
    assert len(workers) == 4
    logs = on_ray.run_dir / "logs"
    assert sorted(p.name for p in (logs / "user" / "stdout").iterdir()) == ["node0", "node1"]
    assert "batch 0 attempt 1: 2 rows" in "".join(
        p.read_text() for p in (logs / "user" / "stdout").rglob("*.txt")
    )
    record = (on_ray.run_dir / "run.json").read_text()
    assert '"backend": "ray"' in record


def test_a_driver_on_ray_client_runs_the_job_with_timeouts(tmp_path: Path) -> None:
    directives = ["ok", "skip", "sleep_once 60", "ok", "raise_once", "ok"]
    folder = make_inputs(tmp_path, directives)
    result = start(
        folder,
        tmp_path,
        RayCompute(address=CLIENT_ADDRESS),
        node_count=2,
        process_count_per_node=1,
        run_invocation_timeout=4,
    )
    assert result.status == "Completed", result.reason
    assert lines(result) == expected(directives, keep=lambda d: d != "skip")
    rows = [(r["mini_batch_id"], r["status"]) for r in attempts(result)]
    assert rows.count(("2", "RUN_TIMEOUT")) == 1
    assert rows.count(("4", "RUN_EXCEPTION")) == 1
    assert {r["node"] for r in attempts(result)} == {"node0", "node1"}


def test_a_node_removed_mid_run_loses_and_duplicates_no_row(
    tmp_path: Path, ray_cluster: Cluster
) -> None:
    ray_cluster.add_node("doomed", expect=3)
    # Long enough that the slot's replacement (a fresh actor: 1-2 s to start) still finds
    # work once the node is gone, however fast the machine runs the rest.
    directives = ["sleep 0.4"] * 60
    folder = make_inputs(tmp_path, directives)
    run_dir = tmp_path / "ws" / "runs" / "lose-a-node"
    killed: list[int] = []

    def kill_when_results_flow() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            spills = list((run_dir / "parts").glob("*.spill"))
            if spills and spills[0].stat().st_size > 0:
                killed.append(ray_cluster.kill_raylet("doomed"))
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_when_results_flow)
    killer.start()
    try:
        result = start(
            folder,
            tmp_path,
            RayCompute(address=ADDRESS),
            "lose-a-node",
            node_count=3,
            process_count_per_node=1,
        )
    finally:
        killer.join()
    assert killed, "the raylet was never killed"
    assert result.status == "Completed", result.reason
    assert lines(result) == expected(directives)
    assert result.failed_items == 0
    statuses = [row["status"] for row in attempts(result)]
    assert statuses.count("SUCCEEDED") == len(directives)
    backend_log = (run_dir / "logs" / "sys" / "ray_backend.txt").read_text()
    assert "is gone; worker slot" in backend_log
    # The lost node's slot moved: a replacement (process003 or later) on a remaining node
    # did some of the work.
    (lost,) = re.findall(r"(node\d) \([0-9a-f]+\) is gone", backend_log)[:1]
    workers = {
        (row["node"], row["process"]) for row in attempts(result) if row["status"] == "SUCCEEDED"
    }
    moved = [(node, process) for node, process in workers if int(process[len("process") :]) >= 3]
    assert moved, workers
    assert all(node != lost for node, _process in moved)


def test_a_hung_run_is_killed_at_the_timeout_with_what_it_started(tmp_path: Path) -> None:
    script = tmp_path / "hang.py"
    pids = tmp_path / "pids"
    pids.mkdir()
    script.write_text(
        textwrap.dedent(
            f"""
            import os, subprocess, time

            def run(mini_batch, context):
                if context.attempt == 1 and "hang" in open(mini_batch[0]).read():
                    # A grandchild: Ray ends an actor's children, not theirs.
                    folder = {str(pids)!r}
                    subprocess.Popen(["sh", "-c", f"sleep 300 & touch {{folder}}/$!; wait"])
                    time.sleep(300)
                return [os.path.basename(p) for p in mini_batch]
            """
        )
    )
    folder = make_inputs(tmp_path, ["ok", "hang", "ok"])
    result = run_parallel(
        config(
            entry_script=str(script),
            source_directory=str(tmp_path),
            compute_target=RayCompute(address=ADDRESS),
            run_invocation_timeout=3,
            process_count_per_node=1,
        ),
        folder,
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert result.status == "Completed", result.reason
    assert lines(result) == ["item00000.txt", "item00001.txt", "item00002.txt"]
    rows = [(r["mini_batch_id"], r["status"]) for r in attempts(result)]
    assert rows.count(("1", "RUN_TIMEOUT")) == 1
    assert rows.count(("1", "SUCCEEDED")) == 1
    (sleeper,) = (int(p.name) for p in pids.iterdir())
    deadline = time.monotonic() + 10
    while alive(sleeper) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(sleeper), "the sleep that the hung run() started outlived its actor"


def test_a_killed_driver_resumes_on_the_same_cluster_without_duplicates(tmp_path: Path) -> None:
    directives = ["sleep 0.3"] * 24
    folder = make_inputs(tmp_path, directives)
    driver = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from shardrun import RayCompute, run_parallel
        from tests.engine.test_runs import config
        run_parallel(
            config(compute_target=RayCompute(address={ADDRESS!r}), process_count_per_node=2),
            {str(folder)!r}, {str(tmp_path / "out")!r}, workspace={str(tmp_path / "ws")!r},
            run_id="killed", show_progress=False,
        )
        """
    )
    process = subprocess.Popen([sys.executable, "-c", driver], env=os.environ.copy())
    run_dir = tmp_path / "ws" / "runs" / "killed"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            spills = list((run_dir / "parts").glob("*.spill"))
            if spills and spills[0].stat().st_size > 100:
                break
            time.sleep(0.1)
        assert process.poll() is None, "the driver ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    ledger = Ledger.open(run_dir / "ledger.sqlite")
    try:
        done_before = ledger.counts().done
    finally:
        ledger.close()
    assert 0 < done_before < len(directives)
    result = resume("killed", workspace=tmp_path / "ws", show_progress=False)
    assert result.status == "Completed", result.reason
    assert lines(result) == expected(directives)
    succeeded = [r["mini_batch_id"] for r in attempts(result) if r["status"] == "SUCCEEDED"]
    assert sorted(succeeded, key=int) == [str(n) for n in range(len(directives))]


def test_cli_runs_a_job_on_the_cluster_with_set_compute(tmp_path: Path) -> None:
    directives = ["ok"] * 6
    folder = make_inputs(tmp_path, directives)
    job = tmp_path / "job.yaml"
    job.write_text(
        textwrap.dedent(
            f"""
            type: parallel
            inputs:
              data: {{type: uri_folder, path: {folder}}}
            input_data: ${{{{inputs.data}}}}
            mini_batch_size: "2"
            max_concurrency_per_instance: 1
            resources:
              instance_count: 2
            task:
              type: run_function
              code: {Path(__file__).parents[1] / "scripts"}
              entry_script: behave.py
            """
        )
    )
    command = [sys.executable, "-m", "shardrun", "run", str(job), "--no-progress"]
    command += ["--workspace", str(tmp_path / "ws"), "--set", f"compute={ADDRESS}"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "ws" / "runs").iterdir()
    assert '"backend": "ray"' in (run_dir / "run.json").read_text()
    assert sorted(p.name for p in (run_dir / "logs" / "user" / "stdout").iterdir()) == [
        "node0",
        "node1",
    ]


@pytest.mark.parametrize(
    ("compute", "nodes", "message"),
    [
        (RayCompute(address=ADDRESS), 3, "node_count=3 but the Ray cluster has 2 node"),
        (RayCompute(address="127.0.0.1:6999"), 1, "no Ray cluster answers at '127.0.0.1:6999'"),
    ],
)
def test_a_cluster_that_cannot_run_the_job_is_a_config_error_before_any_worker(
    tmp_path: Path, compute: RayCompute, nodes: int, message: str
) -> None:
    folder = make_inputs(tmp_path, ["ok"])
    with pytest.raises(ConfigError, match=message) as info:
        start(folder, tmp_path, compute, node_count=nodes)
    assert "\n" not in str(info.value)
    assert list((tmp_path / "ws" / "runs").iterdir()) == []
