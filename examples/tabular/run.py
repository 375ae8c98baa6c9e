"""shardrun's tabular example: score a customer table with a churn model, 1 MB at a time.

Steps, each skipped when its result is already there (a re-run only scores again):

1. write ``build/data/customers.csv``: ``--rows`` generated customers (default 300,000,
   about 11 MB) with ``prepare.py``;
2. train the ONNX model ``build/model/churn.onnx`` (``prepare.py``);
3. create the workspace ``build/workspace`` and register the model as ``churn-classifier``;
4. run ``code/score.py`` over the table: ``Dataset.Tabular.from_delimited_files``,
   ``mini_batch_size="1MB"`` (each worker reads its own byte range of the CSV), two
   worker processes, results appended as Parquet to ``build/output/churn_scores.parquet``;
5. print the run's summary, rows in and out, rows per second, the accuracy against the
   table's ``churned`` column, and on the last line the output file.

Exits 1 if the run did not complete, if rows out differ from rows in, or if the accuracy
is below 0.72. Paths are relative to this file: ``python examples/tabular/run.py``.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shardrun import (
    Dataset,
    Model,
    ParallelRunConfig,
    RunResult,
    ShardrunError,
    Workspace,
    run_parallel,
)

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
MODEL_NAME = "churn-classifier"
OUTPUT_NAME = "churn_scores.parquet"
MIN_ACCURACY = 0.72


def ensure_table(rows: int, build: Path = BUILD) -> tuple[Path, bool]:
    """The customer table with ``rows`` rows, written unless it is there already."""
    import prepare  # this script's folder is first on sys.path

    table = build / "data" / "customers.csv"
    stamp = build / "data" / ".rows"
    if table.is_file() and stamp.is_file() and stamp.read_text() == str(rows):
        return table, False
    prepare.write_customers(table, rows)
    stamp.write_text(str(rows))
    return table, True


def ensure_model(build: Path = BUILD) -> tuple[Path, float | None]:
    """The ONNX model, trained unless it is there; the accuracy if it was just trained."""
    import prepare

    path = build / "model" / "churn.onnx"
    if path.is_file():
        return path, None
    return prepare.train_model(path)


def register_model(workspace: Workspace, path: Path) -> Model:
    """Register ``path`` as ``churn-classifier`` unless a version with the same bytes exists."""
    for model in reversed(Model.list(workspace, MODEL_NAME)):
        if filecmp.cmp(model.path, path, shallow=False):
            return model
    return Model.register(
        workspace=workspace,
        model_path=path,
        model_name=MODEL_NAME,
        tags={"framework": "onnx", "trainer": "sklearn.RandomForestClassifier"},
        description="churn classifier: float32 features [N, 6] -> label, probabilities",
    )


def score(workspace: Workspace, table: Path, processes: int, build: Path = BUILD) -> RunResult:
    """Run ``code/score.py`` over the table (the ParallelRunStep of the example)."""
    dataset = Dataset.Tabular.from_delimited_files(str(table.parent))
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(HERE / "code"),
        mini_batch_size="1MB",
        error_threshold=0,
        output_action="append_row",
        append_row_file_name=OUTPUT_NAME,
        append_row_format="parquet",
        process_count_per_node=processes,
        run_invocation_timeout=60,
    )
    inputs = dataset.as_named_input("customers")
    return run_parallel(config, inputs, build / "output", workspace=workspace)


def accuracy(output: Path, table: Path) -> tuple[int, float]:
    """Rows in the output, and the share whose ``churn`` matches the table's ``churned``."""
    scores = pq.read_table(output).to_pandas()
    truth = pacsv.read_csv(table).select(["customer_id", "churned"]).to_pandas()
    joined = pd.merge(truth, scores, on="customer_id", how="left")
    return len(scores), float((joined["churn"] == joined["churned"]).mean())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the example; 0 if every row was scored and the accuracy is at least 0.72."""
    parser = argparse.ArgumentParser(description="score a customer table, 1 MB at a time")
    parser.add_argument("--rows", type=int, default=300_000, help="customers in the table")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    args = parser.parse_args(argv)
    table, written = ensure_table(args.rows)
    size = table.stat().st_size / 1e6
    print(f"table: {args.rows} rows, {size:.1f} MB" + (" written" if written else " (kept)"))
    model_path, trained = ensure_model()
    print("model: trained" if trained is not None else f"model: already in {model_path}")
    workspace = Workspace.create(BUILD / "workspace")
    model = register_model(workspace, model_path)
    print(f"model: {model.name} version {model.version}")
    started = time.monotonic()
    try:
        result = score(workspace, table, args.processes)
    except ShardrunError as e:  # a mistake in the config or the entry script: one line
        print(f"error: {e}", file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    print(result)
    if result.status != "Completed" or result.output_file is None:
        print(f"the run did not complete ({result.status}): {result.reason}", file=sys.stderr)
        return 1
    rows, right = accuracy(result.output_file, table)
    print(f"mini-batches: {result.total_mini_batches}")
    print(f"rows: {args.rows} in, {rows} out")
    print(f"time: {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s")
    print(f"accuracy: {right:.4f}")
    print(result.output_file)
    if rows != args.rows:
        print(f"{rows} rows out for {args.rows} in", file=sys.stderr)
        return 1
    if right < MIN_ACCURACY:
        print(f"accuracy {right:.4f} is below {MIN_ACCURACY}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
