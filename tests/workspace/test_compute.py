"""Compute targets: creation, lookup by name, validation, Ray checks without importing Ray."""

from __future__ import annotations

import copy
import importlib.util
import pickle
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from shardrun import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetException,
    LocalCompute,
    ParallelRunConfig,
    RayCompute,
)
from shardrun.errors import ConfigError
from shardrun.workspace.ray_compute import resolve
from shardrun.workspace.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A fresh workspace."""
    return Workspace.create(tmp_path / "ws")


def test_the_tutorial_flow_creates_a_cluster_that_runs_here(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "cpu-cluster"
    assert name not in ws.compute_targets
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=0, max_nodes=4
    )
    target = ComputeTarget.create(ws, name, config)
    target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)
    assert (
        "cpu-cluster: Succeeded (STANDARD_D2_V2 simulated on this machine)"
        in capsys.readouterr().out
    )
    found = ws.compute_targets[name]
    assert type(found) is AmlCompute
    assert isinstance(found, LocalCompute)
    assert (found.max_nodes, found.vm_size, found.type) == (4, "STANDARD_D2_V2", "AmlCompute")
    assert found.get_status().serialize()["provisioningState"] == "Succeeded"
    assert type(ComputeTarget(workspace=ws, name=name)) is AmlCompute
    copied = pickle.loads(pickle.dumps(found))
    assert (type(copied), copied.max_nodes) == (AmlCompute, 4)
    assert copy.deepcopy(found).vm_size == "STANDARD_D2_V2"
    script = tmp_path / "score.py"
    script.write_text("def run(mini_batch):\n    return mini_batch\n")
    ParallelRunConfig(entry_script=str(script), compute_target=found, node_count=4)
    with pytest.raises(ConfigError, match=r"at most the compute target's max_nodes \(4\)"):
        ParallelRunConfig(entry_script=str(script), compute_target=found, node_count=5)


def test_lookup_errors_are_compute_target_exceptions(ws: Workspace) -> None:
    with pytest.raises(ComputeTargetException, match=r"no compute target named 'gpu'.*create"):
        ComputeTarget(workspace=ws, name="gpu")
    ComputeTarget.create(ws, "local1", LocalCompute.provisioning_configuration(process_count=2))
    with pytest.raises(ComputeTargetException, match="is a LocalCompute, not a RayCompute"):
        RayCompute(ws, "local1")
    with pytest.raises(ConfigError):  # ComputeTargetException is a ConfigError too
        ComputeTarget(ws, "gpu")


def test_create_again_returns_the_target_unless_the_config_differs(ws: Workspace) -> None:
    first = ComputeTarget.create(ws, "local1", LocalCompute.provisioning_configuration(2))
    again = ComputeTarget.create(ws, "local1", LocalCompute.provisioning_configuration(2))
    assert isinstance(again, LocalCompute)
    assert (type(again), again.process_count, again.max_nodes) == (LocalCompute, 2, 1)
    assert repr(first) == "LocalCompute(name='local1', max_nodes=1)"
    with pytest.raises(ComputeTargetException, match="exists with another configuration"):
        ComputeTarget.create(ws, "local1", LocalCompute.provisioning_configuration(3))
    first.delete()
    assert ComputeTarget.create(ws, "local1", LocalCompute.provisioning_configuration(3))


@pytest.mark.parametrize(
    ("name", "config", "message"),
    [
        ("1bad", LocalCompute.provisioning_configuration(), "start with a letter"),
        ("a" * 17, LocalCompute.provisioning_configuration(), "2-16 letters"),
        ("ok-name", {"vm_size": "x"}, "must come from"),
    ],
)
def test_create_checks_name_and_config(ws: Workspace, name: str, config: Any, message: str) -> None:
    with pytest.raises(ComputeTargetException, match=message):
        ComputeTarget.create(ws, name, config)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: LocalCompute.provisioning_configuration(0), "process_count must be a positive"),
        (
            lambda: AmlCompute.provisioning_configuration(min_nodes=3, max_nodes=2),
            "must not exceed",
        ),
        (lambda: AmlCompute.provisioning_configuration(vm_priority="spot"), "vm_priority"),
        (lambda: RayCompute.provisioning_configuration("127.0.0.1"), "address must be"),
        (lambda: RayCompute.provisioning_configuration("h:70000"), "port 1-65535"),
        (lambda: RayCompute.provisioning_configuration(node_count=0), "node_count"),
        (lambda: RayCompute.provisioning_configuration(runtime_env={"x": object()}), "JSON-safe"),
    ],
)
def test_provisioning_configurations_are_checked(call: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_ray_target_is_stored_and_checked_without_importing_ray(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = RayCompute.provisioning_configuration(
        "ray://127.0.0.1:6390", node_count=2, runtime_env={"env_vars": {"A": "1"}}
    )
    target = ComputeTarget.create(ws, "ray", config)
    assert isinstance(target, RayCompute)
    assert (target.address, target.max_nodes, target.runtime_env) == (
        "ray://127.0.0.1:6390", 2, {"env_vars": {"A": "1"}},
    )  # fmt: skip
    real_find_spec = importlib.util.find_spec

    def no_ray(name: str, *args: Any) -> Any:
        return None if name == "ray" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_ray)
    with pytest.raises(ComputeTargetException, match=r"pip install 'shardrun\[ray\]'"):
        target.wait_for_completion(show_output=True)
    assert "ray" not in sys.modules


def test_ray_wait_for_completion_waits_for_the_head(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec

    def fake_ray(name: str, *args: Any) -> Any:
        return object() if name == "ray" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", fake_ray)
    with socket.socket() as head:
        head.bind(("127.0.0.1", 0))
        head.listen()
        port = head.getsockname()[1]
        config = RayCompute.provisioning_configuration(f"127.0.0.1:{port}", node_count=2)
        target = ComputeTarget.create(ws, "ray", config)
        target.wait_for_completion(show_output=True, timeout_in_minutes=0.1)
    assert f"Ray cluster at 127.0.0.1:{port}, 2 node(s)" in capsys.readouterr().out
    with pytest.raises(ComputeTargetException, match="did not answer"):
        target.wait_for_completion(timeout_in_minutes=0.005)
    with pytest.raises(ComputeTargetException, match="min_node_count=3"):
        ComputeTarget.create(
            ws, "auto", RayCompute.provisioning_configuration("auto", node_count=2)
        ).wait_for_completion(min_node_count=3)
    assert "ray" not in sys.modules


def test_resolve_names_and_objects(ws: Workspace) -> None:
    target = ComputeTarget.create(ws, "local1", LocalCompute.provisioning_configuration())
    assert resolve(ws, None) is None
    assert resolve(ws, target) is target
    assert resolve(ws, "local1").name == "local1"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="compute_target must be"):
        resolve(ws, 3)  # type: ignore[arg-type]
