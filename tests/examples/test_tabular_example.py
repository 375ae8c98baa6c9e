"""The tabular example (examples/tabular): model training, and the example end to end.

The end-to-end test copies the example into ``tmp_path`` and runs the copy with a smaller
table, so it always exercises a first run (table written, model trained and registered)
and a re-run, whatever a developer's own build folder holds. No network is used.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort
import pyarrow.parquet as pq
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tabular"


def load_prepare() -> ModuleType:
    """``examples/tabular/prepare.py`` as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("tabular_prepare", EXAMPLE / "prepare.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_model_beats_a_constant_guess(tmp_path: Path) -> None:
    prepare = load_prepare()
    path, reported = prepare.train_model(tmp_path / "churn.onnx", rows=10_000)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (features,) = session.get_inputs()
    assert (features.name, features.type, features.shape[1:]) == ("features", "tensor(float)", [6])
    table = prepare.customers(5000, seed=99)
    (labels,) = session.run(["label"], {"features": prepare.feature_matrix(table)})
    truth = table.column("churned").to_numpy(zero_copy_only=False)
    assert float(np.mean(labels.astype(bool) == truth)) > max(truth.mean(), 1 - truth.mean()) + 0.05
    assert reported > 0.72


def run_example(script: Path, cwd: Path, *args: str) -> list[str]:
    completed = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, f"{completed.stdout}\n{completed.stderr}"
    return completed.stdout.splitlines()


@pytest.mark.slow
def test_example_scores_every_row_once_in_order(tmp_path: Path) -> None:
    example = tmp_path / "tabular"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("build", "__pycache__"))
    rows = 40_000
    lines = run_example(example / "run.py", tmp_path, "--rows", str(rows))
    assert f"table: {rows} rows, 1.4 MB written" in lines
    assert "model: trained" in lines
    assert "mini-batches: 2" in lines
    assert f"rows: {rows} in, {rows} out" in lines
    assert float(next(x for x in lines if x.startswith("accuracy: ")).split()[1]) > 0.72
    output = Path(lines[-1])
    assert output == example / "build" / "output" / "churn_scores.parquet"
    scores = pq.read_table(output)
    assert scores.column_names == ["customer_id", "churn_probability", "churn"]
    assert scores.column("customer_id").to_pylist() == list(range(1, rows + 1))

    again = run_example(example / "run.py", tmp_path, "--rows", str(rows))
    assert f"table: {rows} rows, 1.4 MB (kept)" in again
    assert any(line.startswith("model: already in") for line in again)
    assert "model: churn-classifier version 1" in again
    assert pq.read_table(Path(again[-1])).equals(scores)
