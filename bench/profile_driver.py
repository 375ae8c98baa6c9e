"""Where shardrun's driver spends its time: ``python -m bench.profile_driver WHAT``.

``WHAT`` is ``overhead`` (the overhead workload: tiny files, 10 per mini-batch), ``noop``
(the scheduler figure: one file per mini-batch, no-op ``run()``) or ``planning`` (list and
plan the planning folder, no workers). Runs it once under cProfile, in this process (the
driver; the workers are other processes and are not profiled), and prints the run's phases
and the functions with the most own and cumulative time. Uses the data that ``python -m
bench`` generated for ``SCALE`` (default 0.1); ``--out FILE`` keeps the ``.pstats``.
``--cpu`` runs it without the profiler and prints the driver's own CPU time (user + system
of this process, the workers excluded): a figure that a loaded machine disturbs far less
than wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import shutil
import tempfile
import time
from pathlib import Path

from bench import datagen
from bench.scale import Sizes

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "bench" / "scripts"


def _run(what: str, data: datagen.Data, work: Path) -> str:
    from shardrun import ParallelRunConfig, run_parallel

    if what == "planning":
        from bench.plan_probe import plan_files

        return str(plan_files(str(data.planning), str(work / "ledger.sqlite"), "10"))
    folder, script, size = {
        "overhead": (data.overhead, "lines.py", "10"),
        "noop": (data.scheduler, "noop.py", "1"),
    }[what]
    config = ParallelRunConfig(
        entry_script=str(SCRIPTS / script),
        mini_batch_size=size,
        process_count_per_node=2,
        output_action="append_row" if what == "overhead" else "summary_only",
    )
    result = run_parallel(config, str(folder), workspace=work / "ws", show_progress=False)
    return f"{result.status}: {result.total_mini_batches} mini-batches"


def main(argv: list[str] | None = None) -> int:
    """Profile one driver run and print the top functions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["overhead", "noop", "planning"])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("SCALE") or 0.1))
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".data")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cpu", action="store_true", help="no profiler: driver CPU seconds")
    args = parser.parse_args(argv)
    data = datagen.generate(args.data, Sizes.from_scale(args.scale))
    work = Path(tempfile.mkdtemp(prefix="shardrun-profile-"))
    if args.cpu:
        import shardrun.engine.runs  # noqa: F401  (imports outside the figure)

        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        try:
            outcome = _run(args.what, data, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        wall = time.perf_counter() - started
        print(f"{args.what} at SCALE={args.scale:g}: {outcome}, {wall:.2f} s wall, ", end="")
        print(f"driver CPU {cpu:.2f} s")
        return 0
    profile = cProfile.Profile()
    started = time.perf_counter()
    try:
        profile.enable()
        outcome = _run(args.what, data, work)
        profile.disable()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.what} at SCALE={args.scale:g}: {outcome}, {time.perf_counter() - started:.2f} s")
    if args.out:
        profile.dump_stats(args.out)
    for key in ("tottime", "cumulative"):
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text).strip_dirs().sort_stats(key)
        stats.print_stats(args.top)
        print(text.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
