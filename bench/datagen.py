"""The benchmark's inputs and models, generated once per scale under a data folder.

Each generator skips its work when its stamp file is there, so a second ``make bench`` only
measures. Everything is deterministic (fixed seeds), so every contender sees the same data
and the reference predictions are reproducible.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.scale import Sizes

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT / "examples" / "mnist"
FEATURES = 8


@dataclass(frozen=True)
class Data:
    """Where each workload's inputs are."""

    overhead: Path
    images: Path
    digits_model: Path
    parquet: Path
    csv: Path
    table_model: Path
    planning: Path
    quoted_csv: Path
    scheduler: Path


def _stamp_file(folder: Path) -> Path:
    # Beside the folder, not in it: shardrun would read it as an input.
    return folder.with_name(f".{folder.name}.complete")


def _done(folder: Path) -> bool:
    return _stamp_file(folder).is_file()


def _stamp(folder: Path) -> None:
    _stamp_file(folder).write_text("ok\n")


def tiny_files(folder: Path, count: int, empty: bool = False) -> Path:
    """``count`` files ``f0000000.txt``…; each holds its number (or nothing) and a newline."""
    if _done(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        with open(folder / f"f{n:07d}.txt", "w") as handle:
            if not empty:
                handle.write(f"{n}\n")
    _stamp(folder)
    return folder


def digit_images(folder: Path, count: int) -> Path:
    """The 10,000 bundled MNIST digits as PNG files, repeated to ``count`` files."""
    if _done(folder):
        return folder
    from PIL import Image

    with np.load(MNIST / "data" / "mnist_10k.npz") as data:
        images = data["images"]
    folder.mkdir(parents=True, exist_ok=True)
    encoded: dict[int, bytes] = {}
    for n in range(count):
        source = n % len(images)
        if source not in encoded:
            path = folder / f"d{n:06d}.png"
            Image.fromarray(images[source]).save(path)
            encoded[source] = path.read_bytes()
        else:
            (folder / f"d{n:06d}.png").write_bytes(encoded[source])
    _stamp(folder)
    return folder


def digits_model(path: Path) -> Path:
    """The demo's ONNX digit model (``examples/mnist/train.py``), trained once."""
    if path.is_file():
        return path
    sys.path.insert(0, str(MNIST))
    import train  # type: ignore[import-not-found]

    train.train_model(path)
    return path


def table(folder: Path, rows: int) -> tuple[Path, Path]:
    """``table.parquet`` and ``table.csv``: ``id`` and ``FEATURES`` columns ``x0``….

    Feature values have three decimals, so that CSV and Parquet give the model the same
    numbers. Parquet row groups hold 100,000 rows (about 7 MB).
    """
    parquet, csv_file = folder / "table.parquet", folder / "table.csv"
    if _done(folder):
        return parquet, csv_file
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    chunk = 500_000
    writer: pq.ParquetWriter | None = None
    with open(csv_file, "wb") as csv_handle:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            columns = {"id": pa.array(np.arange(start, start + n, dtype=np.int64))}
            values = np.round(rng.normal(size=(n, FEATURES)), 3)
            for j in range(FEATURES):
                columns[f"x{j}"] = pa.array(values[:, j])
            batch = pa.table(columns)
            if writer is None:
                writer = pq.ParquetWriter(parquet, batch.schema)
            writer.write_table(batch, row_group_size=100_000)
            options = pacsv.WriteOptions(include_header=start == 0)
            pacsv.write_csv(batch, csv_handle, options)
    assert writer is not None
    writer.close()
    _stamp(folder)
    return parquet, csv_file


def table_model(path: Path) -> Path:
    """An ONNX MLP (scikit-learn, like the digit model) over the ``FEATURES`` columns."""
    if path.is_file():
        return path
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5_000, FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] - x[:, 3] > 0).astype(np.int64) + (x[:, 4] > 1)
    model = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(x, y)
    onnx_model = convert_sklearn(
        model,
        initial_types=[("x", FloatTensorType([None, FEATURES]))],
        options={id(model): {"zipmap": False}},
        name="bench_table_mlp",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_model.SerializeToString())
    return path


def quoted_csv(path: Path, nbytes: int) -> Path:
    """A CSV of about ``nbytes`` whose ``note`` field holds a quoted line break in every row."""
    if path.is_file() and path.stat().st_size >= nbytes:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    block_rows = 10_000
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w") as handle:
        handle.write("id,value,note\n")
        written, n = 0, 0
        while written < nbytes:
            text = "".join(
                f'{i},{i % 997},"line one of {i}\nline two, with a comma"\n'
                for i in range(n, n + block_rows)
            )
            handle.write(text)
            written += len(text)
            n += block_rows
    os.replace(partial, path)
    return path


def generate(root: Path, sizes: Sizes) -> Data:
    """Every input of the benchmark for ``sizes``, under ``root/scale-<SCALE>/``."""
    folder = root / f"scale-{sizes.scale:g}"
    parquet, csv_file = table(folder / "table", sizes.rows)
    return Data(
        overhead=tiny_files(folder / "overhead", sizes.overhead_files),
        images=digit_images(folder / "images", sizes.images),
        digits_model=digits_model(root / "models" / "mnist.onnx"),
        parquet=parquet,
        csv=csv_file,
        table_model=table_model(root / "models" / "table.onnx"),
        planning=tiny_files(folder / "planning", sizes.planning_files, empty=True),
        quoted_csv=quoted_csv(folder / "quoted" / "quoted.csv", sizes.quoted_csv_bytes),
        scheduler=tiny_files(folder / "scheduler", sizes.scheduler_batches, empty=True),
    )
