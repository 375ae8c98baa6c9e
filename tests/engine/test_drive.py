"""The workers start before planning, so that start-up and planning overlap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from shardrun import ConfigError, ParallelRunConfig, run_parallel
from shardrun.engine import backends
from tests.conftest import SCRIPTS
from tests.engine import probe_backend

MakeInputs = Callable[[Sequence[str]], Path]


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, int]]:
    probe_backend.SEEN.clear()
    entry = ("tests.engine.probe_backend", "ProbeBackend", None)
    monkeypatch.setitem(backends.registry, "local", entry)
    return probe_backend.SEEN


def config(**overrides: object) -> ParallelRunConfig:
    settings: dict[str, object] = {
        "entry_script": "behave.py",
        "source_directory": str(SCRIPTS),
        "mini_batch_size": "2",
        "process_count_per_node": 2,
    }
    settings.update(overrides)
    return ParallelRunConfig(**settings)  # type: ignore[arg-type]


def test_workers_start_before_the_ledger_is_planned(
    inputs: MakeInputs, tmp_path: Path, probe: list[tuple[str | None, int]]
) -> None:
    directives = ["ok"] * 9
    result = run_parallel(
        config(),
        inputs(directives),
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert result.status == "Completed", result.reason
    assert probe == [(None, 0)]  # started with an empty, unplanned ledger
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == [f"item{n:05d}.txt: ok" for n in range(9)]
    assert result.total_mini_batches == 5


def test_a_resume_starts_workers_on_the_planned_ledger(
    inputs: MakeInputs, tmp_path: Path, probe: list[tuple[str | None, int]]
) -> None:
    first = run_parallel(
        config(run_max_try=1, error_threshold=0),
        inputs(["ok", "raise", "ok"]),
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert first.status == "Failed"
    again = first.resume(show_progress=False)  # "raise" fails on every first attempt
    assert probe == [(None, 0), ("1", 2)]  # the resume did not plan again
    assert again.status == "Failed"


def test_planning_errors_stop_the_started_workers(
    tmp_path: Path, probe: list[tuple[str | None, int]]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="matched no data"):
        run_parallel(
            config(), empty, tmp_path / "out", workspace=tmp_path / "ws", show_progress=False
        )
    assert probe == [(None, 0)]
    assert not list((tmp_path / "ws" / "runs").iterdir())  # no half-made run is left
