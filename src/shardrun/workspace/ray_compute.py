"""``RayCompute``: a Ray cluster as a compute target, and what a step's ``compute`` names.

A RayCompute is registered like any target (``ComputeTarget.create(ws, name,
RayCompute.provisioning_configuration(address=...))``) or made on the spot
(``RayCompute(address="ray://head:10001")``). :func:`resolve` turns what a config or a YAML
job says (a target, a registered name, ``"local"``, ``"ray"``, a Ray address) into a target.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import socket
import time
from typing import Any, cast

from shardrun.errors import ConfigError
from shardrun.workspace.compute import (
    ComputeConfiguration,
    ComputeTarget,
    ComputeTargetException,
    check_count,
)
from shardrun.workspace.folder import WorkspaceFolder

log = logging.getLogger(__name__)

#: ``max_nodes`` of a RayCompute made on the spot: the cluster, not the target, bounds it.
_ANY_NODES = 1 << 16

_ADDRESS = re.compile(
    r"^(?:ray://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(?P<port>\d{1,5})$"
)


class RayCompute(ComputeTarget):
    """A Ray cluster: each worker process is a Ray actor, spread over ``node_count`` nodes.

    Registered in a workspace (``ComputeTarget.create(ws, name,
    RayCompute.provisioning_configuration(...))``), or made on the spot:
    ``RayCompute(address="auto")``, ``RayCompute(address="ray://head:10001",
    gpus_per_worker=1)``. Needs ``pip install 'shardrun[ray]'``; Ray is imported only when a
    step runs on it.

    Attributes:
        address: ``"auto"`` (``RAY_ADDRESS``, else the cluster this machine is part of, else
            a local Ray instance for a try-out) or the head's ``host:port``
            (``ray://host:port`` for Ray Client).
        node_count: How many nodes the cluster has for shardrun (= ``max_nodes``); a target
            made on the spot leaves it to ``ParallelRunConfig.node_count``.
        gpus_per_worker: GPUs each worker's actor asks Ray for (None: no GPU).
        runtime_env: Ray's ``runtime_env`` for the actors, or None.
    """

    type = "Ray"
    kind = "ray"
    #: Made by ``RayCompute(address=...)``, not registered in a workspace.
    on_the_spot: bool = False

    def __new__(
        cls,
        workspace: WorkspaceFolder | None = None,
        name: str | None = None,
        *,
        address: str = "auto",
        gpus_per_worker: float | None = None,
        runtime_env: dict[str, Any] | None = None,
    ) -> RayCompute:
        if workspace is not None and name is not None:
            return cast(RayCompute, super().__new__(cls, workspace, name))
        config = RayCompute.provisioning_configuration(
            address, runtime_env=runtime_env, gpus_per_worker=gpus_per_worker
        )
        target: RayCompute = object.__new__(cls)
        target.workspace = None  # type: ignore[assignment]
        target.name = "ray" if address == "auto" else address
        target.settings = {**config.settings, "node_count": None}
        target.provisioning_state = "Succeeded"
        target.on_the_spot = True
        return target

    def __init__(
        self,
        workspace: WorkspaceFolder | None = None,
        name: str | None = None,
        **settings: Any,
    ) -> None:
        """Everything is done by ``__new__``."""

    def __getnewargs__(self) -> tuple[WorkspaceFolder, str]:
        # A target made on the spot is rebuilt from its pickled settings.
        if self.on_the_spot:
            return (None, None)  # type: ignore[return-value]
        return self.workspace, self.name

    @staticmethod
    def provisioning_configuration(
        address: str = "auto",
        node_count: int = 1,
        runtime_env: dict[str, Any] | None = None,
        gpus_per_worker: float | None = None,
    ) -> ComputeConfiguration:
        """The configuration of a RayCompute, checked.

        Raises:
            ConfigError: A malformed address, a bad ``node_count`` or ``gpus_per_worker``, or
                a ``runtime_env`` that is not a JSON-safe mapping.
        """
        if not isinstance(address, str) or not (address == "auto" or _port(address)):
            raise ConfigError(
                "address must be 'auto', 'host:port' or 'ray://host:port' (port 1-65535); "
                f"got {address!r}",
                "address",
            )
        if runtime_env is not None:
            try:
                json.dumps(dict(runtime_env))
            except (TypeError, ValueError) as e:
                raise ConfigError(
                    f"runtime_env must be a JSON-safe mapping; got {runtime_env!r} ({e})",
                    "runtime_env",
                ) from None
        if gpus_per_worker is not None and (
            isinstance(gpus_per_worker, bool)
            or not isinstance(gpus_per_worker, int | float)
            or not gpus_per_worker > 0
        ):
            raise ConfigError(
                f"gpus_per_worker must be a positive number or None; got {gpus_per_worker!r}",
                "gpus_per_worker",
            )
        nodes = check_count("node_count", node_count) or 1
        env = dict(runtime_env) if runtime_env is not None else None
        settings: dict[str, Any] = {"address": address, "node_count": nodes, "runtime_env": env}
        if gpus_per_worker is not None:
            settings["gpus_per_worker"] = gpus_per_worker
        return ComputeConfiguration("ray", settings)

    @property
    def address(self) -> str:
        """The cluster's address."""
        return str(self.settings["address"])

    @property
    def node_count(self) -> int:
        """How many nodes shardrun may use (a target made on the spot: any number)."""
        value = self.settings.get("node_count")
        return int(value) if value is not None else _ANY_NODES

    @property
    def gpus_per_worker(self) -> float | None:
        """GPUs each worker's actor asks for, or None."""
        value = self.settings.get("gpus_per_worker")
        return float(value) if value is not None else None

    @property
    def runtime_env(self) -> dict[str, Any] | None:
        """Ray's ``runtime_env`` for the actors."""
        value = self.settings.get("runtime_env")
        return dict(value) if value is not None else None

    @property
    def max_nodes(self) -> int:
        """``node_count``."""
        return self.node_count

    def wait_for_completion(
        self,
        show_output: bool = False,
        min_node_count: int | None = None,
        timeout_in_minutes: float = 20,
        is_delete_operation: bool = False,
    ) -> None:
        """Check that Ray is installed and, for a ``host:port`` address, that the head answers.

        The head is tried until ``timeout_in_minutes`` passes (a cluster may be starting).
        Ray itself is not imported.

        Raises:
            ComputeTargetException: Ray is not installed (``pip install 'shardrun[ray]'``),
                or the head did not answer in time.
        """
        if importlib.util.find_spec("ray") is None:
            raise ComputeTargetException(
                f"compute target {self.name!r} needs Ray: pip install 'shardrun[ray]'"
            )
        target = _port(self.address)
        if target is not None:
            _wait_for_port(self.name, *target, timeout=timeout_in_minutes * 60)
        super().wait_for_completion(show_output, min_node_count)

    def _describe(self) -> str:
        return f"Ray cluster at {self.address}, {self.node_count} node(s)"


def _port(address: str) -> tuple[str, int] | None:
    match = _ADDRESS.match(address)
    if match is None or not 0 < int(match["port"]) < 65536:
        return None
    return match["host"].strip("[]"), int(match["port"])


def _wait_for_port(name: str, host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(2.0, max(timeout, 0.1))):
                return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise ComputeTargetException(
                    f"compute target {name!r}: the Ray head at {host}:{port} did not answer "
                    f"({e}); start it with `ray start --head --port={port}`"
                ) from None
        time.sleep(0.2)


def resolve(workspace: WorkspaceFolder, target: ComputeTarget | str | None) -> ComputeTarget | None:
    """The target a step names: an object as is, a name looked up, None for the default.

    A string that is no registered target's name may also be ``"local"`` (None), ``"ray"``
    (``RayCompute(address="auto")``) or a Ray address (``"ray://host:port"``,
    ``"host:port"``), as a YAML job's ``compute:`` writes them (``azureml:<name>`` is
    ``<name>``).
    """
    if target is None or isinstance(target, ComputeTarget):
        return target
    if isinstance(target, str):
        target = target.removeprefix("azureml:")  # a v2 job's named compute
        if _port(target) is not None:
            return RayCompute(address=target)
        if target in ("local", "ray") and (
            workspace.catalogue.get_record("compute_targets", target) is None
        ):
            return RayCompute() if target == "ray" else None
        return ComputeTarget(workspace, target)
    raise ConfigError(
        f"compute_target must be a ComputeTarget, its name or None; got {target!r}",
        "compute_target",
    )
