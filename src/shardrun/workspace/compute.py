"""Compute targets: where a step's workers run (Azure's ``ComputeTarget``).

=====================  ==============================================================
target                 runs on
=====================  ==============================================================
:class:`LocalCompute`  this machine, in spawned processes (the default: ``None``)
:class:`~shardrun.workspace.ray_compute.RayCompute`
                       a Ray cluster (``address``), one actor per worker process
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

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from shardrun.errors import ConfigError
from shardrun.workspace.catalogue import Record
from shardrun.workspace.folder import WorkspaceFolder

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,14}[A-Za-z0-9]$")


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
        count = check_count("process_count", process_count)
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
        low = check_count("min_nodes", min_nodes, allow_zero=True) or 0
        high = check_count("max_nodes", 4 if max_nodes is None else max_nodes) or 4
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


def check_count(name: str, value: Any, allow_zero: bool = False) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        allowed = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{name} must be {allowed} integer; got {value!r}", name)
    return value
