"""Correctness: a contender's time counts only if its output equals the reference.

Every output is read into the same shape, a DataFrame of ``key`` and ``value`` sorted by
key: a text output (``"<key>: <value>"`` lines) or a Parquet output (``id``, ``label``).
The reference is the single-process run of the same functions (:mod:`bench.contenders`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_output(path: Path, kind: str) -> pd.DataFrame:
    """``path`` as ``key``/``value`` rows sorted by key (``kind``: ``lines`` or ``table``)."""
    if kind == "table":
        frame = pd.read_parquet(path, columns=["id", "label"])
        frame = pd.DataFrame(
            {"key": frame["id"].astype("int64"), "value": frame["label"].astype("int64")}
        )
    else:
        keys, values = [], []
        with open(path) as handle:
            for line in handle:
                key, _, value = line.rstrip("\n").rpartition(": ")
                keys.append(key)
                values.append(value)
        frame = pd.DataFrame({"key": keys, "value": values})
    return frame.sort_values("key", kind="stable").reset_index(drop=True)


def compare(output: pd.DataFrame, reference: pd.DataFrame) -> str | None:
    """None if ``output`` has the reference's rows and values, else what differs (one line)."""
    if len(output) != len(reference):
        return f"{len(output)} rows where the reference has {len(reference)}"
    if not output["key"].equals(reference["key"]):
        differ = int((output["key"] != reference["key"]).sum())
        return f"{differ} of {len(output)} keys differ from the reference (missing or repeated)"
    if not output["value"].equals(reference["value"]):
        differ = int((output["value"] != reference["value"]).sum())
        return f"{differ} of {len(output)} predictions differ from the reference"
    return None


def check_file(path: Path | None, kind: str, reference: pd.DataFrame) -> str | None:
    """:func:`compare` for an output file; a missing file is an error too."""
    if path is None or not Path(path).is_file():
        return f"no output file ({path})"
    return compare(read_output(Path(path), kind), reference)
