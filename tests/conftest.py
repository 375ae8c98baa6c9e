"""Shared fixtures: input folders whose files tell tests/scripts/behave.py what to do."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from shardrun.pids import alive
from shardrun.workspace.urls import clear_cache
from shardrun.workspace.workspace import Workspace

SCRIPTS = Path(__file__).parent / "scripts"

# A suite started in the background by a shell without job control inherits SIGINT ignored,
# and so would every process it starts: the Ctrl-C tests need it delivered, as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def write_inputs(folder: Path, directives: Sequence[str]) -> list[Path]:
    """One file per directive, named so that sorting keeps their order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, directive in enumerate(directives):
        path = folder / f"item{number:05d}.txt"
        path.write_text(directive)
        paths.append(path)
    return paths


@pytest.fixture
def inputs(tmp_path: Path) -> Callable[[Sequence[str]], Path]:
    """Make an input folder from a list of directives; returns the folder."""

    def make(directives: Sequence[str]) -> Path:
        folder = tmp_path / "data"
        write_inputs(folder, directives)
        return folder

    return make


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh workspace folder."""
    return tmp_path / "ws"


@pytest.fixture(autouse=True)
def _clean_environment() -> Iterator[None]:
    """Drop the datastore secret variables and cached filesystems a test left behind."""
    before = set(os.environ)
    yield
    for name in set(os.environ) - before:
        if name.startswith("SHARDRUN_DATASTORE_"):
            del os.environ[name]
    clear_cache()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A fresh workspace."""
    return Workspace.create(tmp_path / "ws")


def stop_pipeline_drivers(root: Path) -> list[int]:
    """Stop, by PID, every pipeline driver under ``root`` whose run has not ended.

    Pipeline drivers are detached on purpose (they outlive their submitter), so a test that
    submits pipelines calls this at teardown: a failed assertion must not leave one running.
    """
    import json
    import signal
    import time

    stopped = []
    for record_file in root.rglob("experiments/*/*/run.json"):
        record = json.loads(record_file.read_text())
        pid = record.get("pid")
        if record.get("status") in ("Completed", "Failed", "Canceled") or not isinstance(pid, int):
            continue
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and alive(pid):
                time.sleep(0.05)
            if not alive(pid):
                break
        stopped.append(pid)
    return stopped


@pytest.fixture
def pipeline_drivers(tmp_path: Path) -> Iterator[Path]:
    """For tests that submit pipelines under ``tmp_path``: their drivers are stopped after."""
    yield tmp_path
    stop_pipeline_drivers(tmp_path)


@contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mounted at ``folder`` (created) with mount ``options``, unmounted after.

    It needs root and ``mount``: the test is skipped, saying why, where they are missing.
    """
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        # Workers of a killed run may hold files for a moment after their driver ends.
        deadline = time.monotonic() + 10
        while subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                subprocess.run(["umount", "-l", str(folder)], check=True)
                break
            time.sleep(0.2)
