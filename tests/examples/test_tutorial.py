"""The seed tutorial, end to end, against a real Azurite: every output line checked."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.services import Server

pytest_plugins = ["tests.services"]

ROOT = Path(__file__).resolve().parents[2]
COUNT = 120


def test_the_notebook_matches_the_script() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples/tutorial/make_notebook.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def copy_examples(tmp_path: Path) -> None:
    """The tutorial and the mnist example it imports, copied under ``tmp_path/examples``."""
    for example in ("tutorial", "mnist"):
        shutil.copytree(
            ROOT / "examples" / example,
            tmp_path / "examples" / example,
            ignore=shutil.ignore_patterns("build"),
        )


def tutorial(tmp_path: Path, azurite: Server, count: int, **extra: str) -> tuple[str, Path]:
    """Run the copied tutorial script on ``count`` images; its stdout and last result file."""
    env = {
        **os.environ,
        "TUTORIAL_BLOB_ENDPOINT": azurite.blob_endpoint,
        "TUTORIAL_IMAGE_COUNT": str(count),
        **extra,
    }
    done = subprocess.run(
        [sys.executable, str(tmp_path / "examples/tutorial/tutorial.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, Path(re.findall(r"results: (\S+)", done.stdout)[-1])


@pytest.mark.slow
@pytest.mark.service
def test_tutorial_runs_end_to_end(azurite: Server, tmp_path: Path, pipeline_drivers: Path) -> None:
    copy_examples(tmp_path)
    out, result_file = tutorial(tmp_path, azurite, COUNT)
    assert f"Prediction has  {COUNT}  rows" in out
    lines = result_file.read_text().splitlines()
    build = tmp_path / "examples/tutorial/build"
    with open(build / "labels.csv") as handle:
        labels = {row["file"]: int(row["label"]) for row in csv.DictReader(handle)}
    names = sorted(os.listdir(build / "images"))
    assert len(names) == COUNT
    assert [line.split(": ")[0] for line in lines] == names
    assert all(re.fullmatch(r"mnist_\d{5}\.png: \d", line) for line in lines)
    right = sum(int(line.split(": ")[1]) == labels[line.split(": ")[0]] for line in lines)
    assert right / COUNT >= 0.85
    # The resubmission scored the one image it was given.
    assert re.search(r"^mnist_05000\.png: \d$", out, re.MULTILINE)
    # Two pipeline runs: the second with one mini-batch on one process.
    assert out.count("pipeline digit_identification_") >= 2
