"""Split a CSV into one folder per key combination and describe it with an MLTable file."""

import argparse
import os

import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("--data_source", type=str)
parser.add_argument("--partition_keys", type=str)
parser.add_argument("--tabular_output_data", type=str)
args = parser.parse_args()

keys = args.partition_keys.split(",")
data = pd.read_csv(args.data_source)
for values, part in data.groupby(keys):
    folder = os.path.join(
        args.tabular_output_data, *(f"{k}={v}" for k, v in zip(keys, values, strict=True))
    )
    os.makedirs(folder, exist_ok=True)
    part.to_csv(os.path.join(folder, "data.csv"), index=False)

with open(os.path.join(args.tabular_output_data, "MLTable"), "w") as handle:
    handle.write(
        "paths:\n"
        "  - pattern: ./**/*.csv\n"
        "transformations:\n"
        "  - read_delimited:\n"
        "      delimiter: ','\n"
        "      header: all_files_same_headers\n"
    )
