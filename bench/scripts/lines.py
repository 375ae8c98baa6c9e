"""Entry script of the overhead workload: read each tiny file, one line per file."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import tasks


def run(mini_batch):
    return tasks.read_lines(mini_batch)
