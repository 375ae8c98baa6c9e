"""Compute targets: where a step's workers run (Azure's ``ComputeTarget``).

=====================  ==============================================================
target                 runs on
=====================  ==============================================================
:class:`LocalCompute`  this machine, in spawned processes (the default: ``None``)
:class:`RayCompute`    a Ray cluster (``address``), one actor per worker process
:class:`AmlCompute`    Azure's cluster type; shardrun runs it on this machine, as a
                       LocalCompute that remembers ``vm_size`` and ``max_nodes``, so that
                       the tutorials' ``AmlCompute.provisioning_configuration(...)`` runs
=====================  ==============================================================

A target is created once per workspace with ``ComputeTarget.create(ws, name, config)`` and
listed in ``ws.compute_targets``; ``ComputeTarget(workspace=ws, name=name)`` finds it again,
as the right class (``type(t) is AmlCompute`` holds as in Azure), and raises
:class:`ComputeTargetException` if there is none. ``max_nodes`` bounds
``ParallelRunConfig(node_count=...)``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from shardrun.errors import ConfigError
from shardrun.workspace.catalogue import Record
from shardrun.workspace.folder import WorkspaceFolder

log = logging.getLogger(__name__)

#: ``max_nodes`` of a RayCompute made on the spot: the cluster, not the target, bounds it.
_ANY_NODES = 1 << 16

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,14}[A-Za-z0-9]$")
_ADDRESS = re.compile(
    r"^(?:ray://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(?P<port>\d{1,5})$"
)


class ComputeTargetException(ConfigError, LookupError):
    """No compute target of that name, or one that cannot be created or reached (Azure's name)."""


@dataclass(frozen=True)
class ComputeConfiguration:
    """What ``*.provisioning_configuration(...)`` returns: a kind and its checked settings."""

    kind: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ComputeStatus:
    """What ``get_status()`` returns; ``serialize()`` gives Azure's keys."""

    provisioning_state: str
    current_node_count: int
    max_nodes: int

    def serialize(self) -> dict[str, Any]:
        """``{"provisioningState": ..., "currentNodeCount": ..., "maxNodes": ...}``."""
        return {
            "provisioningState": self.provisioning_state,
            "currentNodeCount": self.current_node_count,
            "maxNodes": self.max_nodes,
        }


#: kind -> class, filled as the classes below are defined
_CLASSES: dict[str, type[ComputeTarget]] = {}


class ComputeTarget:
    """A compute target registered in a workspace (Azure's ``ComputeTarget``).

    ``ComputeTarget(workspace=ws, name="cpu-cluster")`` returns the registered target as its
    own class (LocalCompute, RayCompute or AmlCompute).

    Attributes:
        workspace: Its workspace.
        name: Its name (2-16 letters, digits and '-', starting with a letter).
        type: Azure's word for its kind: ``Local``, ``Ray`` or ``AmlCompute``.
        provisioning_state: Always ``Succeeded`` once created.
        max_nodes: How many nodes a step may use (``ParallelRunConfig.node_count``).

    Raises:
        ComputeTargetException: No target of that name (of this class).
    """

    type: ClassVar[str] = ""
    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _CLASSES[cls.kind] = cls

    def __new__(cls, workspace: WorkspaceFolder, name: str) -> ComputeTarget:
        record = workspace.catalogue.get_record("compute_targets", name)
        if record is None:
            known = sorted(r.name for r in workspace.catalogue.list_records("compute_targets"))
            raise ComputeTargetException(
                f"no compute target named {name!r} in {workspace.path}; created: {known}. "
                "Create it with ComputeTarget.create(ws, name, config)"
            )
        target_class = _CLASSES[record.kind]
        if not issubclass(target_class, cls):
            raise ComputeTargetException(
                f"compute target {name!r} is a {target_class.__name__}, not a {cls.__name__}"
            )
        target: ComputeTarget = object.__new__(target_class)
        target._load(workspace, record)
        return target

    def __init__(self, workspace: WorkspaceFolder, name: str) -> None:
        """Everything is done by ``__new__``: a target is read from the catalogue."""

    def __getnewargs__(self) -> tuple[WorkspaceFolder, str]:
        # Pickled (to a pipeline's driver, a worker): read again from the catalogue.
        return self.workspace, self.name

    def _load(self, workspace: WorkspaceFolder, record: Record) -> None:
        self.workspace = workspace
        self.name = record.name
        self.settings = dict(record.settings)
        self.provisioning_state = "Succeeded"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, max_nodes={self.max_nodes})"

    @property
    def max_nodes(self) -> int:
        """How many nodes a step may use on this target."""
        return 1

    @staticmethod
    def create(
        workspace: WorkspaceFolder, name: str, provisioning_configuration: ComputeConfiguration
    ) -> ComputeTarget:
        """Register a compute target; nothing is provisioned (see :meth:`wait_for_completion`).

        Creating one again with the same configuration returns it.

        Raises:
            ComputeTargetException: A bad name, or a target of that name with another
                configuration (``delete()`` it first).
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ComputeTargetException(
                "compute target name must be 2-16 letters, digits and '-', start with a letter "
                f"and not end with '-'; got {name!r}"
            )
        config = provisioning_configuration
        if not isinstance(config, ComputeConfiguration):
            raise ComputeTargetException(
                "provisioning_configuration must come from LocalCompute, RayCompute or "
                f"AmlCompute.provisioning_configuration(...); got {config!r}"
            )
        record = Record(name, config.kind, dict(config.settings), {}, time.time())
        if workspace.catalogue.put_record("compute_targets", record, overwrite=False):
            log.info("created compute target %r (%s)", name, config.kind)
        target = ComputeTarget(workspace, name)
        if (target.kind, target.settings) != (config.kind, config.settings):
            raise ComputeTargetException(
                f"compute target {name!r} exists with another configuration "
                f"({target.kind}: {json.dumps(target.settings)}); delete() it first or "
                "pick another name"
            )
        return target

    @staticmethod
    def list(workspace: WorkspaceFolder) -> list[ComputeTarget]:
        """Every compute target of ``workspace``, by name."""
        return [
            ComputeTarget(workspace, r.name)
            for r in workspace.catalogue.list_records("compute_targets")
        ]

    def wait_for_completion(
        self,
        show_output: bool = False,
        min_node_count: int | None = None,
        timeout_in_minutes: float = 20,
        is_delete_operation: bool = False,
    ) -> None:
        """Azure waits for provisioning; here the target is checked once and is ready.

        Raises:
            ComputeTargetException: The target cannot be used (``min_node_count`` above
                ``max_nodes``; for Ray, see :meth:`RayCompute.wait_for_completion`).
        """
        del timeout_in_minutes, is_delete_operation
        if min_node_count is not None and min_node_count > self.max_nodes:
            raise ComputeTargetException(
                f"min_node_count={min_node_count} is more than {self.name!r}'s max_nodes "
                f"({self.max_nodes})"
            )
        if show_output:
            print(f"{self.name}: {self.provisioning_state} ({self._describe()})")

    def get_status(self) -> ComputeStatus:
        """The target's state (Azure's ``get_status()``; ``serialize()`` it to print)."""
        return ComputeStatus(self.provisioning_state, 1, self.max_nodes)

    def delete(self) -> None:
        """Remove the target from the workspace."""
        self.workspace.catalogue.delete_record("compute_targets", self.name)

    def _describe(self) -> str:
        return "this machine"


class LocalCompute(ComputeTarget):
    """This machine: workers are spawned processes (the default compute target).

    Attributes:
        process_count: The most worker processes at once (None: one per CPU), or None.
    """

    type = "Local"
    kind = "local"

    @staticmethod
    def provisioning_configuration(process_count: int | None = None) -> ComputeConfiguration:
        """The configuration of a LocalCompute.

        Args:
            process_count: The most worker processes at once on this machine (default:
                one per CPU).

        Raises:
            ConfigError: ``process_count`` is not a positive integer.
        """
        count = _count("process_count", process_count)
        return ComputeConfiguration("local", {"process_count": count})

    @property
    def process_count(self) -> int | None:
        """The most worker processes at once (None: one per CPU)."""
        value = self.settings.get("process_count")
        return int(value) if value is not None else None


class AmlCompute(LocalCompute):
    """Azure's cluster, run on this machine: ``vm_size`` and the node counts are recorded.

    ``max_nodes`` is kept so that ``ParallelRunConfig(node_count=...)`` is validated as on
    Azure; the nodes themselves are simulated on this machine.
    """

    type = "AmlCompute"
    kind = "aml"

    @staticmethod
    def provisioning_configuration(  # type: ignore[override]
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int = 0,
        max_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = None,
        **azure_options: Any,
    ) -> ComputeConfiguration:
        """Azure's cluster configuration; ``max_nodes`` defaults to 4 as in Azure.

        Networking, identity and admin options are accepted and ignored.

        Raises:
            ConfigError: Node counts that are not integers, or ``min_nodes > max_nodes``.
        """
        del idle_seconds_before_scaledown, azure_options
        low = _count("min_nodes", min_nodes, allow_zero=True) or 0
        high = _count("max_nodes", 4 if max_nodes is None else max_nodes) or 4
        if low > high:
            raise ConfigError(f"min_nodes ({low}) must not exceed max_nodes ({high})", "min_nodes")
        if vm_priority not in ("dedicated", "lowpriority"):
            raise ConfigError(
                f"vm_priority must be 'dedicated' or 'lowpriority'; got {vm_priority!r}",
                "vm_priority",
            )
        settings = {"vm_size": str(vm_size), "min_nodes": low, "max_nodes": high}
        return ComputeConfiguration("aml", {**settings, "process_count": None})

    @property
    def max_nodes(self) -> int:
        """``max_nodes`` of the configuration."""
        return int(self.settings["max_nodes"])

    @property
    def vm_size(self) -> str:
        """The VM size asked for (recorded only)."""
        return str(self.settings["vm_size"])

    def _describe(self) -> str:
        return f"{self.settings['vm_size'] or 'AmlCompute'} simulated on this machine"


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
        nodes = _count("node_count", node_count) or 1
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


def _count(name: str, value: Any, allow_zero: bool = False) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        allowed = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{name} must be {allowed} integer; got {value!r}", name)
    return value


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
