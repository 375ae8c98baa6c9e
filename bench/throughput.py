"""shardrun against a plain ``multiprocessing.Pool`` doing the same work, measured in one run.

Two workloads, each run by both, same mini-batches, same number of processes:

* ``overhead``: many tiny mini-batches whose ``run()`` does almost nothing; measures what
  shardrun's ledger, exactly-once output and supervision cost per mini-batch.
* ``mnist``: the demo's real work (PNG decoding + ONNX inference, 50 images a mini-batch).

The baseline is what one would write by hand: ``Pool(initializer=init).imap(run, batches)``
with the results written in order. It has no retries, no timeouts, no resume.

Run: ``.venv/bin/python bench/throughput.py [--processes 2] [--files 20000]``.
Ray Data joins the comparison with the Ray backend.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples" / "mnist"))

NAMES_SCRIPT = (
    "import os\n\ndef run(mini_batch):\n    return [os.path.basename(p) for p in mini_batch]\n"
)


def _names(batch: list[str]) -> list[str]:
    return [os.path.basename(p) for p in batch]


def _mnist_init() -> None:
    sys.argv = ["score.py"]
    os.environ.setdefault("SHARDRUN_WORKSPACE", str(ROOT / "examples/mnist/build/workspace"))
    sys.path.insert(0, str(ROOT / "examples/mnist/code"))
    sys.path.append(str(ROOT / "src/shardrun/worker/shims"))
    import score  # type: ignore[import-not-found]

    score.init()


def _mnist_run(batch: list[str]) -> list[str]:
    import score  # type: ignore[import-not-found]

    result: list[str] = score.run(batch)
    return result


def baseline(
    files: list[str],
    size: int,
    processes: int,
    init: Callable[[], None] | None,
    run: Callable[[list[str]], list[str]],
    out: Path,
) -> float:
    """Seconds for Pool.imap over the same mini-batches, writing results in order."""
    batches = [files[i : i + size] for i in range(0, len(files), size)]
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=init) as pool, open(out, "w") as handle:
        for result in pool.imap(run, batches, chunksize=1):
            handle.writelines(f"{x}\n" for x in result)
    return time.perf_counter() - started


def shardrun_run(folder: Path, script: Path, size: int, processes: int, workspace: Path) -> float:
    """Seconds for run_parallel over the folder."""
    from shardrun import ParallelRunConfig, run_parallel

    config = ParallelRunConfig(
        entry_script=str(script), mini_batch_size=str(size), process_count_per_node=processes
    )
    started = time.perf_counter()
    result = run_parallel(
        config, str(folder), workspace / "out", workspace=workspace, show_progress=False
    )
    elapsed = time.perf_counter() - started
    if result.status != "Completed":
        raise SystemExit(f"shardrun run failed: {result.reason}")
    return elapsed


def report(name: str, items: int, ours: float, theirs: float) -> None:
    """One line: both timings, items/s and the ratio."""
    print(
        f"{name:9s} shardrun {ours:6.2f} s ({items / ours:9,.0f} items/s)   "
        f"multiprocessing {theirs:6.2f} s ({items / theirs:9,.0f} items/s)   "
        f"ratio shardrun/baseline = {ours / theirs:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run both workloads and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shardrun-bench-") as tmp:
        root = Path(tmp)
        folder = root / "tiny"
        folder.mkdir()
        for n in range(args.files):
            (folder / f"f{n:07d}.txt").touch()
        files = sorted(str(p) for p in folder.iterdir())
        script = root / "names.py"
        script.write_text(NAMES_SCRIPT)
        ours = shardrun_run(folder, script, 10, args.processes, root / "ws1")
        theirs = baseline(files, 10, args.processes, None, _names, root / "base1.txt")
        report("overhead", len(files), ours, theirs)

        import demo  # type: ignore[import-not-found]

        demo.write_images()
        demo.ensure_model()
        from shardrun import Workspace

        demo.register_model(Workspace.create(demo.WORKSPACE))
        images = sorted(str(p) for p in demo.IMAGES.iterdir())
        ours = shardrun_run(
            demo.IMAGES, ROOT / "examples/mnist/code/score.py", 50, args.processes, demo.WORKSPACE
        )
        theirs = baseline(images, 50, args.processes, _mnist_init, _mnist_run, root / "base2.txt")
        report("mnist", len(images), ours, theirs)
    print(f"({args.processes} processes, {os.cpu_count()} CPUs; both include process start-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
