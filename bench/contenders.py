"""The contenders that run in this process: the single-process reference, a plain
``multiprocessing.Pool`` and shardrun's local backend.

The Pool is what one writes by hand: ``spawn``, ``imap`` over the same pieces, results
written in order, no ledger, retries or resume. Every contender writes its output to a file
inside its timed section (text lines, or Parquet for tables), the way shardrun does.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from bench.outcome import Outcome
from bench.workloads import Workload


def write_output(results: Iterable[Any], kind: str, path: Path) -> None:
    """Write results in order: text lines, or one Parquet file of the DataFrames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "lines":
        with open(path, "w") as handle:
            for lines in results:
                handle.writelines(f"{line}\n" for line in lines)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    try:
        for frame in results:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def raw(workload: Workload, out: Path) -> tuple[Outcome, pd.DataFrame]:
    """One process, no framework: the reference output and the single-process throughput."""
    from bench.checks import read_output

    path = out / f"raw-{workload.name}.out"
    started = time.perf_counter()
    write_output((workload.task(p) for p in workload.pieces), workload.kind, path)
    seconds = time.perf_counter() - started
    outcome = Outcome("raw", workload.name, workload.items, seconds, str(path))
    return outcome, read_output(path, workload.kind)


def pool(workload: Workload, processes: int, out: Path) -> Outcome:
    """``multiprocessing.Pool(processes)`` (spawned) with ``imap`` over the pieces."""
    path = out / f"pool-{workload.name}.out"
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as workers:
        write_output(workers.imap(workload.task, workload.pieces), workload.kind, path)
    seconds = time.perf_counter() - started
    return Outcome("pool", workload.name, workload.items, seconds, str(path))


def shardrun_config(workload: Workload, processes: int, **options: Any) -> Any:
    """The ParallelRunConfig of ``workload`` with ``processes`` workers per node."""
    from shardrun import ParallelRunConfig

    return ParallelRunConfig(
        entry_script=str(workload.script),
        mini_batch_size=workload.mini_batch_size,
        process_count_per_node=processes,
        output_action="append_row",
        append_row_format="parquet" if workload.kind == "table" else "text",
        run_invocation_timeout=600,
        **options,
    )


def shardrun_inputs(workload: Workload) -> Any:
    """The folder of files, or the table file as a TabularDataset."""
    if workload.kind == "lines":
        return str(workload.source)
    from shardrun import Dataset

    if workload.name == "parquet":
        return Dataset.Tabular.from_parquet_files(str(workload.source))
    return Dataset.Tabular.from_delimited_files(str(workload.source))


def shardrun_local(workload: Workload, processes: int, out: Path) -> Outcome:
    """``run_parallel`` on the local backend; the dataset's creation is not timed."""
    from shardrun import run_parallel

    config = shardrun_config(workload, processes)
    inputs = shardrun_inputs(workload)
    workspace = out / "workspace"
    wall_start = time.time()
    started = time.perf_counter()
    result = run_parallel(
        config,
        inputs,
        out / f"shardrun-{workload.name}",
        workspace=workspace,
        show_progress=False,
    )
    seconds = time.perf_counter() - started
    outcome = Outcome("shardrun", workload.name, workload.items, seconds)
    outcome.extra["phases"] = phases(result.run_dir, wall_start, wall_start + seconds)
    if result.status != "Completed" or result.failed_items:
        outcome.error = f"run {result.status}, {result.failed_items} failed items: {result.reason}"
    outcome.output = str(result.output_file) if result.output_file else None
    return outcome


def phases(run_dir: Path, start: float, end: float) -> dict[str, float]:
    """Where a run's wall time went, from the ledger's attempt times (``time.time()``).

    ``before_first_batch``: the call until the first attempt started (checks, planning,
    worker start-up, ``init()``); ``processing``: first start to last end; ``after_last_batch``:
    the last end until the call returned (output merge, reports, worker shutdown).
    """
    import sqlite3

    try:
        with sqlite3.connect(run_dir / "ledger.sqlite") as db:
            first, last = db.execute("SELECT MIN(started), MAX(ended) FROM attempts").fetchone()
    except sqlite3.Error:
        return {}
    if first is None or last is None:
        return {}
    return {
        "before_first_batch": first - start,
        "processing": last - first,
        "after_last_batch": end - last,
    }
