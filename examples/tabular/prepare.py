"""Make the tabular example's data and model: a customer table and a churn classifier.

* :func:`write_customers` writes a generated customer table as CSV (one row per customer:
  numeric and boolean features, and the ``churned`` outcome that the example checks its
  predictions against). Churn follows a known logistic rule plus noise: about 32 % of
  customers churn, so always guessing "stays" is 68 % right; the model gets about 77 %.
* :func:`train_model` fits a scikit-learn random forest on 50,000 *other* customers (another
  seed) and exports it to ONNX with skl2onnx: input ``features`` (float32 ``[N, 6]``, the
  columns of :data:`FEATURES` in that order), outputs ``label`` and ``probabilities``.

Usage::

    python examples/tabular/prepare.py --rows 300000
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

#: The model's input columns, in order.
FEATURES = (
    "tenure_months",
    "monthly_charges",
    "support_calls",
    "contract_months",
    "paperless_billing",
    "data_gb",
)
INPUT_NAME = "features"
TRAIN_ROWS = 50_000


def customers(rows: int, seed: int, first_id: int = 1) -> pa.Table:
    """``rows`` generated customers: ids, the :data:`FEATURES` and ``churned``."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 73, rows)
    monthly = np.round(rng.uniform(18, 120, rows), 2)
    calls = rng.poisson(1.5, rows)
    contract = rng.choice([1, 12, 24], rows, p=[0.55, 0.25, 0.20])
    paperless = rng.random(rows) < 0.6
    data_gb = np.round(rng.lognormal(2.0, 0.8, rows), 1)
    logit = (
        0.2
        - 0.045 * tenure
        + 0.025 * (monthly - 60)
        + 0.45 * calls
        - 1.4 * (contract > 1)
        + 0.35 * paperless
        - 0.01 * data_gb
    )
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pa.table(
        {
            "customer_id": pa.array(np.arange(first_id, first_id + rows), pa.int64()),
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "support_calls": calls,
            "contract_months": contract,
            "paperless_billing": paperless,
            "data_gb": data_gb,
            "churned": churned,
        }
    )


def write_customers(path: str | os.PathLike[str], rows: int, seed: int = 7) -> Path:
    """Write ``rows`` customers as CSV (with a header) to ``path``, atomically."""
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    pacsv.write_csv(customers(rows, seed), partial)
    os.replace(partial, destination)
    return destination


def feature_matrix(table: pa.Table) -> np.ndarray:
    """The model's input: the :data:`FEATURES` columns as float32 ``[N, 6]``."""
    return np.column_stack(
        [table.column(name).to_numpy(zero_copy_only=False) for name in FEATURES]
    ).astype(np.float32)


def train_model(
    path: str | os.PathLike[str], seed: int = 11, rows: int = TRAIN_ROWS
) -> tuple[Path, float]:
    """Fit the churn classifier on ``rows`` fresh customers; write ONNX to ``path``.

    Returns:
        The model file and its accuracy on up to 20,000 further customers (onnxruntime).
    """
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import RandomForestClassifier

    train = customers(rows, seed)
    model = RandomForestClassifier(
        n_estimators=60, max_depth=9, min_samples_leaf=20, random_state=0, n_jobs=2
    )
    model.fit(feature_matrix(train), train.column("churned").to_numpy(zero_copy_only=False))
    onnx_model = convert_sklearn(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURES)]))],
        options={id(model): {"zipmap": False}},
        name="churn_forest",  # a fixed name: the same model gives the same bytes
    )
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.write_bytes(onnx_model.SerializeToString())
    os.replace(partial, destination)

    check = customers(min(rows, 20_000), seed + 1)
    session = ort.InferenceSession(str(destination), providers=["CPUExecutionProvider"])
    (labels,) = session.run(["label"], {INPUT_NAME: feature_matrix(check)})
    truth = check.column("churned").to_numpy(zero_copy_only=False)
    return destination, float(np.mean(labels.astype(bool) == truth))


def main(argv: Sequence[str] | None = None) -> int:
    """Write the table and train the model into ``build/``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--build", type=Path, default=Path(__file__).resolve().parent / "build")
    args = parser.parse_args(argv)
    table = write_customers(args.build / "data" / "customers.csv", args.rows)
    print(f"table: {args.rows} rows, {table.stat().st_size / 1e6:.1f} MB in {table}")
    model, accuracy = train_model(args.build / "model" / "churn.onnx")
    print(f"model: {model}, accuracy on new customers {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
