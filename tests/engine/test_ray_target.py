"""Choosing the Ray backend from a compute target, checked without starting (or importing) Ray."""

from __future__ import annotations

import importlib.util
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

from shardrun import ComputeTarget, ConfigError, ParallelRunConfig, RayCompute, run_parallel
from shardrun.config.jobspec import parse_job
from shardrun.workspace.ray_compute import resolve
from shardrun.workspace.workspace import Workspace
from tests.conftest import SCRIPTS, write_inputs


def test_a_ray_target_on_the_spot_keeps_its_settings_and_pickles() -> None:
    target = RayCompute(address="ray://head.example:10001", gpus_per_worker=1)
    assert (target.address, target.gpus_per_worker, target.name) == (
        "ray://head.example:10001", 1.0, "ray://head.example:10001",
    )  # fmt: skip
    again = pickle.loads(pickle.dumps(target))
    assert (again.address, again.gpus_per_worker, again.on_the_spot) == (target.address, 1.0, True)
    assert RayCompute().address == "auto"
    # No node bound of its own: ParallelRunConfig's node_count is up to the cluster.
    ParallelRunConfig(entry_script=str(SCRIPTS / "behave.py"), compute_target=target, node_count=8)
    assert "ray" not in sys.modules


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"address": "head"}, "address must be 'auto', 'host:port' or 'ray://host:port'"),
        ({"gpus_per_worker": 0}, "gpus_per_worker must be a positive number or None; got 0"),
        ({"gpus_per_worker": "1"}, "gpus_per_worker must be a positive number"),
    ],
)
def test_bad_ray_settings_are_one_line_config_errors(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        RayCompute(**settings)
    assert "\n" not in str(info.value)


def test_compute_strings_resolve_to_local_or_ray(ws: Workspace) -> None:
    assert resolve(ws, "local") is None
    auto = resolve(ws, "ray")
    assert isinstance(auto, RayCompute)
    assert auto.address == "auto"
    for address in ("ray://127.0.0.1:10001", "127.0.0.1:6390"):
        found = resolve(ws, address)
        assert isinstance(found, RayCompute)
        assert found.address == address
    registered = ComputeTarget.create(
        ws, "ray", RayCompute.provisioning_configuration("127.0.0.1:7000", node_count=2)
    )
    assert resolve(ws, "ray").address == registered.address  # type: ignore[union-attr]
    assert resolve(ws, "azureml:ray").address == "127.0.0.1:7000"  # type: ignore[union-attr]


def test_a_yaml_job_compute_becomes_the_compute_target(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    data = {
        "inputs": {"images": {"type": "uri_folder", "path": "data"}},
        "input_data": "${{inputs.images}}",
        "task": {"code": str(SCRIPTS), "entry_script": "behave.py"},
    }
    job = parse_job(data, tmp_path, ["compute=ray://127.0.0.1:10001"])
    assert job.config.compute_target == "ray://127.0.0.1:10001"
    assert parse_job(data, tmp_path).config.compute_target is None


def test_a_ray_compute_without_ray_installed_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec

    def no_ray(name: str, *args: Any) -> Any:
        return None if name == "ray" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_ray)
    write_inputs(tmp_path / "data", ["ok"])
    config = ParallelRunConfig(
        entry_script=str(SCRIPTS / "behave.py"), compute_target=RayCompute(address="auto")
    )
    with pytest.raises(ConfigError) as info:
        run_parallel(config, tmp_path / "data", workspace=tmp_path / "ws", show_progress=False)
    message = str(info.value)
    assert message == (
        "compute_target 'ray' is a Ray cluster, and Ray is not installed; "
        "install it with: pip install 'shardrun[ray]'"
    )
    assert not list((tmp_path / "ws" / "runs").iterdir())
    assert "ray" not in sys.modules
