"""The workspace: one folder with a SQLite catalogue, runs and models (Azure's ``Workspace``).

Azure's workspace is a cloud resource; shardrun's is a folder::

    <workspace>/
      catalogue.sqlite                     datastores, datasets, models, compute targets
      datastores/workspaceblobstore/       the default datastore (a local folder)
      models/<name>/<version>/             registered model files
      runs/<run_id>/                       one folder per run

Several processes may use one workspace at once (the catalogue is SQLite in WAL mode).

Which workspace a call uses when none is given: the one activated with
:func:`~shardrun.workspace.folder.using`, else ``$SHARDRUN_WORKSPACE`` (workers have it set
to their run's workspace), else ``./shardrun-workspace`` (see :mod:`shardrun.workspace.folder`,
which every other workspace object stands on; this class sits above them all).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from shardrun.errors import ConfigError
from shardrun.workspace.compute import ComputeTarget
from shardrun.workspace.datastores import Datastore, default_datastore_name
from shardrun.workspace.folder import (
    DEFAULT_DATASTORE,
    DEFAULT_FOLDER,
    ENV_VAR,
    WorkspaceFolder,
    current,
    using,
)

# Imported so that ComputeTarget(ws, name) and ws.compute_targets know every kind of target.
from shardrun.workspace.ray_compute import RayCompute  # noqa: F401

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
CONFIG_DIR = ".azureml"
#: What ``subscription_id``, ``resource_group`` and ``location`` say when nothing names them.
LOCAL = "local"
_AZURE_KEYS = ("subscription_id", "resource_group", "location")


class Workspace(WorkspaceFolder):
    """A workspace folder (Azure's ``Workspace``, local-first).

    Get one with :meth:`create` (makes the folder if needed) or :meth:`from_config`.
    ``Workspace(path)`` names a folder without creating anything.

    Attributes:
        path: The workspace folder (absolute).
        name: The folder's name (Azure's workspace name).
        subscription_id, resource_group, location: Strings, kept for display only (Azure's
            samples print them): from an Azure ``config.json`` or ``create(...)``'s
            options when they name them, else ``"local"``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.subscription_id: str = LOCAL
        self.resource_group: str = LOCAL
        self.location: str = LOCAL

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], exist_ok: bool = True, **azure_options: Any
    ) -> Workspace:
        """Create the workspace folder, its catalogue and its default datastore.

        Azure's ``Workspace.create(name, subscription_id=..., resource_group=..., ...)``
        creates a cloud resource; here ``path`` is a folder, and Azure's other options are
        accepted and ignored. Creating an existing workspace again is harmless.

        Raises:
            FileExistsError: ``exist_ok`` is false and the folder exists.
        """
        workspace = cls(path)
        if workspace.path.exists() and not exist_ok:
            raise FileExistsError(str(workspace.path))
        workspace._describe(azure_options)
        ignored = sorted(set(azure_options) - set(_AZURE_KEYS))
        if ignored:
            log.info("Workspace.create: ignoring Azure options %s", ignored)
        for folder in (workspace.runs_dir, workspace.models_dir):
            folder.mkdir(parents=True, exist_ok=True)
        workspace.catalogue.create()
        default_datastore_name(workspace)
        return workspace

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str] | None = None,
        auth: Any = None,
        _logger: Any = None,
        _file_name: str | None = None,
    ) -> Workspace:
        """The workspace a ``config.json`` names (Azure's ``Workspace.from_config``).

        The search starts at ``path`` (a folder, or the config file itself; default: the
        current folder) and goes up through its parents; in each folder it looks for
        ``config.json``, then ``.azureml/config.json``. Paths in the file are relative to
        the folder where it was found (for ``.azureml/config.json``, the folder that holds
        ``.azureml``):

        * shardrun's form: ``{"workspace_path": "build/workspace"}``;
        * Azure's form, ``{"subscription_id": ..., "resource_group": ...,
          "workspace_name": "my-ws"}``, names the folder ``my-ws`` next to it.

        The workspace is created if the folder does not exist yet. ``auth`` is ignored.

        Raises:
            ConfigError: No config file was found, or it names no workspace.
        """
        del auth, _logger
        file_name = _file_name or CONFIG_FILE
        found = _find_config(Path(path) if path is not None else Path.cwd(), file_name)
        base = found.parent.parent if found.parent.name == CONFIG_DIR else found.parent
        try:
            data = json.loads(found.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"{found} is not a readable JSON file: {e}") from e
        folder = data.get("workspace_path") if isinstance(data, dict) else None
        folder = folder or (data.get("workspace_name") if isinstance(data, dict) else None)
        if not isinstance(folder, str) or not folder:
            raise ConfigError(
                f'{found} names no workspace; write {{"workspace_path": "<folder>"}} '
                "(relative to the file's folder) or Azure's workspace_name"
            )
        workspace = cls.create(base / folder)
        workspace._describe(data)
        return workspace

    def _describe(self, options: dict[str, Any]) -> None:
        """Take Azure's subscription, resource group and region from ``options`` if named."""
        for key in _AZURE_KEYS:
            if options.get(key):
                setattr(self, key, str(options[key]))

    def write_config(
        self, path: str | os.PathLike[str] | None = None, file_name: str | None = None
    ) -> Path:
        """Write ``<path>/.azureml/config.json`` naming this workspace, as Azure does.

        :meth:`from_config`, run from ``path`` or any folder below it, finds it again.

        Args:
            path: The project folder (default: the current folder).
            file_name: The file's name (default ``config.json``).

        Returns:
            The file written.
        """
        base = Path(path) if path is not None else Path.cwd()
        target = base / CONFIG_DIR / (file_name or CONFIG_FILE)
        target.parent.mkdir(parents=True, exist_ok=True)
        relative = os.path.relpath(self.path, base.resolve())
        data = {"workspace_name": self.name, "workspace_path": relative}
        target.write_text(json.dumps(data, indent=2) + "\n")
        return target

    # -- datastores and compute ----------------------------------------------------------

    @property
    def datastores(self) -> dict[str, Datastore]:
        """Every registered datastore, by name (Azure's ``ws.datastores``)."""
        return {d.name: d for d in Datastore.list(self)}

    def get_default_datastore(self) -> Datastore:
        """The default datastore: ``workspaceblobstore``, a folder inside the workspace.

        In Azure it is the workspace's blob container; here it is
        ``<workspace>/datastores/workspaceblobstore/`` unless :meth:`set_default_datastore`
        named another one.
        """
        return Datastore.get(self, default_datastore_name(self))

    def set_default_datastore(self, name: str) -> None:
        """Make the registered datastore ``name`` the default one."""
        Datastore.get(self, name)
        self.catalogue.set_meta("default_datastore", name)

    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        """Every compute target created in this workspace, by name."""
        return {t.name: t for t in ComputeTarget.list(self)}


def _find_config(start: Path, file_name: str) -> Path:
    start = start.expanduser().resolve()
    if start.is_file():
        return start
    for folder in (start, *start.parents):
        for candidate in (folder / file_name, folder / CONFIG_DIR / file_name):
            if candidate.is_file():
                return candidate
    raise ConfigError(
        f"no {file_name} or {CONFIG_DIR}/{file_name} in {start} or its parents; create a "
        "workspace with Workspace.create(path) and save it with ws.write_config()"
    )


def resolve_workspace(
    workspace: WorkspaceFolder | str | os.PathLike[str] | None = None,
) -> Workspace:
    """The workspace to use, created if needed: the argument, else :func:`current`'s."""
    if isinstance(workspace, WorkspaceFolder):
        return Workspace.create(workspace.path)
    if workspace is None:
        return Workspace.create(current().path)
    return Workspace.create(workspace)


__all__ = [
    "CONFIG_DIR",
    "CONFIG_FILE",
    "DEFAULT_DATASTORE",
    "DEFAULT_FOLDER",
    "ENV_VAR",
    "Workspace",
    "current",
    "resolve_workspace",
    "using",
]
