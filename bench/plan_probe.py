"""Planning alone, in a fresh process: ``python -m bench.plan_probe MODE ...`` prints JSON.

``files FOLDER LEDGER SIZE``: list FOLDER and plan it into a new ledger at LEDGER with
``mini_batch_size=SIZE``, as ``run_parallel`` does before any worker starts; prints the
seconds (imports excluded), the mini-batches and the process's peak RSS (imports included:
that is the driver's memory).

``quoted CSV SIZE``: plan a CSV with quoted line breaks (``support_multi_line=True``) and
print how many mini-batches the planner makes and the seconds it took (the planner reads
the file once to find record starts: :mod:`shardrun.data.quoted`).

It uses the engine's planner and ledger directly (``plan_input``, ``Ledger``): the same calls
``run_parallel`` makes, without the workers.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def _config(size: str, script: Path) -> object:
    from shardrun import ParallelRunConfig

    return ParallelRunConfig(entry_script=str(script), mini_batch_size=size).resolve()


def plan_files(folder: str, ledger_path: str, size: str) -> dict[str, float]:
    """Plan every file of ``folder`` into a new ledger."""
    from shardrun.data.factory import named_inputs
    from shardrun.engine.ledger import Ledger
    from shardrun.engine.partition import plan_input

    config = _config(size, Path(__file__).with_name("scripts") / "noop.py")
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    (named,) = named_inputs(folder)
    ledger = Ledger.open(Path(ledger_path))
    try:
        batches = ledger.add_mini_batches(plan_input(named.dataset, config, named.name, 0))
    finally:
        ledger.close()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "mini_batches": batches,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_after_imports_mb": baseline,
    }


def _peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM``. Not ``ru_maxrss``, which after a fork and exec
    keeps the high-water mark of the parent's copied address space (here the harness's)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def plan_quoted(csv_file: str, size: str) -> dict[str, float]:
    """How many mini-batches a quoted-line-break CSV is planned into, and in what time."""
    from shardrun import Dataset
    from shardrun.engine.partition import plan_input

    config = _config(size, Path(__file__).with_name("scripts") / "noop.py")
    dataset = Dataset.Tabular.from_delimited_files(csv_file, support_multi_line=True)
    started = time.perf_counter()
    planned = sum(1 for _ in plan_input(dataset, config, "input", 0))
    return {"mini_batches": planned, "seconds": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    """Print the JSON of one probe."""
    mode, *args = argv
    result = plan_files(*args) if mode == "files" else plan_quoted(*args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
