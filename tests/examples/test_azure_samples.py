"""Azure's official ParallelRunStep sample scripts run unchanged (byte for byte)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from shardrun import Dataset, Model, ParallelRunConfig, Workspace, run_parallel
from tests.conftest import SCRIPTS


def test_iris_sample_scores_a_tabular_dataset(tmp_path: Path) -> None:
    """``iris_score.py`` from Azure/MachineLearningNotebooks' parallel-run samples."""
    iris = load_iris(as_frame=True)
    features = iris.data.set_axis(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1
    )
    varieties = iris.target.to_numpy()  # pandas 3 cannot store a 2-D array of strings
    model = LogisticRegression(max_iter=1000).fit(features.to_numpy(), varieties)
    with open(tmp_path / "iris_model.pkl", "wb") as handle:
        pickle.dump(model, handle)
    ws = Workspace.create(tmp_path / "ws")
    Model.register(workspace=ws, model_path=tmp_path / "iris_model.pkl", model_name="iris-prs")
    data = tmp_path / "iris.csv"
    features.to_csv(data, index=False)
    config = ParallelRunConfig(
        entry_script="iris_score.py",
        source_directory=str(SCRIPTS / "azure_samples"),
        mini_batch_size="1KB",
        error_threshold=5,
        output_action="append_row",
        process_count_per_node=2,
        run_invocation_timeout=60,
    )
    dataset = Dataset.Tabular.from_delimited_files(str(data))
    result = run_parallel(
        config,
        dataset.as_named_input("iris_data"),
        tmp_path / "out",
        workspace=ws,
        arguments=["--model_name", "iris-prs"],
        show_progress=False,
    )
    assert result.status == "Completed", result.reason
    assert result.total_mini_batches > 1
    scored = pd.read_csv(result.output_file, sep=" ", header=None)
    assert scored.shape == (150, 5)
    assert scored.iloc[:, :4].to_numpy().tolist() == features.to_numpy().tolist()
    expected = model.predict(features.to_numpy())
    assert scored.iloc[:, 4].tolist() == expected.tolist()
    logs = result.run_dir / "logs/user/entry_script_log/node0"
    assert "init" in "".join(p.read_text() for p in logs.iterdir())
