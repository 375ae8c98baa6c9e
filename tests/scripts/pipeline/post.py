"""Post-processing step: count the lines of the scoring output."""

import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--scores", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
with open(os.path.join(args.scores, "parallel_run_step.txt")) as handle:
    lines = handle.read().splitlines()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "summary.txt"), "w") as handle:
    handle.write(f"{len(lines)} lines\n")
