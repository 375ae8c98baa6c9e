"""Pre-processing step: write COUNT text files into the output folder."""

import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--count", type=int, default=5)
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
for n in range(args.count):
    with open(os.path.join(args.out, f"doc{n:03d}.txt"), "w") as handle:
        handle.write(f"document {n}\n")
print(f"wrote {args.count} files to {args.out}")
