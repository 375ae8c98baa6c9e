"""The seed tutorial's pipeline on the Ray cluster gives the same predictions as locally."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cluster.conftest import ADDRESS
from tests.examples.test_tutorial import copy_examples, tutorial

if TYPE_CHECKING:
    from tests.services import Server

pytest_plugins = ["tests.services"]
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.service]

COUNT = 40


def test_the_tutorial_pipeline_on_ray_predicts_what_it_predicts_locally(
    azurite: Server, tmp_path: Path, pipeline_drivers: Path
) -> None:
    copy_examples(tmp_path)
    local_out, local_file = tutorial(tmp_path, azurite, COUNT)
    ray_out, ray_file = tutorial(
        tmp_path,
        azurite,
        COUNT,
        TUTORIAL_RAY_ADDRESS=ADDRESS,
        AML_COMPUTE_CLUSTER_NAME="ray-cluster",
    )
    local, on_ray = local_file.read_text(), ray_file.read_text()
    assert f"Ray cluster at {ADDRESS}, 2 node(s)" in ray_out
    assert len(on_ray.splitlines()) == COUNT
    assert on_ray == local
    single = re.compile(r"^mnist_05000\.png: \d$", re.MULTILINE)
    assert single.findall(ray_out) == single.findall(local_out)
    runs = (tmp_path / "examples/tutorial/build").rglob("runs/*/run.json")
    backends = sorted(json.loads(path.read_text())["backend"] for path in runs)
    assert backends == ["local", "local", "ray", "ray"]
