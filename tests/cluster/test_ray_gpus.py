"""``RayCompute(gpus_per_worker=...)`` on the session's cluster, whose node1 has one GPU.

The GPU is logical (``ray start --num-gpus=1``): Ray reserves and assigns it as it would a
device, and sets ``CUDA_VISIBLE_DEVICES`` in the actor, which is what a user's ``run()``
sees. No test here needs an accelerator.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shardrun import ConfigError, ParallelRunConfig, RayCompute, RunResult, run_parallel
from tests.cluster.conftest import ADDRESS
from tests.conftest import write_inputs

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SCRIPT = """
import os

import ray


def run(mini_batch):
    context = ray.get_runtime_context()
    (node,) = [
        label
        for n in ray.nodes()
        if n["NodeID"] == context.get_node_id()
        for label in n["Resources"]
        if label in ("head", "node1")
    ]
    gpus = context.get_assigned_resources().get("GPU", 0)
    return [
        f"{os.path.basename(p)} {node} cuda={os.environ.get('CUDA_VISIBLE_DEVICES')} "
        f"ids={ray.get_gpu_ids()} gpu={gpus:g}"
        for p in mini_batch
    ]
"""


def start(tmp_path: Path, gpus: float, workers: int, count: int = 4) -> RunResult:
    write_inputs(tmp_path / "data", ["ok"] * count)
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(SCRIPT)
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(code),
        mini_batch_size="1",
        node_count=1,
        process_count_per_node=workers,
        compute_target=RayCompute(address=ADDRESS, gpus_per_worker=gpus),
    )
    return run_parallel(
        config, tmp_path / "data", tmp_path / "out", workspace=tmp_path / "ws", show_progress=False
    )


def test_a_worker_gets_the_gpu_it_asks_for_and_sees_it_in_cuda_visible_devices(
    tmp_path: Path,
) -> None:
    result = start(tmp_path, gpus=1, workers=1)
    assert result.status == "Completed", result.reason
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == [
        f"item{n:05d}.txt node1 cuda=0 ids=[0] gpu=1" for n in range(4)
    ]


def test_two_workers_share_one_gpu_with_half_each(tmp_path: Path) -> None:
    result = start(tmp_path, gpus=0.5, workers=2, count=8)
    assert result.status == "Completed", result.reason
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == [
        f"item{n:05d}.txt node1 cuda=0 ids=[0] gpu=0.5" for n in range(8)
    ]


def test_more_gpus_than_the_cluster_has_is_one_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two workers with a whole GPU each, on a cluster with one: the reservation cannot be
    # met. The wait is cut from 120 s to 5 s so that the test does not sit through it.
    # (Imported here: collecting the Ray tests must not import Ray.)
    from shardrun.engine.backends import ray_cluster

    monkeypatch.setattr(ray_cluster, "PLACEMENT_WAIT", 5.0)
    with pytest.raises(ConfigError, match=r"could not place 2 worker\(s\).*'GPU': 2\.0"):
        start(tmp_path, gpus=1, workers=2)
