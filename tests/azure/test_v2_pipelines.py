"""Azure's v2 parallel examples as ``type: pipeline`` files, run by ``shardrun run``.

Each sample folder under ``samples/`` keeps the shape of its namesake in
Azure/azureml-examples ``cli/jobs/parallel/``; the test copies it, adds local data and a
model, runs the CLI as a user would, and checks the results.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.linear_model import LogisticRegression

SAMPLES = Path(__file__).parent / "samples"
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(autouse=True)
def _stop_drivers(pipeline_drivers: Path) -> None:
    """Every pipeline driver a test here starts is stopped by PID at teardown."""


pytest_plugins = ["tests.services"]


def sample(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    shutil.copytree(SAMPLES / name, folder)
    return folder


def shardrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(SRC.parent)])}
    return subprocess.run(
        [sys.executable, "-m", "shardrun", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_2a_iris_batch_prediction(tmp_path: Path) -> None:
    folder = sample("2a_iris_batch_prediction", tmp_path)
    iris = load_iris(as_frame=True)
    features = iris.data.set_axis(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1
    )
    model = LogisticRegression(max_iter=1000).fit(features.to_numpy(), iris.target.to_numpy())
    (folder / "iris-model").mkdir()
    with open(folder / "iris-model" / "model.pkl", "wb") as handle:
        pickle.dump(model, handle)
    table = folder / "neural-iris-mltable" / "iris.csv"
    features.assign(row_id=range(150)).to_csv(table, index=False)

    done = shardrun("run", "pipeline.yml", "--workspace", str(tmp_path / "ws"), cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    output = Path(done.stdout.strip().splitlines()[-1])
    assert output.name == "aggregated_returns.csv"
    assert output.is_relative_to(tmp_path / "ws" / "datastores" / "workspaceblobstore")
    scored = pd.read_csv(output, sep=" ", header=None, names=["row_id", "variety"])
    assert scored["row_id"].tolist() == list(range(150))
    assert scored["variety"].tolist() == model.predict(features.to_numpy()).tolist()
    # Pinned versions that differ from this Python's are a warning naming both, not an error.
    assert "scikit-learn==0.24.2 (installed: " in done.stderr


def test_3a_mnist_pipeline_with_a_prepare_data_command_step(tmp_path: Path) -> None:
    folder = sample("3a_mnist_batch_identification", tmp_path)
    digits = load_digits()
    model = LogisticRegression(max_iter=5000).fit(digits.data, digits.target)
    (folder / "mnist_models").mkdir()
    with open(folder / "mnist_models" / "digits.pkl", "wb") as handle:
        pickle.dump(model, handle)

    done = shardrun("run", "pipeline.yml", "--workspace", str(tmp_path / "ws"), cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    output = Path(done.stdout.strip().splitlines()[-1])
    lines = output.read_text().splitlines()
    indexes = range(0, len(digits.images), 40)
    assert [line.split(":")[0] for line in lines] == [
        f"{i:04d}_label{digits.target[i]}.png" for i in indexes
    ]
    predicted = np.array([int(line.split(": ")[1]) for line in lines])
    truth = np.array([digits.target[i] for i in indexes])
    assert (predicted == truth).mean() > 0.9


def oj_sales(rows_per_partition: int = 60) -> pd.DataFrame:
    """A small stand-in for OJ sales: 2 stores x 3 brands, weekly quantities."""
    generator = np.random.default_rng(7)
    frames = []
    for store in (1001, 1002):
        for brand in ("dominicks", "minute.maid", "tropicana"):
            weeks = pd.date_range("1990-06-14", periods=rows_per_partition, freq="7D")
            quantity = 10000 + 2000 * np.sin(np.arange(rows_per_partition) / 4)
            frames.append(
                pd.DataFrame(
                    {
                        "WeekStarting": weeks.strftime("%Y-%m-%d"),
                        "Store": store,
                        "Brand": brand,
                        "Quantity": (quantity + generator.normal(0, 300, len(weeks))).round(),
                        "Advert": generator.integers(0, 2, rows_per_partition),
                        "Price": generator.uniform(1.5, 3.0, rows_per_partition).round(2),
                        "Revenue": generator.uniform(10000, 30000, rows_per_partition).round(2),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def test_1a_partition_then_train_one_model_per_partition(tmp_path: Path) -> None:
    folder = sample("1a_oj_sales_prediction", tmp_path)
    (folder / "oj_sales_data").mkdir()
    oj_sales().to_csv(folder / "oj_sales_data" / "oj_sales_data.csv", index=False)

    ws = tmp_path / "ws"
    done = shardrun("run", "pipeline.yml", "--workspace", str(ws), cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    models = sorted(ws.rglob("my_model.pkl"))
    found = sorted((m.parent.parent.name, m.parent.name) for m in models)
    # One model per partition, under <model_folder>/<Store>/<Brand>/ (partition_key_value).
    assert found == [
        (str(s), b) for s in (1001, 1002) for b in ("dominicks", "minute.maid", "tropicana")
    ]
    assert all(m.parent.parent.parent.name == "parallel_train_model_folder" for m in models)
    # Every run() returned one row for a whole partition: with error_threshold -1 that is
    # not a failed mini-batch (6 partitions > mini_batch_error_threshold 5, yet Completed).
    assert "6 of 6 mini-batches processed" in done.stdout
