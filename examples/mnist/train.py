"""Train the demo's digit classifier and export it to ONNX.

A scikit-learn ``MLPClassifier`` (one hidden layer of 128 units) learns images 0-4999 of
``data/mnist_10k.npz``; skl2onnx writes it as an ONNX model whose input ``pixels`` is a
float32 ``[N, 784]`` batch of pixels in [0, 1] and whose output ``label`` holds the digits
(int64). The held-out accuracy is measured with onnxruntime on images 5000-9999, the
images that the demo scores. Takes a few seconds on two cores.

Usage::

    python examples/mnist/train.py --out build/model/mnist.onnx
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.neural_network import MLPClassifier

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "mnist_10k.npz"
INPUT_NAME = "pixels"
TRAIN = slice(0, 5000)
HELD_OUT = slice(5000, 10000)


def load_digits(path: str | os.PathLike[str] = DATA) -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits.

    Returns:
        ``images`` (uint8, ``[N, 28, 28]``) and ``labels`` (uint8, ``[N]``).
    """
    with np.load(path) as data:
        return data["images"], data["labels"]


def to_pixels(images: np.ndarray) -> np.ndarray:
    """Flatten uint8 images to the model's input: float32 ``[N, 784]`` in [0, 1]."""
    return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32)


def fit(pixels: np.ndarray, labels: np.ndarray) -> MLPClassifier:
    """Fit the classifier; deterministic for given data (fixed ``random_state``)."""
    # Early stopping ends training once a 10 % validation split stops improving: about
    # 40 epochs, a couple of seconds, and no ConvergenceWarning.
    model = MLPClassifier(
        hidden_layer_sizes=(128,),
        early_stopping=True,
        n_iter_no_change=5,
        max_iter=100,
        random_state=0,
    )
    return model.fit(pixels, labels.astype(np.int64))


def export_onnx(model: MLPClassifier, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` as ONNX to ``path`` (atomically; parent folders are created).

    The same model always gives the same bytes, so a retrained model is recognised as the
    version already registered.

    The graph's input is ``pixels`` (float32 ``[None, 784]``); its outputs are ``label``
    (int64 digits) and ``probabilities`` (float32 ``[None, 10]``, no ZipMap).
    """
    onnx_model = convert_sklearn(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, 784]))],
        options={id(model): {"zipmap": False}},
        name="mnist_mlp",  # else a random graph name makes every export's bytes differ
    )
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.write_bytes(onnx_model.SerializeToString())
    os.replace(partial, destination)
    return destination


def predict(model_path: str | os.PathLike[str], pixels: np.ndarray) -> np.ndarray:
    """Digits predicted by the ONNX model at ``model_path`` for a ``[N, 784]`` batch."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (labels,) = session.run(["label"], {INPUT_NAME: pixels})
    return np.asarray(labels)


def train_model(
    out: str | os.PathLike[str], data: str | os.PathLike[str] = DATA
) -> tuple[Path, float]:
    """Train on images 0-4999, export to ``out``, and score images 5000-9999 with it.

    Args:
        out: Where to write the ONNX model.
        data: The ``.npz`` file with ``images`` and ``labels``.

    Returns:
        The model's path and its accuracy on the held-out images, computed with
        onnxruntime from the written file.
    """
    images, labels = load_digits(data)
    model = fit(to_pixels(images[TRAIN]), labels[TRAIN])
    path = export_onnx(model, out)
    predicted = predict(path, to_pixels(images[HELD_OUT]))
    return path, float(np.mean(predicted == labels[HELD_OUT]))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train, write the model to ``--out`` and print the held-out accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="where to write the .onnx file")
    parser.add_argument("--data", type=Path, default=DATA, help="the .npz file of digits")
    args = parser.parse_args(argv)
    path, accuracy = train_model(args.out, args.data)
    print(f"held-out accuracy (onnxruntime, images 5000-9999): {accuracy:.4f}")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
