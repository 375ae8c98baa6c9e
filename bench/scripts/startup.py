"""Entry script of the startup figure: records when init() ran and when run() returned.

Each worker appends ``<pid> init <start> <end>`` and ``<pid> run <end>`` (``time.time()``)
to ``marks.txt`` next to this script's copy.
"""

import os
import time
from pathlib import Path

MARKS = Path(os.environ.get("BENCH_MARKS", Path(__file__).with_name("marks.txt")))


def _mark(text):
    with open(MARKS, "a") as handle:
        handle.write(f"{os.getpid()} {text}\n")


def init():
    started = time.time()
    _mark(f"init {started} {time.time()}")


def run(mini_batch):
    result = [os.path.basename(p) for p in mini_batch]
    _mark(f"run {time.time()}")
    return result
