"""The reads and model calls of each workload: every contender runs exactly these.

Models load lazily, once per process, from the paths in ``BENCH_DIGITS_MODEL`` and
``BENCH_TABLE_MODEL``, so a shardrun worker, a Pool process, a Dask process and a Ray actor
all pay the same ``init()``. onnxruntime gets one thread per process, as in the demo.

Outputs are canonical so that :mod:`bench.checks` can compare contenders: files workloads
give one ``"<file name>: <value>"`` line per file; tabular workloads give a DataFrame with
``id`` and ``label`` (int64) per row.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DIGITS_MODEL = "BENCH_DIGITS_MODEL"
TABLE_MODEL = "BENCH_TABLE_MODEL"
FEATURES = [f"x{j}" for j in range(8)]

_sessions: dict[str, Any] = {}


def session(variable: str) -> Any:
    """The onnxruntime session of the model named by the environment ``variable``."""
    if variable not in _sessions:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        _sessions[variable] = ort.InferenceSession(
            os.environ[variable], sess_options=options, providers=["CPUExecutionProvider"]
        )
    return _sessions[variable]


def read_lines(paths: list[str]) -> list[str]:
    """Overhead workload: read each file, one ``"<name>: <content>"`` line per file."""
    out = []
    for path in paths:
        with open(path) as handle:
            out.append(f"{os.path.basename(path)}: {handle.read().strip()}")
    return out


def no_op(paths: list[str]) -> list[str]:
    """Scheduler workload: nothing at all."""
    return paths


def score_images(paths: list[str]) -> list[str]:
    """Images workload: decode each PNG with Pillow, one ONNX call for the whole batch."""
    from PIL import Image

    if not paths:
        return []
    pixels = np.empty((len(paths), 784), dtype=np.float32)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            pixels[i] = np.asarray(image.convert("L"), dtype=np.uint8).reshape(784)
    pixels /= 255
    (digits,) = session(DIGITS_MODEL).run(["label"], {"pixels": pixels})
    return [f"{os.path.basename(p)}: {d}" for p, d in zip(paths, digits, strict=True)]


def score_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Tabular workload: one ONNX call over the rows; ``id`` and the predicted ``label``."""
    x = frame[FEATURES].to_numpy(dtype=np.float32)
    (labels,) = session(TABLE_MODEL).run(["label"], {"x": x})
    return pd.DataFrame(
        {"id": frame["id"].to_numpy(dtype=np.int64), "label": np.asarray(labels, np.int64)}
    )


# What a hand-written Pool (and the single-process reference) reads: the same pieces.


def parquet_pieces(path: Path, target: int) -> list[tuple[str, tuple[int, ...]]]:
    """Row groups of ``path`` grouped into pieces of about ``target`` bytes (uncompressed)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    pieces: list[tuple[str, tuple[int, ...]]] = []
    group: list[int] = []
    size = 0
    for i in range(meta.num_row_groups):
        group.append(i)
        size += meta.row_group(i).total_byte_size
        if size >= target:
            pieces.append((str(path), tuple(group)))
            group, size = [], 0
    if group:
        pieces.append((str(path), tuple(group)))
    return pieces


def read_parquet_piece(piece: tuple[str, tuple[int, ...]]) -> pd.DataFrame:
    """The rows of one piece from :func:`parquet_pieces`."""
    import pyarrow.parquet as pq

    path, groups = piece
    return pq.ParquetFile(path).read_row_groups(list(groups)).to_pandas()


def csv_pieces(path: Path, target: int) -> list[tuple[str, int, int]]:
    """Byte ranges of about ``target`` bytes; a record belongs to the range it starts in."""
    size = path.stat().st_size
    return [(str(path), start, min(start + target, size)) for start in range(0, size, target)]


def read_csv_piece(piece: tuple[str, int, int]) -> pd.DataFrame:
    """The records that start in one byte range (no quoted line breaks in this file)."""
    import pyarrow.csv as pacsv

    path, start, stop = piece
    with open(path, "rb") as handle:
        names = next(csv.reader([handle.readline().decode()]))
        if start > 0:
            handle.seek(start - 1)
            handle.readline()  # the rest of the record that started before the range
        begin = handle.tell()
        data = handle.read(max(0, stop - begin)) if begin < stop else b""
        if data and not data.endswith(b"\n"):
            data += handle.readline()
    if not data:
        return pd.DataFrame({name: [] for name in names})
    options = pacsv.ReadOptions(column_names=names)
    return pacsv.read_csv(io.BytesIO(data), read_options=options).to_pandas()


def score_parquet_piece(piece: tuple[str, tuple[int, ...]]) -> pd.DataFrame:
    """Read and score one Parquet piece (a Pool task)."""
    return score_table(read_parquet_piece(piece))


def score_csv_piece(piece: tuple[str, int, int]) -> pd.DataFrame:
    """Read and score one CSV byte range (a Pool task)."""
    return score_table(read_csv_piece(piece))
