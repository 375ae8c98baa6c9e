"""The output folder is checked in the driver, before any worker starts (issue 8, item 13)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shardrun import ConfigError, ParallelRunConfig, run_parallel
from shardrun.engine.destination import check_output_location
from tests.conftest import SCRIPTS, tmpfs, write_inputs


def config() -> ParallelRunConfig:
    return ParallelRunConfig(
        entry_script="behave.py",
        source_directory=str(SCRIPTS),
        mini_batch_size="1",
        output_action="append_row",
        process_count_per_node=1,
    )


def start(tmp_path: Path, output: Path) -> None:
    write_inputs(tmp_path / "data", ["ok", "ok"])
    run_parallel(
        config(), tmp_path / "data", output, workspace=tmp_path / "ws", show_progress=False
    )


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A real read-only file system (a tmpfs mounted ``ro``), unmounted after the test."""
    with tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        yield folder


def test_output_that_is_a_file_fails_before_workers_start(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.write_text("not a folder")
    with pytest.raises(ConfigError) as info:
        start(tmp_path, output)
    assert str(info.value) == (
        f"output must be a folder that can be created and written; got {str(output)!r}, "
        "which is a file"
    )
    assert info.value.parameter == "output"
    assert list((tmp_path / "ws" / "runs").iterdir()) == []  # no run, so no worker


def test_output_below_a_file_fails_before_workers_start(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    output = tmp_path / "file" / "out"
    with pytest.raises(ConfigError, match=f"cannot be made: {tmp_path / 'file'} is a file$"):
        start(tmp_path, output)
    assert list((tmp_path / "ws" / "runs").iterdir()) == []


def test_missing_output_on_a_read_only_file_system(tmp_path: Path, read_only: Path) -> None:
    output = read_only / "new" / "out"
    with pytest.raises(ConfigError) as info:
        start(tmp_path, output)
    assert str(info.value) == (
        f"output must be a folder that can be created and written; got {str(output)!r}, "
        f"and its parent {read_only} cannot be written (Read-only file system)"
    )
    assert list((tmp_path / "ws" / "runs").iterdir()) == []


def test_existing_output_on_a_read_only_file_system(read_only: Path) -> None:
    with pytest.raises(ConfigError, match=r"and it cannot be written \(Read-only file system\)$"):
        check_output_location(read_only)


def test_writable_output_is_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    check_output_location(tmp_path / "out")
    check_output_location(tmp_path / "missing" / "deeper")
    assert os.listdir(tmp_path / "out") == []
    assert sorted(os.listdir(tmp_path)) == ["out"]
