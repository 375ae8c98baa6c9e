"""The local backend passes the backend conformance suite, and survives what broke it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from shardrun.engine.backends import get_backend
from shardrun.engine.backends.base import Backend
from shardrun.engine.messages import BatchResult, Started, WorkerExited, WorkerReady, WorkerSpec
from shardrun.errors import BackendError
from tests.conftest import SCRIPTS, write_inputs
from tests.contracts.backend import (
    BackendContract,
    check_started,
    collect,
    collect_outcomes,
    task,
)


class TestLocalBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        backend = get_backend("local")
        yield backend
        backend.shutdown(graceful=False)


def test_queued_tasks_mostly_come_back_as_one_message_each(tmp_path: Path) -> None:
    """A task already queued at the worker needs no Started (STARTED_OPTIONAL_WITHIN)."""
    backend = get_backend("local")
    spec = WorkerSpec(
        entry_script=str(SCRIPTS / "behave.py"),
        source_directory=str(SCRIPTS),
        run_dir=str(tmp_path / "run"),
        output_dir=str(tmp_path / "out"),
    )
    try:
        backend.start(spec, 1)
        collect(backend, 1)
        backend.submit_many(0, [task(tmp_path, ["ok"], n) for n in range(20)])
        events = collect_outcomes(backend, 20)
    finally:
        backend.shutdown()
    check_started(events)
    assert [e.index for e in events if isinstance(e, BatchResult)] == list(range(20))
    # The first task always has one; the others only when reading took over 50 ms.
    assert sum(isinstance(e, Started) for e in events) < 10, events


def test_unknown_backend_lists_the_choices() -> None:
    with pytest.raises(BackendError, match="unknown backend 'dask'; choose one of local"):
        get_backend("dask")


# -- hardening (issue 8): what a kill, a dead driver or a missing guard must not break ---------

SPAWNER = """
import os, subprocess, sys, time

def run(mini_batch):
    folder = os.path.dirname(mini_batch[0])
    pids = []
    for _ in range(3):
        # A grandchild in a session of its own: the worker's process group does not hold it.
        pids.append(subprocess.Popen(["sleep", "300"], start_new_session=True).pid)
    # A daemon: its parent exits at once, so it is orphaned (not a descendant any more).
    middle = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess; print(subprocess.Popen(['sleep', '300'],"
         " start_new_session=True, stdout=subprocess.DEVNULL).pid)"],
        stdout=subprocess.PIPE, text=True)
    pids.append(int(middle.communicate()[0]))
    with open(os.path.join(folder, "pids.tmp"), "w") as f:
        f.write(" ".join(map(str, pids)))
    os.rename(os.path.join(folder, "pids.tmp"), os.path.join(folder, "pids"))
    time.sleep(300)
    return mini_batch
"""


def _spec(tmp_path: Path, source: str, name: str = "script.py") -> WorkerSpec:
    script = tmp_path / name
    script.write_text(source)
    return WorkerSpec(
        entry_script=str(script),
        source_directory=str(tmp_path),
        run_dir=str(tmp_path / "run"),
        output_dir=str(tmp_path / "out"),
    )


def _alive(pid: int) -> bool:
    """Running, or a zombie nobody reaped (a leak too)."""
    try:
        psutil.Process(pid)
    except psutil.NoSuchProcess:
        return False
    return True


def _wait_for_file(path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text()


def _stop(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreaper is Linux only")
def test_kill_stops_children_in_new_sessions_and_orphans(tmp_path: Path) -> None:
    backend = get_backend("local")
    pids: list[int] = []
    try:
        backend.start(_spec(tmp_path, SPAWNER), 1)
        collect(backend, 1)
        batch = task(tmp_path, ["ok"])
        backend.submit(0, batch)
        folder = Path(batch.batch.files[0]).parent
        pids = [int(p) for p in _wait_for_file(folder / "pids", 30).split()]
        assert len(pids) == 4
        backend.kill(0)
        exited = [e for e in collect(backend, 2, timeout=10) if isinstance(e, WorkerExited)]
        assert exited
        # Gone and reaped: no process, not even a zombie, is left of what run() started.
        assert [p for p in pids if _alive(p)] == []
    finally:
        backend.shutdown(graceful=False)
        _stop(pids)


DRIVER = """
import sys, time
from shardrun.engine.backends import get_backend
from shardrun.engine.messages import MiniBatch, Started, Task, WorkerReady, WorkerSpec
spec = WorkerSpec(entry_script=sys.argv[1], source_directory=sys.argv[2],
                  run_dir=sys.argv[3], output_dir=sys.argv[4])
backend = get_backend("local")
backend.start(spec, 2)
ready = []
while len(ready) < 2:
    ready += [e for e in backend.events(None) if isinstance(e, WorkerReady)]
for n in range(2):
    backend.submit(n, Task(MiniBatch(n, "input", (sys.argv[5],), 1), 1))
started = 0
while started < 2:
    started += sum(isinstance(e, Started) for e in backend.events(None))
print(" ".join(str(e.pid) for e in ready), flush=True)
time.sleep(600)
"""

HOG = """
def run(mini_batch):
    # One long C call: the GIL stays held, no Python thread of this process runs.
    return [sum(range(10**12))]
"""


def test_workers_die_with_the_driver_while_run_holds_the_gil(tmp_path: Path) -> None:
    spec = _spec(tmp_path, HOG)
    item = tmp_path / "item.txt"
    item.write_text("x")
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DRIVER,
            spec.entry_script,
            spec.source_directory,
            spec.run_dir,
            spec.output_dir,
            str(item),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    workers: list[int] = []
    try:
        assert driver.stdout is not None
        workers = [int(p) for p in driver.stdout.readline().split()]
        assert len(workers) == 2
        time.sleep(0.5)  # both are deep in sum()
        driver.kill()
        driver.wait(10)
        deadline = time.monotonic() + 3
        while any(
            _alive(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in workers
        ):
            assert time.monotonic() < deadline, "workers outlived their driver"
            time.sleep(0.05)
    finally:
        driver.kill()
        driver.communicate()
        _stop(workers)


UNGUARDED = """
import sys
from shardrun import ParallelRunConfig, run_parallel
print("top level of the caller's script")
config = ParallelRunConfig(entry_script="behave.py", source_directory=sys.argv[1],
                           mini_batch_size="2", process_count_per_node=2)
result = run_parallel(config, sys.argv[2], sys.argv[3], workspace=sys.argv[4],
                      show_progress=False)
print("STATUS", result.status)
"""


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_a_script_without_a_main_guard_runs_once(tmp_path: Path, how: str) -> None:
    write_inputs(tmp_path / "data", ["ok"] * 6)
    args = [str(SCRIPTS), str(tmp_path / "data"), str(tmp_path / "out"), str(tmp_path / "ws")]
    if how == "file":
        (tmp_path / "job.py").write_text(UNGUARDED)
        command, stdin = [sys.executable, str(tmp_path / "job.py"), *args], None
    else:
        command, stdin = [sys.executable, "-", *args], UNGUARDED
    done = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["top level of the caller's script", "STATUS Completed"]
    assert "Traceback" not in done.stderr
    lines = (tmp_path / "out" / "parallel_run_step.txt").read_text().splitlines()
    assert lines == [f"item{n:05d}.txt: ok" for n in range(6)]
    records = [json.loads(p.read_text()) for p in (tmp_path / "ws" / "runs").glob("*/run.json")]
    assert [r["status"] for r in records] == ["Completed"]


def test_workers_carry_the_marker_and_the_drivers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHARDRUN_TEST_INHERITED", "from the driver")
    script = (
        "import os, json\n"
        "def init():\n"
        "    keep = ('SHARDRUN_TEST_INHERITED', 'SHARDRUN_WORKER_ID', 'PYTHONPATH')\n"
        "    with open(os.environ['AZUREML_BI_OUTPUT_PATH'] + '/env.json', 'w') as f:\n"
        "        json.dump({k: os.environ.get(k) for k in keep}, f)\n"
        "def run(mini_batch):\n"
        "    return mini_batch\n"
    )
    backend = get_backend("local")
    try:
        backend.start(_spec(tmp_path, script), 1)
        assert isinstance(collect(backend, 1)[0], WorkerReady)
    finally:
        backend.shutdown()
    seen = json.loads((tmp_path / "out" / "env.json").read_text())
    assert seen["SHARDRUN_TEST_INHERITED"] == "from the driver"
    assert seen["SHARDRUN_WORKER_ID"].startswith(f"{os.getpid()}-")
    # run()'s own subprocesses see the driver's PYTHONPATH, not the worker's.
    assert seen["PYTHONPATH"] == os.environ.get("PYTHONPATH")


LEAVER = """
import os, subprocess, time

def run(mini_batch):
    # A child in the worker's own session: it outlives a worker that the driver's death kills.
    pid = subprocess.Popen(["sleep", "300"]).pid
    path = os.path.join(os.path.dirname(mini_batch[0]), f"left-{os.getpid()}")
    with open(path + ".tmp", "w") as f:
        f.write(str(pid))
    os.rename(path + ".tmp", path)
    time.sleep(300)
    return mini_batch
"""


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_next_driver_stops_what_a_killed_drivers_run_left(tmp_path: Path) -> None:
    spec = _spec(tmp_path, LEAVER)
    item = tmp_path / "data" / "item.txt"
    item.parent.mkdir()
    item.write_text("x")
    command = [sys.executable, "-c", DRIVER, spec.entry_script, spec.source_directory]
    command += [spec.run_dir, spec.output_dir, str(item)]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    left: list[int] = []
    try:
        assert driver.stdout is not None
        workers = [int(p) for p in driver.stdout.readline().split()]
        deadline = time.monotonic() + 30
        while len(list(item.parent.glob("left-*[0-9]"))) < 2:
            assert time.monotonic() < deadline, "run() did not start its children"
            time.sleep(0.05)
        left = [int(p.read_text()) for p in item.parent.glob("left-*[0-9]")]
        driver.kill()
        driver.wait(10)
        deadline = time.monotonic() + 3
        while any(_running(p) for p in workers):
            assert time.monotonic() < deadline, "workers outlived their driver"
            time.sleep(0.05)
        assert all(_running(p) for p in left)  # nobody was left to stop them...
        backend = get_backend("local")
        try:
            backend.start(spec, 1)  # ...until the run's next driver starts
            assert not any(_running(p) for p in left)
        finally:
            backend.shutdown(graceful=False)
    finally:
        driver.kill()
        driver.communicate()
        _stop(left)
