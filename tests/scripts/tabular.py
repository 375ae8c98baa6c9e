"""Entry script of the tabular end-to-end tests; ``TABULAR_MODE`` picks what it does.

``echo`` (default): return the DataFrame with the mini-batch index, the partition key
values and the input dtypes added. ``arrow``: expect a ``pyarrow.Table`` and return it.
``mismatch``: odd mini-batches rename their columns. ``gate``: mini-batch 1 raises until the
file named by ``TABULAR_GATE`` exists.
"""

import json
import os


def run(mini_batch, context):
    mode = os.environ.get("TABULAR_MODE", "echo")
    if mode == "arrow":
        import pyarrow as pa

        assert isinstance(mini_batch, pa.Table), type(mini_batch)
        return mini_batch.append_column(
            "batch", pa.array([context.minibatch_index] * mini_batch.num_rows, pa.int64())
        )
    import pandas as pd

    assert isinstance(mini_batch, pd.DataFrame), type(mini_batch)
    if mode == "mismatch" and context.minibatch_index % 2:
        return mini_batch.rename(columns=lambda name: f"{name}_renamed")
    gate = os.environ.get("TABULAR_GATE", "")
    if mode == "gate" and context.minibatch_index == 1 and not os.path.exists(gate):
        raise RuntimeError("the gate is closed")
    result = mini_batch.copy()
    result["batch"] = context.minibatch_index
    result["keys"] = json.dumps(dict(context.partition_key_value), sort_keys=True)
    result["dtypes"] = " ".join(str(t) for t in mini_batch.dtypes)
    return result
