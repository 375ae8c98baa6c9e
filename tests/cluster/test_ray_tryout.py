"""``compute_target="ray"`` with no cluster to join: a local Ray instance for a try-out.

The run is driven by a child process of its own, as a user's first notebook would start
it, where the session's cluster cannot be found: ``RAY_ADDRESS`` unset, a fresh
``RAY_TMPDIR`` (no ``ray_current_cluster`` file) and a PID namespace of its own
(``unshare -p``: Ray's ``auto`` also looks for a running ``gcs_server`` among the
processes). Everything the try-out starts ends with that namespace; the test stops it by
PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psutil
import pytest

from tests.conftest import write_inputs
from tests.engine.test_runs import expected

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

DRIVER = """
from shardrun import run_parallel
from tests.engine.test_runs import config

result = run_parallel(
    config(compute_target="ray", process_count_per_node=2),
    {data!r},
    {out!r},
    workspace={ws!r},
    show_progress=False,
)
print("STATUS", result.status, result.reason)
"""


def test_no_cluster_starts_a_local_instance_says_so_and_runs(tmp_path: Path) -> None:
    directives = ["ok", "skip", "ok", "ok", "ok", "ok"]
    write_inputs(tmp_path / "data", directives)
    # Short: Ray's socket paths under it must stay within the 107 bytes of a socket name.
    ray_tmp = tempfile.mkdtemp(prefix="srtry-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = ray_tmp
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    script = DRIVER.format(
        data=str(tmp_path / "data"), out=str(tmp_path / "out"), ws=str(tmp_path / "ws")
    )
    driver = subprocess.Popen(
        ["unshare", "-p", "-f", "--mount-proc", sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = driver.communicate(timeout=300)
    finally:
        _stop_what_is_left(driver)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert driver.returncode == 0, err[-3000:]
    assert "started a local Ray instance for a try-out" in err
    assert out.strip().splitlines()[-1].startswith("STATUS Completed"), out + err[-3000:]
    lines = (tmp_path / "out" / "parallel_run_step.txt").read_text().splitlines()
    assert lines == expected(directives, keep=lambda d: d != "skip")
    (run_dir,) = (tmp_path / "ws" / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["backend"] == "ray"


def _stop_what_is_left(driver: subprocess.Popen[str]) -> None:
    """Kill the driver's namespace if it still runs (its init, then every process in it)."""
    if driver.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(driver.pid).children(recursive=True):
                child.kill()
        driver.kill()
        driver.wait()
