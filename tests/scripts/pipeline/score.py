"""Entry script: one line per file, with the words it holds."""

import argparse
import os
import time


def init():
    global delay
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.0)
    args, _ = parser.parse_known_args()
    delay = args.delay


def run(mini_batch):
    time.sleep(delay)
    results = []
    for path in mini_batch:
        with open(path) as handle:
            results.append(f"{os.path.basename(path)}: {len(handle.read().split())}")
    return results
