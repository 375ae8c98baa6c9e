"""The figures that measure shardrun alone: planning, startup, scheduler, quoted CSV.

Each returns a dict for the JSON file; a figure that cannot be measured has an ``error``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def _probe(args: list[str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.plan_probe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"plan_probe failed: {last}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def planning(folder: Path, files: int, out: Path) -> dict[str, Any]:
    """List and plan ``folder`` (``files`` empty files) into a ledger; seconds and peak RSS."""
    ledger = out / "planning-ledger.sqlite"
    for leftover in out.glob("planning-ledger.sqlite*"):
        leftover.unlink()
    result = _probe(["files", str(folder), str(ledger), "10"], timeout=1200)
    result["files"] = files
    return result


def quoted_csv(path: Path, batch: str, batch_bytes: int) -> dict[str, Any]:
    """Mini-batches planned for the quoted CSV, against file size / mini-batch size, and the
    planner's speed (it reads the file once to find record starts)."""
    result = _probe(["quoted", str(path), batch], timeout=600)
    size = path.stat().st_size
    result.update(file_bytes=size, expected=size / batch_bytes)
    if "mini_batches" in result:
        result["ratio"] = result["mini_batches"] / (size / batch_bytes)
    if result.get("seconds"):
        result["mb_per_second"] = size / 1e6 / result["seconds"]
    return result


def scheduler(folder: Path, batches: int, processes: int, out: Path) -> dict[str, Any]:
    """A no-op ``run()`` over ``batches`` one-file mini-batches: mini-batches per second.

    ``per_second`` counts the whole ``run_parallel`` call (planning and start included);
    ``steady_per_second`` the span from the first to the last finished attempt in the
    ledger (the scheduler alone), when the ledger can be read.
    """
    from shardrun import ParallelRunConfig, run_parallel

    config = ParallelRunConfig(
        entry_script=str(SCRIPTS / "noop.py"),
        mini_batch_size="1",
        process_count_per_node=processes,
        output_action="summary_only",
    )
    started = time.perf_counter()
    result = run_parallel(config, str(folder), workspace=out / "workspace", show_progress=False)
    seconds = time.perf_counter() - started
    figure: dict[str, Any] = {"mini_batches": batches, "seconds": seconds}
    if result.status != "Completed" or result.total_mini_batches != batches:
        figure["error"] = f"run {result.status} with {result.total_mini_batches} mini-batches"
        return figure
    figure["per_second"] = batches / seconds
    try:
        with sqlite3.connect(result.run_dir / "ledger.sqlite") as db:
            first, last = db.execute("SELECT MIN(ended), MAX(ended) FROM attempts").fetchone()
        figure["steady_per_second"] = (batches - 1) / (last - first) if last > first else None
    except sqlite3.Error as e:
        figure["steady_per_second"] = None
        figure["steady_error"] = str(e)
    return figure


JOB = """type: parallel
inputs:
  files: {{type: uri_folder, path: ./files}}
outputs:
  out: {{type: uri_folder, path: ./out}}
input_data: ${{{{inputs.files}}}}
mini_batch_size: "10"
max_concurrency_per_instance: {processes}
task:
  type: run_function
  code: ./code
  entry_script: startup.py
  append_row_to: ${{{{outputs.out}}}}
"""


def startup(processes: int, out: Path) -> dict[str, Any]:
    """From ``shardrun run`` to the first finished mini-batch, minus that worker's ``init()``.

    ``python -m shardrun run job.yaml`` over 40 tiny files (10 per mini-batch); the entry
    script records when its ``init()`` ran and when each ``run()`` returned.
    """
    folder = out / "startup"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "files").mkdir(parents=True)
    (folder / "code").mkdir()
    for n in range(40):
        (folder / "files" / f"s{n:02d}.txt").write_text("x\n")
    shutil.copy(SCRIPTS / "startup.py", folder / "code" / "startup.py")
    (folder / "job.yaml").write_text(JOB.format(processes=processes))
    marks = folder / "marks.txt"
    env = {**os.environ, "BENCH_MARKS": str(marks)}
    command = [sys.executable, "-m", "shardrun", "run", str(folder / "job.yaml")]
    launched = time.time()
    done = subprocess.run(
        [*command, "--workspace", str(folder / "workspace")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    total = time.time() - launched
    if done.returncode != 0 or not marks.is_file():
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"shardrun run exited {done.returncode}: {last}", "total": total}
    inits: dict[str, float] = {}
    runs: list[tuple[float, str]] = []
    for line in marks.read_text().splitlines():
        pid, what, *times = line.split()
        if what == "init":
            inits[pid] = float(times[1]) - float(times[0])
        else:
            runs.append((float(times[0]), pid))
    first_end, pid = min(runs)
    init = inits.get(pid, 0.0)
    return {
        "seconds": first_end - launched - init,
        "init_seconds": init,
        "first_finished_after": first_end - launched,
        "total": total,
    }
