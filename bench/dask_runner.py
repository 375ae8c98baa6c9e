"""Dask: the same pieces through ``dask.bag`` (files) or ``dask.dataframe`` (tables).

Dask's ``processes`` scheduler with ``num_workers`` = the same process count. Files:
``from_sequence`` with one partition per mini-batch, ``map`` of the workload's function.
Parquet: ``from_map`` over the same row-group pieces; CSV: Dask's own byte-range reader
(``read_csv(blocksize=8 MiB)``); both then ``map_partitions`` of the scoring function.
The model loads lazily once per process (:func:`bench.tasks.session`).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench import tasks
from bench.contenders import write_output
from bench.outcome import Outcome
from bench.workloads import Workload


def available() -> str:
    """ "" if Dask can be imported, else why not."""
    try:
        import dask.bag
        import dask.dataframe  # noqa: F401
    except ImportError as e:
        return f"n/a (dask not installed: {e}; pip install 'shardrun[bench]')"
    return ""


def run(workload: Workload, processes: int, out: Path, table_batch_bytes: int) -> Outcome:
    """Run ``workload`` on Dask and write its output; the time includes the pool's start."""
    import dask
    import dask.bag as db
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd

    path = out / f"dask-{workload.name}.out"
    started = time.perf_counter()
    with dask.config.set(scheduler="processes", num_workers=processes):
        if workload.kind == "lines":
            bag = db.from_sequence(workload.pieces, npartitions=len(workload.pieces))
            results = bag.map(workload.task).compute()
            write_output(results, "lines", path)
        else:
            if workload.name == "parquet":
                frame = dd.from_map(tasks.read_parquet_piece, workload.pieces)
            else:
                frame = dd.read_csv(str(workload.source), blocksize=table_batch_bytes)
            meta = pd.DataFrame({"id": np.array([], np.int64), "label": np.array([], np.int64)})
            scored = frame.map_partitions(tasks.score_table, meta=meta).compute()
            write_output([scored], "table", path)
    seconds = time.perf_counter() - started
    return Outcome("dask", workload.name, workload.items, seconds, str(path))
