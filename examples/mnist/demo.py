"""shardrun's demo: identify 5,000 handwritten digits with a ParallelRunStep entry script.

Steps, each skipped when its result is already there (a re-run only scores again):

1. write held-out images 5000-9999 of ``data/mnist_10k.npz`` as PNG files in
   ``build/images/`` and their labels in ``build/labels.csv``;
2. train the ONNX model into ``build/model/mnist.onnx`` (``train.py``);
3. create the workspace ``build/workspace`` and register the model as ``mnist-digits``;
4. run ``code/score.py`` over the images, 50 per mini-batch, in two worker processes;
5. print the run's summary, the accuracy, and on the last line the output file.

Exits 1 if the run did not complete or the accuracy is below 0.85. Paths are relative to
this file, so it runs from any folder: ``python examples/mnist/demo.py``.
"""

from __future__ import annotations

import csv
import filecmp
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

from shardrun import (
    Model,
    ParallelRunConfig,
    RunResult,
    ShardrunError,
    Workspace,
    run_parallel,
)

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "mnist_10k.npz"
BUILD = HERE / "build"
IMAGES = BUILD / "images"
LABELS = BUILD / "labels.csv"
MODEL_FILE = BUILD / "model" / "mnist.onnx"
WORKSPACE = BUILD / "workspace"
OUTPUT = BUILD / "output"
MODEL_NAME = "mnist-digits"
MIN_ACCURACY = 0.85
# The images train.py holds out (its HELD_OUT), the ones the demo scores.
FIRST_IMAGE = 5000


def image_name(index: int) -> str:
    """The file name of image ``index``: ``mnist_05000.png``."""
    return f"mnist_{index:05d}.png"


def write_images(images_dir: Path = IMAGES, labels_file: Path = LABELS) -> int:
    """Write the held-out digits as PNG files and ``labels.csv``; skip if complete.

    ``labels.csv`` is written last, so its presence with every listed image means a
    previous call finished.

    Returns:
        The number of images written (0 when nothing was missing).
    """
    with np.load(DATA) as data:
        images, labels = data["images"], data["labels"]
    expected = {image_name(i): int(labels[i]) for i in range(FIRST_IMAGE, len(images))}
    if _read_labels(labels_file) == expected and all(
        (images_dir / name).is_file() for name in expected
    ):
        return 0
    images_dir.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(expected, start=FIRST_IMAGE):
        # A 2-D uint8 array becomes an 8-bit grayscale ("L") image.
        Image.fromarray(images[index]).save(images_dir / name)
    partial = labels_file.with_name(labels_file.name + ".partial")
    with open(partial, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label"])
        writer.writerows(expected.items())
    os.replace(partial, labels_file)
    return len(expected)


def ensure_model(path: Path = MODEL_FILE) -> float | None:
    """Train the model into ``path`` unless it exists.

    Returns:
        The held-out accuracy of a newly trained model, or None if it was there already.
    """
    if path.is_file():
        return None
    _, held_out_accuracy = _train().train_model(path)
    return float(held_out_accuracy)


def register_model(workspace: Workspace, path: Path = MODEL_FILE) -> Model:
    """Register ``path`` as ``mnist-digits``, unless a version with the same bytes exists."""
    for model in reversed(Model.list(workspace, MODEL_NAME)):
        if filecmp.cmp(model.path, path, shallow=False):
            return model
    return Model.register(
        workspace=workspace,
        model_path=path,
        model_name=MODEL_NAME,
        tags={"framework": "onnx", "trainer": "sklearn.MLPClassifier", "data": "mnist 0-4999"},
        description="MNIST digit classifier: float32 pixels [N, 784] in [0, 1] -> label",
    )


def score(workspace: Workspace) -> RunResult:
    """Run ``code/score.py`` over the PNG files (the ParallelRunStep of the demo)."""
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(HERE / "code"),
        mini_batch_size="50",
        error_threshold=10,
        output_action="append_row",
        process_count_per_node=2,
        run_invocation_timeout=60,
        run_max_try=3,
    )
    return run_parallel(config, inputs=str(IMAGES), output=OUTPUT, workspace=workspace)


def accuracy(output_file: Path, labels_file: Path = LABELS) -> tuple[int, float]:
    """Count the ``"<file name>: <digit>"`` lines of the output and score them.

    Returns:
        The number of output lines and the fraction of the labelled images predicted right
        (a missing or malformed line counts as wrong).
    """
    labels = _read_labels(labels_file)
    lines = output_file.read_text().splitlines()
    predictions: dict[str, int] = {}
    for line in lines:
        name, _, digit = line.rpartition(": ")
        if digit.isdigit():
            predictions[name] = int(digit)
    right = sum(predictions.get(name) == label for name, label in labels.items())
    return len(lines), right / len(labels)


def main() -> int:
    """Run the demo; 0 if the run completed with accuracy >= 0.85, else 1."""
    started = time.monotonic()
    written = write_images()
    print(f"images: {written} written" if written else f"images: already in {IMAGES}")
    trained = ensure_model()
    if trained is None:
        print(f"model: already in {MODEL_FILE}")
    else:
        print(f"model: trained, held-out accuracy {trained:.4f}")
    workspace = Workspace.create(WORKSPACE)
    model = register_model(workspace)
    print(f"model: {model.name} version {model.version} in {workspace.path}")
    try:
        result = score(workspace)
    except ShardrunError as e:  # a mistake in the config or the entry script: one line
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(result)
    if result.status != "Completed" or result.output_file is None:
        print(f"the run did not complete ({result.status}): {result.reason}", file=sys.stderr)
        return 1
    count, fraction = accuracy(result.output_file)
    print(f"predictions: {count}")
    print(f"accuracy: {fraction:.4f}")
    print(f"demo took {time.monotonic() - started:.1f} s")
    print(result.output_file)
    if fraction < MIN_ACCURACY:
        print(f"accuracy {fraction:.4f} is below {MIN_ACCURACY}", file=sys.stderr)
        return 1
    return 0


def _read_labels(labels_file: Path) -> dict[str, int]:
    """``labels.csv`` as file name -> digit; empty if the file is missing."""
    if not labels_file.is_file():
        return {}
    with open(labels_file, newline="") as handle:
        return {row["file"]: int(row["label"]) for row in csv.DictReader(handle)}


def _train() -> ModuleType:
    """``train.py``, imported on first use.

    Not at the top: it imports scikit-learn and skl2onnx (seconds), which only training
    needs; and workers, spawned processes, import this script again.
    """
    import train  # the folder of this script is first on sys.path

    return train


if __name__ == "__main__":
    sys.exit(main())
