"""The conformance suite every backend passes (subclass it with a ``backend`` fixture)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shardrun.engine.backends.base import Backend
from shardrun.engine.messages import (
    BatchResult,
    Event,
    MiniBatch,
    Started,
    Task,
    WorkerExited,
    WorkerFailed,
    WorkerReady,
    WorkerSpec,
)
from shardrun.engine.writer import Syncer
from tests.conftest import SCRIPTS, write_inputs


def collect(backend: Backend, count: int, timeout: float = 60.0) -> list[Event]:
    """Events until ``count`` arrived (or fail after ``timeout`` seconds)."""
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(events) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(events)} of {count} events: {events}"
        events.extend(backend.events(remaining))
    return events


def collect_outcomes(backend: Backend, count: int, timeout: float = 60.0) -> list[Event]:
    """Events until ``count`` other than Started arrived (a worker may leave some out)."""
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while sum(not isinstance(e, Started) for e in events) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(events)} events: {events}"
        events.extend(backend.events(remaining))
    return events


def check_started(events: list[Event]) -> None:
    """A Started names the attempt whose result comes next; the first attempt has one."""
    assert isinstance(events[0], Started), events
    for event, after in itertools.pairwise(events):
        if isinstance(event, Started):
            assert not isinstance(after, Started), events
            assert getattr(after, "index", event.index) == event.index, events


def task(folder: Path, directives: list[str], index: int = 0) -> Task:
    files = tuple(str(p) for p in write_inputs(folder / f"batch{index}", directives))
    return Task(MiniBatch(index, "input", files, len(files)), 1)


class BackendContract:
    """What the scheduler relies on, checked on real worker processes."""

    #: The exit code a crashed worker (``os._exit(3)``) is reported with: a local process's
    #: own code; Ray reports that an actor died, not its code (None).
    crash_exit_code: int | None = 3

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        raise NotImplementedError("a subclass provides the backend under test")

    @pytest.fixture
    def spec(self, tmp_path: Path) -> WorkerSpec:
        return WorkerSpec(
            entry_script=str(SCRIPTS / "behave.py"),
            source_directory=str(SCRIPTS),
            run_dir=str(tmp_path / "run"),
            output_dir=str(tmp_path / "out"),
        )

    def test_workers_report_ready_with_distinct_names(
        self, backend: Backend, spec: WorkerSpec
    ) -> None:
        backend.start(spec, 2)
        events = collect(backend, 2)
        assert all(isinstance(e, WorkerReady) for e in events)
        assert sorted(e.worker for e in events) == [0, 1]
        assert len({e.name for e in events if isinstance(e, WorkerReady)}) == 2

    def test_tasks_run_in_order_and_their_parts_hold_the_rows(
        self, backend: Backend, spec: WorkerSpec, tmp_path: Path
    ) -> None:
        backend.start(spec, 1)
        collect(backend, 1)
        first, second = task(tmp_path, ["ok", "ok"], 0), task(tmp_path, ["ok"], 1)
        backend.submit(0, first)
        backend.submit(0, second)
        events = collect_outcomes(backend, 2)
        check_started(events)
        results = [e for e in events if isinstance(e, BatchResult)]
        assert [(r.index, r.total, r.succeeded, r.rows) for r in results] == [
            (0, 2, 2, 2),
            (1, 1, 1, 1),
        ]
        part = results[0].part
        assert part is not None
        Syncer().sync([part])
        with open(part.path, "rb") as handle:
            handle.seek(part.offset)
            assert handle.read(part.length) == b"item00000.txt: ok\nitem00001.txt: ok\n"

    def test_several_tasks_in_one_submit_run_in_order(
        self, backend: Backend, spec: WorkerSpec, tmp_path: Path
    ) -> None:
        backend.start(spec, 1)
        collect(backend, 1)
        backend.submit_many(0, [task(tmp_path, ["ok"], n) for n in range(3)])
        events = collect_outcomes(backend, 3)
        check_started(events)
        results = [e for e in events if isinstance(e, BatchResult)]
        assert [(r.index, r.succeeded) for r in results] == [(0, 1), (1, 1), (2, 1)]

    def test_an_exception_comes_back_as_an_error_with_its_traceback(
        self, backend: Backend, spec: WorkerSpec, tmp_path: Path
    ) -> None:
        backend.start(spec, 1)
        collect(backend, 1)
        backend.submit(0, task(tmp_path, ["raise"]))
        result = collect(backend, 2)[1]
        assert isinstance(result, BatchResult)
        assert result.error is not None
        assert result.error.type == "ValueError"
        assert 'raise ValueError("bad input on purpose")' in result.error.traceback
        assert result.part is None

    def test_kill_stops_a_hung_worker_and_restart_replaces_it(
        self, backend: Backend, spec: WorkerSpec, tmp_path: Path
    ) -> None:
        backend.start(spec, 1)
        ready = collect(backend, 1)[0]
        backend.submit(0, task(tmp_path, ["sleep 60"]))
        assert isinstance(collect(backend, 1)[0], Started)
        backend.kill(0)
        exited = collect(backend, 1, timeout=10)[0]
        assert isinstance(exited, WorkerExited)
        assert not exited.expected
        backend.restart(0)
        again = collect(backend, 1)[0]
        assert isinstance(again, WorkerReady)
        assert isinstance(ready, WorkerReady)
        assert again.name != ready.name

    def test_a_crash_is_reported_after_the_events_sent_before_it(
        self, backend: Backend, spec: WorkerSpec, tmp_path: Path
    ) -> None:
        backend.start(spec, 1)
        collect(backend, 1)
        backend.submit(0, task(tmp_path, ["ok"], 0))
        backend.submit(0, task(tmp_path, ["exit"], 1))
        events = collect_outcomes(backend, 2)
        check_started(events)
        assert [type(e) for e in events if not isinstance(e, Started)] == [
            BatchResult,
            WorkerExited,
        ]
        exited = events[-1]
        assert isinstance(exited, WorkerExited)
        assert not exited.expected
        assert exited.exitcode == self.crash_exit_code

    def test_init_and_import_failures_are_reported(self, backend: Backend, tmp_path: Path) -> None:
        broken = tmp_path / "broken.py"
        broken.write_text("import no_such_module_anywhere\n\ndef run(batch):\n    return batch\n")
        spec = WorkerSpec(
            entry_script=str(broken),
            source_directory=str(tmp_path),
            run_dir=str(tmp_path / "run"),
            output_dir=str(tmp_path / "out"),
        )
        backend.start(spec, 1)
        failed, exited = collect(backend, 2)
        assert isinstance(failed, WorkerFailed)
        assert failed.phase == "import"
        assert "no_such_module_anywhere" in failed.error.traceback
        assert isinstance(exited, WorkerExited)

    def test_events_time_out_empty(self, backend: Backend, spec: WorkerSpec) -> None:
        backend.start(spec, 1)
        collect(backend, 1)
        started = time.monotonic()
        assert backend.events(0.3) == []
        assert time.monotonic() - started >= 0.25

    def test_graceful_shutdown_calls_the_scripts_shutdown(
        self, backend: Backend, tmp_path: Path
    ) -> None:
        script = tmp_path / "with_shutdown.py"
        marker = tmp_path / "shutdown-called"
        script.write_text(
            "def run(batch):\n    return batch\n\n"
            f"def shutdown():\n    open({str(marker)!r}, 'w').close()\n"
        )
        spec = WorkerSpec(
            entry_script=str(script),
            source_directory=str(tmp_path),
            run_dir=str(tmp_path / "run"),
            output_dir=str(tmp_path / "out"),
        )
        backend.start(spec, 1)
        collect(backend, 1)
        backend.shutdown(graceful=True, timeout=10)
        assert marker.exists()
