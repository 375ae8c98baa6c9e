"""The bundled MNIST demo (examples/mnist): training, and the demo end to end.

Neither test touches ``examples/mnist/build``: the demo test copies the example into
``tmp_path`` (pytest removes it) and runs the copy, so it always exercises a first run
(images written, model trained and registered) and then a re-run, whatever a developer's
own build folder holds. No network is used.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mnist"
LINE = re.compile(r"^mnist_\d{5}\.png: \d$")
HELD_OUT_NAMES = [f"mnist_{i:05d}.png" for i in range(5000, 10000)]


def load_train() -> ModuleType:
    """``examples/mnist/train.py`` as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("mnist_train", EXAMPLE / "train.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_demo(demo: Path, cwd: Path, timeout: float) -> tuple[list[str], str]:
    """Run ``demo.py`` from ``cwd``; returns its stdout lines and its whole output."""
    completed = subprocess.run(
        [sys.executable, str(demo)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    assert completed.returncode == 0, output
    return completed.stdout.splitlines(), output


def printed_accuracy(lines: list[str]) -> float:
    """The value of the demo's ``accuracy: 0.9340`` line."""
    values = [float(line.split(": ")[1]) for line in lines if line.startswith("accuracy: ")]
    assert len(values) == 1, lines
    return values[0]


def test_train_model_predicts_held_out_digits(tmp_path: Path) -> None:
    train = load_train()
    path, reported = train.train_model(tmp_path / "model" / "mnist.onnx")
    assert path == tmp_path / "model" / "mnist.onnx"

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (pixels,) = session.get_inputs()
    assert (pixels.name, pixels.type, pixels.shape[1:]) == ("pixels", "tensor(float)", [784])
    images, labels = train.load_digits()
    batch = images[5000:].reshape(-1, 784).astype(np.float32) / 255
    (predicted,) = session.run(["label"], {"pixels": batch})
    accuracy = float(np.mean(predicted == labels[5000:]))
    assert predicted.dtype == np.int64
    assert accuracy >= 0.9
    assert reported == pytest.approx(accuracy)


@pytest.mark.slow
def test_demo_scores_5000_digits(tmp_path: Path) -> None:
    example = tmp_path / "mnist"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("build", "__pycache__"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    lines, output = run_demo(example / "demo.py", elsewhere, timeout=200)
    assert "images: 5000 written" in lines, output
    assert any(line.startswith("model: trained") for line in lines), output
    assert "predictions: 5000" in lines, output
    assert printed_accuracy(lines) >= 0.9
    result_file = Path(lines[-1])
    assert result_file == example / "build" / "output" / "parallel_run_step.txt"
    rows = result_file.read_text().splitlines()
    assert len(rows) == 5000
    assert all(LINE.match(row) for row in rows), [row for row in rows if not LINE.match(row)][:5]
    assert [row.split(":")[0] for row in rows] == HELD_OUT_NAMES

    # A re-run reuses the images, the model and its registered version, and scores again.
    lines, output = run_demo(example / "demo.py", elsewhere, timeout=100)
    assert any(line.startswith("images: already") for line in lines), output
    assert any(line.startswith("model: already") for line in lines), output
    assert any(line.startswith("model: mnist-digits version 1 ") for line in lines), output
    assert printed_accuracy(lines) >= 0.9
    assert Path(lines[-1]).read_text().splitlines() == rows
