"""Entry script: identify handwritten digits in PNG files.

Azure ML's ParallelRunStep MNIST sample (``digit_identification.py``), with an ONNX model and
onnxruntime in place of TensorFlow, and one batched inference call per mini-batch. The
same file runs on Azure ML (with a model registered there as ``mnist-digits``) and on
shardrun, whose ``azureml`` stand-ins answer the two Azure imports.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
from azureml.core.model import Model
from azureml_user.parallel_run import EntryScript
from PIL import Image

session: ort.InferenceSession | None = None


def init() -> None:
    """Load the registered model once per worker process."""
    global session
    model_path = Model.get_model_path("mnist-digits")
    options = ort.SessionOptions()
    # Several workers share the machine: one thread each avoids oversubscribing the cores.
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        model_path, sess_options=options, providers=["CPUExecutionProvider"]
    )
    EntryScript().logger.info("loaded model %s", model_path)


def run(mini_batch: list[str]) -> list[str]:
    """Predict the digit in each image; returns ``"<file name>: <digit>"`` per input."""
    if session is None:
        raise RuntimeError("init() has not loaded the model")
    if not mini_batch:
        return []
    pixels = np.stack([_read(path) for path in mini_batch]).astype(np.float32) / 255
    (digits,) = session.run(["label"], {"pixels": pixels.reshape(len(mini_batch), 784)})
    names = [os.path.basename(path) for path in mini_batch]
    EntryScript().logger.info("scored %d images: %s .. %s", len(names), names[0], names[-1])
    return [f"{name}: {digit}" for name, digit in zip(names, digits, strict=True)]


def _read(path: str) -> np.ndarray:
    """A 28x28 grayscale image as uint8 pixels."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)
