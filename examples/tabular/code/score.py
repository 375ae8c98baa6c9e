"""Entry script: predict which customers will churn, one DataFrame at a time.

Written as for Azure ML's ParallelRunStep over a TabularDataset: ``run(mini_batch)``
receives a pandas DataFrame (about 1 MB of the CSV, every column with its type) and returns
a DataFrame with one row per input row. The model is the ONNX random forest registered as
``churn-classifier``; shardrun's ``azureml`` stand-ins answer the two Azure imports.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
from azureml.core.model import Model
from azureml_user.parallel_run import EntryScript

FEATURES = [
    "tenure_months",
    "monthly_charges",
    "support_calls",
    "contract_months",
    "paperless_billing",
    "data_gb",
]

session: ort.InferenceSession | None = None


def init() -> None:
    """Load the registered model once per worker process."""
    global session
    model_path = Model.get_model_path("churn-classifier")
    options = ort.SessionOptions()
    # Several workers share the machine: one thread each avoids oversubscribing the cores.
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        model_path, sess_options=options, providers=["CPUExecutionProvider"]
    )
    EntryScript().logger.info("loaded model %s", model_path)


def run(mini_batch: pd.DataFrame) -> pd.DataFrame:
    """Score each customer: returns ``customer_id``, ``churn_probability``, ``churn``."""
    if session is None:
        raise RuntimeError("init() has not loaded the model")
    # Integer and boolean columns arrive as pandas' nullable Int64 / boolean dtypes.
    features = mini_batch[FEATURES].to_numpy(dtype=np.float32)
    labels, probabilities = session.run(["label", "probabilities"], {"features": features})
    return pd.DataFrame(
        {
            "customer_id": mini_batch["customer_id"],
            "churn_probability": probabilities[:, 1],
            "churn": labels.astype(bool),
        }
    )
