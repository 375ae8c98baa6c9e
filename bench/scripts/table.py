"""Entry script of the tabular workload: one ONNX call per DataFrame mini-batch."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import tasks


def init():
    tasks.session(tasks.TABLE_MODEL)


def run(mini_batch):
    return tasks.score_table(mini_batch)
