"""The order of a benchmark run, and its command line (``python -m bench``).

1. generate the inputs (once per scale, under ``--data``);
2. per workload: the single-process reference (its output is what every contender must
   match, its throughput the ``raw`` figure), then shardrun local, the Pool, Dask, Ray Data
   and shardrun on two Ray nodes, each checked against the reference;
3. the engine figures (scheduler, planning, startup, quoted CSV);
4. the targets table and the contenders table printed, ``latest.json`` and ``latest.png``
   written under ``--out``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import (
    contenders,
    dask_runner,
    datagen,
    engine_figures,
    ray_data,
    ray_shardrun,
    report,
    targets,
    tasks,
    workloads,
)
from bench.outcome import Outcome
from bench.scale import Sizes

ROOT = Path(__file__).resolve().parent.parent
ALL = ("shardrun", "pool", "dask", "ray_data", "shardrun_ray2")
ENGINE = ("scheduler", "planning", "startup", "quoted_csv")
NOTE = (
    "Ratios are measured in one run on one machine; the machine's CPU count and load average "
    "are in `machine`. Absolute figures move with the machine and its load, ratios less so."
)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("SCALE") or 1),
        help="factor on the issue's sizes (default $SCALE or 1)",
    )
    parser.add_argument("--processes", type=int, default=int(os.environ.get("BENCH_PROCESSES", 2)))
    parser.add_argument(
        "--contenders", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}"
    )
    parser.add_argument("--workloads", default=",".join(report.WORKLOADS))
    parser.add_argument(
        "--engine",
        default=",".join(ENGINE),
        help=f"engine figures to measure, of {','.join(ENGINE)} ('' for none)",
    )
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args(argv)


def _environment(data: datagen.Data) -> None:
    """What every child needs: ``bench`` and ``shardrun`` importable, the models' paths."""
    # An existing PYTHONPATH comes before this tree's src: to measure another checkout.
    given = [p for p in os.environ.get("PYTHONPATH", "").split(":") if p]
    paths = [str(ROOT), *given, str(ROOT / "src")]
    os.environ["PYTHONPATH"] = ":".join(dict.fromkeys(paths))
    os.environ[tasks.DIGITS_MODEL] = str(data.digits_model)
    os.environ[tasks.TABLE_MODEL] = str(data.table_model)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_workloads(
    chosen: list[workloads.Workload], names: set[str], sizes: Sizes, data_root: Path, work: Path
) -> list[Outcome]:
    """Every chosen contender on every chosen workload, each output checked."""
    outcomes: list[Outcome] = []
    references = {}
    p = sizes.processes
    for workload in chosen:
        _say(f"[bench] {workload.name}: reference (1 process)")
        raw, references[workload.name] = contenders.raw(workload, work)
        outcomes.append(raw)
        runs = [
            ("shardrun", lambda w: contenders.shardrun_local(w, p, work)),
            ("pool", lambda w: contenders.pool(w, p, work)),
            ("dask", lambda w: _dask(w, sizes, work)),
        ]
        for name, call in runs:
            if name in names:
                _say(f"[bench] {workload.name}: {name}")
                outcomes.append(
                    _guarded(name, workload, call).check(workload.kind, references[workload.name])
                )
    if "ray_data" in names:
        _say("[bench] Ray Data (in a network namespace)")
        timeout = 300 + 900 * sizes.scale
        for outcome in ray_data.run_all(
            [w.name for w in chosen], data_root, sizes.scale, p, work, timeout
        ):
            kind = next(w.kind for w in chosen if w.name == outcome.workload)
            outcomes.append(outcome.check(kind, references[outcome.workload]))
    if "shardrun_ray2" in names and any(w.name == "images" for w in chosen):
        _say("[bench] images: shardrun on a 2-node Ray cluster")
        outcome = ray_shardrun.run("images", data_root, sizes.scale, p, work)
        outcomes.append(outcome.check("lines", references["images"]))
    return outcomes


def _dask(workload: workloads.Workload, sizes: Sizes, work: Path) -> Outcome:
    reason = dask_runner.available()
    if reason:
        return Outcome("dask", workload.name, workload.items, error=reason)
    return dask_runner.run(workload, sizes.processes, work, sizes.table_batch_bytes)


def _guarded(name: str, workload: workloads.Workload, call: Any) -> Outcome:
    try:
        outcome: Outcome = call(workload)
    except Exception as e:  # one contender failing must not lose the others' figures
        return Outcome(name, workload.name, workload.items, error=f"failed: {e!r}"[:300])
    return outcome


def run_engine(which: set[str], data: datagen.Data, sizes: Sizes, work: Path) -> dict[str, Any]:
    """The engine figures named in ``which``."""
    figures: dict[str, Any] = {}
    jobs = {
        "scheduler": lambda: engine_figures.scheduler(
            data.scheduler, sizes.scheduler_batches, sizes.processes, work
        ),
        "planning": lambda: engine_figures.planning(data.planning, sizes.planning_files, work),
        "startup": lambda: engine_figures.startup(sizes.processes, work),
        "quoted_csv": lambda: engine_figures.quoted_csv(
            data.quoted_csv, sizes.table_batch, sizes.table_batch_bytes
        ),
    }
    for name, job in jobs.items():
        if name in which:
            _say(f"[bench] engine: {name}")
            try:
                figures[name] = job()
            except Exception as e:  # reported as n/a in the table
                figures[name] = {"error": f"failed: {e!r}"[:300]}
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the tables; write ``latest.json`` and ``latest.png``."""
    args = _arguments(argv)
    sizes = Sizes.from_scale(args.scale, args.processes)
    started = time.perf_counter()
    _say(f"[bench] SCALE={sizes.scale:g}, {sizes.processes} processes: generating inputs")
    data = datagen.generate(args.data, sizes)
    _environment(data)
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    names = {n for n in args.contenders.split(",") if n}
    chosen = [w for w in workloads.build(data, sizes) if w.name in args.workloads.split(",")]
    # shardrun's driver modules are imported before any timing, as the Pool's are: a run's
    # own import cost is in the startup figure (a fresh `shardrun run` process).
    import shardrun.engine.runs  # noqa: F401

    outcomes = run_workloads(chosen, names, sizes, args.data, work)
    engine = run_engine({n for n in args.engine.split(",") if n}, data, sizes, work)
    figures = targets.compute(outcomes, engine, sizes.scale, sizes.processes)
    print(
        f"SCALE={sizes.scale:g}, P={sizes.processes}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; {time.perf_counter() - started:.0f} s in all"
    )
    print()
    print(report.targets_table(figures))
    print()
    print(report.contenders_table(outcomes))
    report.write_json(args.out / "latest.json", sizes, outcomes, engine, figures, NOTE)
    title = (
        f"throughput, SCALE={sizes.scale:g}, P={sizes.processes}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    drawn = report.draw_chart(args.out / "latest.png", outcomes, title, sizes.processes)
    print()
    print(
        f"wrote {args.out / 'latest.json'}"
        + (f" and {args.out / 'latest.png'}" if drawn else " (no chart: matplotlib not installed)")
    )
    for log in work.glob("*.log"):  # the Ray subprocesses' output, kept for a post-mortem
        shutil.move(log, args.out / log.name)
    shutil.rmtree(work, ignore_errors=True)
    return 0
