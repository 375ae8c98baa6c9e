"""Chaos fixtures: the dataset, a clean run to compare with, and the figure line at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.harness import FIGURES, Job, directives
from tests.conftest import write_inputs


@pytest.fixture(scope="session")
def chaos_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chaos-data")
    write_inputs(folder, directives())
    return folder


@pytest.fixture(scope="session")
def clean(chaos_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The output of an undisturbed run of the same job, line by line."""
    job = Job(tmp_path_factory.mktemp("chaos-clean"), chaos_data)
    try:
        assert job.finish() == "STATUS Completed"
        lines = (job.output / "parallel_run_step.txt").read_text().splitlines()
        job.assert_no_orphans()
    finally:
        job.cleanup()
    assert len(lines) == len(directives())
    return lines


@pytest.fixture
def new_job(chaos_data: Path, tmp_path: Path) -> Iterator[Callable[..., Job]]:
    """Make a job over the chaos dataset; every driver and marked process dies at teardown."""
    made: list[Job] = []

    def make(**overrides: Any) -> Job:
        made.append(Job(tmp_path / f"job{len(made)}", chaos_data, **overrides))
        return made[-1]

    yield make
    for job in made:
        job.cleanup()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES.runs == 0 and FIGURES.driver_kills == 0:
        return
    terminalreporter.write_line(FIGURES.line())
