"""Ray Data 2.60: ``map_batches`` with an actor pool of the same size, in a network namespace.

The harness calls :func:`run_all`, which re-executes this module as ``python -m
bench.ray_data`` under ``unshare`` (:mod:`bench.namespace`) and reads back a JSON file of
outcomes. Inside, one ``ray.init(num_cpus=P)`` serves every workload; its seconds are added
to each workload's time (a user running one job pays it once per job).

Files: ``from_items`` of the paths, ``map_batches(batch_size=mini-batch size)`` over a pool
of P actors (``concurrency=P``). Tables: ``read_parquet`` / ``read_csv`` (Ray's readers) then
``map_batches`` of about the same rows per batch as shardrun's 8 MB mini-batches. The actors
load the model once (their ``__init__``); results come back to the driver, which writes them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import namespace
from bench.outcome import Outcome
from bench.workloads import Workload


def run_all(
    names: list[str],
    data_root: Path,
    scale: float,
    processes: int,
    out: Path,
    timeout: float = 900,
) -> list[Outcome]:
    """Run the named workloads on Ray Data in the namespace; n/a outcomes if it cannot.

    ``timeout`` bounds the whole subprocess; workloads it did not finish are failures.
    """
    reason = namespace.unavailable() or _ray_missing()
    if not reason:
        result = out / "ray_data.json"
        result.unlink(missing_ok=True)
        args = [str(data_root), str(scale), str(processes), str(out), ",".join(names)]
        log = out / "ray_data.log"
        rc = namespace.run_python("bench.ray_data", args, log, timeout=timeout)
        done = [Outcome(**o) for o in json.loads(result.read_text())] if result.is_file() else []
        reason = f"failed (Ray Data exited {rc} before this workload ended; see {log.name})"
        missing = [n for n in names if n not in {o.workload for o in done}]
        return done + [Outcome("ray_data", name, 0, error=reason) for name in missing]
    return [Outcome("ray_data", name, 0, error=reason) for name in names]


def _ray_missing() -> str:
    try:
        import ray.data  # noqa: F401
    except ImportError as e:
        return f"n/a (ray[data] not installed: {e})"
    return ""


class _Scorer:
    """A Ray Data actor: loads the model in ``__init__``, scores one batch per call."""

    def __init__(self, name: str) -> None:
        from bench import tasks

        self.tasks = tasks
        self.name = name
        if name == "images":
            tasks.session(tasks.DIGITS_MODEL)
        elif name in ("parquet", "csv"):
            tasks.session(tasks.TABLE_MODEL)

    def __call__(self, batch: Any) -> Any:
        import numpy as np

        if self.name in ("parquet", "csv"):
            return self.tasks.score_table(batch)
        function = self.tasks.read_lines if self.name == "overhead" else self.tasks.score_images
        return {"line": np.array(function(list(batch["path"])), dtype=object)}


def _run_one(ray_data: Any, workload: Workload, processes: int, out: Path) -> Outcome:
    from bench.contenders import write_output

    path = out / f"ray_data-{workload.name}.out"
    started = time.perf_counter()
    if workload.kind == "lines":
        paths = [p for piece in workload.pieces for p in piece]
        dataset = ray_data.from_items([{"path": p} for p in paths])
        batch_size, batch_format = len(workload.pieces[0]), "numpy"
    else:
        read = ray_data.read_parquet if workload.name == "parquet" else ray_data.read_csv
        dataset = read(str(workload.source))
        batch_size, batch_format = workload.rows_per_batch, "pandas"
    scored = dataset.map_batches(
        _Scorer,
        fn_constructor_args=(workload.name,),
        batch_size=batch_size,
        batch_format=batch_format,
        compute=ray_data.ActorPoolStrategy(size=processes),
        num_cpus=1,
    )
    if workload.kind == "lines":
        batches = scored.iter_batches(batch_size=None, batch_format="numpy")
        write_output((list(b["line"]) for b in batches), "lines", path)
    else:
        batches = scored.iter_batches(batch_size=None, batch_format="pandas")
        write_output((b[["id", "label"]] for b in batches), "table", path)
    seconds = time.perf_counter() - started
    return Outcome("ray_data", workload.name, workload.items, seconds, str(path))


def main(argv: list[str]) -> int:
    """Inside the namespace: ``DATA_ROOT SCALE PROCESSES OUT NAMES``; writes ray_data.json."""
    from bench import datagen, workloads
    from bench.scale import Sizes

    data_root, scale, processes, out, names = argv
    sizes = Sizes.from_scale(float(scale), int(processes))
    chosen = [
        w
        for w in workloads.build(datagen.generate(Path(data_root), sizes), sizes)
        if w.name in names.split(",")
    ]
    out_dir = Path(out)
    started = time.perf_counter()
    import ray
    import ray.data

    # One logical CPU more than actors: else the P actors hold every CPU and the read tasks
    # of read_parquet/read_csv never run (the dataset hangs). The cores are the same.
    ray.init(
        address="local",  # a new cluster, never one found on the machine
        num_cpus=sizes.processes + 1,
        object_store_memory=300_000_000,
        include_dashboard=False,
        log_to_driver=False,
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    # Ray's defaults otherwise. Note: 2.60's Parquet reader (datasource V2) lists footers on
    # a pool of 32 FooterReader actors, a fixed cost of tens of seconds on 2 busy cores.
    init_seconds = time.perf_counter() - started
    outcomes = []
    for workload in chosen:
        try:
            outcome = _run_one(ray.data, workload, sizes.processes, out_dir)
            assert outcome.seconds is not None
            outcome.seconds += init_seconds
        except Exception as e:  # a contender that fails is reported, not fatal
            outcome = Outcome("ray_data", workload.name, workload.items, error=f"failed: {e!r}")
        outcome.extra["ray_init_seconds"] = init_seconds
        outcomes.append(outcome)
        # After each workload, so that a later one that hangs past the limit loses only itself.
        (out_dir / "ray_data.json").write_text(json.dumps([o.__dict__ for o in outcomes]))
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
