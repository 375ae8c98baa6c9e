"""Entry script of the images workload: Pillow decoding and one ONNX call per mini-batch."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import tasks


def init():
    tasks.session(tasks.DIGITS_MODEL)


def run(mini_batch):
    return tasks.score_images(mini_batch)
