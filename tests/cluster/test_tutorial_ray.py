"""The seed tutorial's pipeline on the Ray cluster gives the same predictions as locally."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cluster.conftest import ADDRESS

if TYPE_CHECKING:
    from tests.services import Server

pytest_plugins = ["tests.services"]
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.service]

ROOT = Path(__file__).resolve().parents[2]
COUNT = 40


def tutorial(tmp_path: Path, azurite: Server, **extra: str) -> tuple[str, str]:
    """Run the tutorial script; return its stdout and its first result file's text."""
    env = {
        **os.environ,
        "TUTORIAL_BLOB_ENDPOINT": azurite.blob_endpoint,
        "TUTORIAL_IMAGE_COUNT": str(COUNT),
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
    result_file = Path(re.findall(r"results: (\S+)", done.stdout)[-1])
    return done.stdout, result_file.read_text()


def test_the_tutorial_pipeline_on_ray_predicts_what_it_predicts_locally(
    azurite: Server, tmp_path: Path, pipeline_drivers: Path
) -> None:
    for example in ("tutorial", "mnist"):
        shutil.copytree(
            ROOT / "examples" / example,
            tmp_path / "examples" / example,
            ignore=shutil.ignore_patterns("build"),
        )
    local_out, local = tutorial(tmp_path, azurite)
    ray_out, on_ray = tutorial(
        tmp_path, azurite, TUTORIAL_RAY_ADDRESS=ADDRESS, AML_COMPUTE_CLUSTER_NAME="ray-cluster"
    )
    assert f"Ray cluster at {ADDRESS}, 2 node(s)" in ray_out
    assert len(on_ray.splitlines()) == COUNT
    assert on_ray == local
    single = re.compile(r"^mnist_05000\.png: \d$", re.MULTILINE)
    assert single.findall(ray_out) == single.findall(local_out)
    runs = (tmp_path / "examples/tutorial/build").rglob("runs/*/run.json")
    backends = sorted(json.loads(path.read_text())["backend"] for path in runs)
    assert backends == ["local", "local", "ray", "ray"]
