"""Run ids name a folder under ``<workspace>/runs`` and must stay inside it (issue 8, item 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shardrun import ConfigError, ParallelRunConfig, run_parallel
from shardrun.config.step_rules import validate_run_id
from shardrun.engine.runs import new_run_id, resume
from tests.conftest import SCRIPTS, write_inputs

RULE = "1 to 255 letters, digits, '_', '-' or '.', not starting with '.' and without '..'"
BAD = ["../../x", "a/b", "/tmp/abs", "..", ".hidden", "a..b", "a\\b", "", "a b", "x" * 256, "é"]


@pytest.mark.parametrize(
    "run_id", ["r1", "A_b-c.d", "behave-20261207-101010-abc123", "x" * 255, "-x", "_"]
)
def test_valid_run_ids(run_id: str) -> None:
    assert validate_run_id(run_id) == run_id


@pytest.mark.parametrize("run_id", BAD)
def test_invalid_run_ids(run_id: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_run_id(run_id)
    assert str(info.value) == f"run id must be {RULE}; got {run_id!r}"
    assert info.value.parameter == "run_id"


@pytest.mark.parametrize("script", ["score.py", "My Score!.py", "???.py"])
def test_generated_run_ids_are_valid(tmp_path: Path, script: str) -> None:
    (tmp_path / script).write_text("def run(mini_batch):\n    return mini_batch\n")
    config = ParallelRunConfig(
        entry_script=script, source_directory=str(tmp_path), mini_batch_size="1"
    )
    assert validate_run_id(new_run_id(config))


@pytest.mark.parametrize("run_id", ["../../escaped", "a/b", "ABSOLUTE"])
def test_run_parallel_refuses_a_run_id_outside_the_workspace(tmp_path: Path, run_id: str) -> None:
    run_id = str(tmp_path / "escaped") if run_id == "ABSOLUTE" else run_id
    write_inputs(tmp_path / "data", ["ok"])
    config = ParallelRunConfig(
        entry_script="behave.py", source_directory=str(SCRIPTS), mini_batch_size="1"
    )
    workspace = tmp_path / "deep" / "ws"
    with pytest.raises(ConfigError, match=r"^run id must be"):
        run_parallel(
            config, tmp_path / "data", workspace=workspace, run_id=run_id, show_progress=False
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "deep"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["ws"]
    assert list((workspace / "runs").iterdir()) == []


def test_resume_refuses_a_run_id_outside_the_workspace(tmp_path: Path) -> None:
    # A run folder outside <workspace>/runs that `../` would reach.
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "run.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"^run id must be"):
        resume("../../outside", workspace=tmp_path / "ws", show_progress=False)
