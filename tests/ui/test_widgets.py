"""``RunDetails``: the ipywidgets view of a run, and the text summary outside Jupyter."""

from __future__ import annotations

from pathlib import Path

import pytest

from shardrun import Dataset, ParallelRunConfig, RunDetails
from shardrun.engine.runs import RunResult, run_parallel
from tests.conftest import SCRIPTS, write_inputs


def failed_run(tmp_path: Path) -> RunResult:
    write_inputs(tmp_path / "data", ["ok", "ok", "raise", "ok", "ok"])
    config = ParallelRunConfig(
        entry_script="behave.py",
        source_directory=str(SCRIPTS),
        mini_batch_size="2",
        error_threshold=-1,
        process_count_per_node=2,
        run_max_try=1,
    )
    return run_parallel(
        config,
        Dataset.File.from_files(str(tmp_path / "data")),
        workspace=tmp_path / "ws",
        run_id="with-failure",
        show_progress=False,
    )


def test_outside_jupyter_show_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = failed_run(tmp_path)
    RunDetails(result).show()
    out = capsys.readouterr().out
    assert "Run with-failure: Completed" in out
    assert "3 of 3 mini-batches (2 done, 1 failed); 3 items succeeded, 2 failed" in out
    assert "with-failure mini-batch 1 attempt 1" in out
    assert "ValueError: bad input on purpose" in out
    assert "    inputs: item00002.txt, item00003.txt" in out


def test_the_widget_shows_progress_counts_and_failures(tmp_path: Path) -> None:
    result = failed_run(tmp_path)
    details = RunDetails(result)
    box = details.widget()
    bar, body = box.children
    assert (bar.value, bar.max, bar.bar_style) == (3, 3, "success")
    assert "3 of 3 mini-batches" in body.value
    assert "Failed mini-batches" in body.value
    assert "ValueError: bad input on purpose" in body.value
    assert "item00002.txt, item00003.txt" in body.value
