"""run.json, the driver lock and the output folder's lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shardrun.engine.record import (
    OUTPUT_LOCK,
    driven,
    driver_lock,
    inspect_run,
    output_lock,
    write_record,
)
from shardrun.errors import ConfigError


def test_one_live_run_per_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_lock(out, "first"):
        assert (out / OUTPUT_LOCK).read_text().startswith("run 'first' (pid ")
        refused = pytest.raises(ConfigError, match=r"output folder .* is in use by run 'first'")
        with refused, output_lock(out, "second"):
            pass
    assert not (out / OUTPUT_LOCK).exists()
    (out / OUTPUT_LOCK).write_text("run 'killed' (pid 1)")  # left by a killed driver
    with output_lock(out, "third"):
        pass


def test_a_run_nobody_drives_reads_not_responding(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    write_record(run_dir, {"run_id": "r", "status": "Running"})
    with driver_lock(run_dir):
        assert driven(run_dir)
        assert inspect_run(run_dir)["status"] == "Running"
        refused = pytest.raises(ConfigError, match="being driven by another process")
        with refused, driver_lock(run_dir):
            pass
    assert not driven(run_dir)
    assert inspect_run(run_dir)["status"] == "NotResponding"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "Running"
