"""``/metrics`` parses with prometheus_client's parser and holds the runs' figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.test_cli import project, shardrun
from tests.ui.conftest import dashboard, get


def test_metrics_parse_and_match_the_runs(tmp_path: Path) -> None:
    job = project(tmp_path, ["ok", "raise", "ok", "ok", "ok", "ok", "ok"])
    done = shardrun("run", str(job), "--workspace", "ws", "--run-id", "odd.id-1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with dashboard(tmp_path) as ui:
        response = get(ui.port, "/metrics")
    assert response.status == 200
    assert response.getheader("content-type").startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(response.body.decode()))
    names = [f.name for f in families]
    assert len(names) == len(set(names)), names  # one family per metric
    types = {f.name: f.type for f in families}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families
        for s in family.samples
    }
    run = ("run_id", "odd.id-1")
    assert types["shardrun_items_succeeded"] == "counter"
    assert types["shardrun_mini_batches"] == "gauge"
    assert samples[("shardrun_items_succeeded_total", (run,))] == 4
    assert samples[("shardrun_items_failed_total", (run,))] == 3
    assert samples[("shardrun_run_status", (run, ("status", "Completed")))] == 1
    assert samples[("shardrun_run_status", (run, ("status", "Running")))] == 0
    assert samples[("shardrun_run_progress_ratio", (run,))] == 1.0
    by_state = {
        labels[1][1]: value
        for (name, labels), value in samples.items()
        if name == "shardrun_mini_batches"
    }
    assert by_state == {"pending": 0, "running": 0, "done": 2, "failed": 1}
    workers = {
        dict(labels)["worker"]: value
        for (name, labels), value in samples.items()
        if name == "shardrun_worker_items_total"
    }
    assert sum(workers.values()) == 4
    assert set(workers) <= {"node0/process000", "node0/process001"}
    assert any(name == "shardrun_worker_items_per_second" for name, _ in samples)


def test_import_shardrun_does_not_import_the_dashboard() -> None:
    code = (
        "import sys, shardrun, shardrun.cli, shardrun.engine.history, shardrun.ui.tables; "
        "bad = [m for m in ('starlette', 'uvicorn', 'shardrun.ui.app') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
