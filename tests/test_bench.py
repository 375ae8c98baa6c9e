"""The benchmark harness (``bench/``) cannot rot: it runs at a tiny scale, and its
correctness check rejects a wrong output."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from bench.checks import compare, read_output
from bench.contenders import write_output
from bench.outcome import Outcome

ROOT = Path(__file__).resolve().parent.parent

FIGURES = {
    "overhead_vs_pool",
    "overhead_ray_vs_shardrun",
    "images_efficiency",
    "parquet_efficiency",
    "csv_efficiency",
    "images_vs_ray",
    "parquet_vs_ray",
    "csv_vs_ray",
    "scheduler",
    "planning_seconds",
    "planning_rss",
    "startup",
    "quoted_csv",
    "ray2_vs_local",
}
# The figures that need only shardrun, the Pool and the single-process reference.
LOCAL_FIGURES = FIGURES - {
    "overhead_ray_vs_shardrun",
    "images_vs_ray",
    "parquet_vs_ray",
    "csv_vs_ray",
    "ray2_vs_local",
}


@pytest.mark.slow
def test_harness_at_a_tiny_scale_reports_every_figure(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    command = [sys.executable, "-m", "bench", "--scale", "0.0001", "--contenders", "shardrun,pool"]
    done = subprocess.run(
        [*command, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads((tmp_path / "out" / "latest.json").read_text())
    figures = {f["key"]: f for f in document["figures"]}
    assert set(figures) == FIGURES
    for key in LOCAL_FIGURES:
        assert figures[key]["value"] is not None, figures[key]
        assert figures[key]["status"] in ("PASS", "MISS"), figures[key]
    for key in FIGURES - LOCAL_FIGURES:  # Ray Data and the Ray backend were not asked for
        assert figures[key]["status"] == "n/a"
    assert "PASS" in done.stdout or "MISS" in done.stdout
    outcomes = {(o["contender"], o["workload"]): o for o in document["outcomes"]}
    for workload in ("overhead", "images", "parquet", "csv"):
        for contender in ("raw", "shardrun", "pool"):
            outcome = outcomes[(contender, workload)]
            assert outcome["valid"], outcome
            assert outcome["items"] > 0
            assert outcome["throughput"] > 0
    # The quoted-line-break CSV (1 MiB here) is smaller than one mini-batch (8 MB).
    assert document["engine"]["quoted_csv"]["mini_batches"] == 1
    chart = tmp_path / "out" / "latest.png"
    if importlib.util.find_spec("matplotlib") is not None:  # the `bench` extra
        assert chart.stat().st_size > 0
    else:
        assert "no chart: matplotlib not installed" in done.stdout


def _lines(path: Path, lines: list[str]) -> Path:
    write_output([lines], "lines", path)
    return path


def test_check_accepts_the_same_lines_in_another_order(tmp_path: Path) -> None:
    reference = read_output(_lines(tmp_path / "ref", ["a: 1", "b: 2", "c: 3"]), "lines")
    output = read_output(_lines(tmp_path / "out", ["c: 3", "a: 1", "b: 2"]), "lines")
    assert compare(output, reference) is None


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (["a: 1", "b: 7", "c: 3"], "1 of 3 predictions differ"),
        (["a: 1", "b: 2"], "2 rows where the reference has 3"),
        (["a: 1", "b: 2", "b: 2"], "1 of 3 keys differ"),
        (["a: 1", "b: 2", "c: 3", "c: 3"], "4 rows where the reference has 3"),
    ],
)
def test_check_rejects_a_wrong_output_and_its_time_does_not_count(
    tmp_path: Path, lines: list[str], problem: str
) -> None:
    reference = read_output(_lines(tmp_path / "ref", ["a: 1", "b: 2", "c: 3"]), "lines")
    wrong = _lines(tmp_path / "out", lines)
    outcome = Outcome("pool", "overhead", 3, 0.5, str(wrong)).check("lines", reference)
    assert outcome.error.startswith(f"wrong output: {problem}")
    assert not outcome.valid
    assert outcome.throughput is None


def test_check_rejects_a_wrong_table_prediction(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [0, 1, 2], "label": [1, 0, 2]})
    write_output([frame], "table", tmp_path / "ref.parquet")
    reference = read_output(tmp_path / "ref.parquet", "table")
    wrong = frame.assign(label=[1, 1, 2])
    write_output([wrong.iloc[:2], wrong.iloc[2:]], "table", tmp_path / "out.parquet")
    outcome = Outcome("dask", "csv", 3, 1.0, str(tmp_path / "out.parquet"))
    assert outcome.check("table", reference).error == (
        "wrong output: 1 of 3 predictions differ from the reference"
    )
    right = Outcome("dask", "csv", 3, 1.0, str(tmp_path / "ref.parquet"))
    assert right.check("table", reference).valid


def test_a_missing_output_does_not_count(tmp_path: Path) -> None:
    reference = read_output(_lines(tmp_path / "ref", ["a: 1"]), "lines")
    outcome = Outcome("ray_data", "images", 1, 2.0, str(tmp_path / "absent"))
    assert outcome.check("lines", reference).error.startswith("wrong output: no output file")
