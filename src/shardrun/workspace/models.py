"""A versioned model registry inside the workspace (Azure's ``Model``).

``Model.register`` copies a file or folder to ``<workspace>/models/<name>/<version>/`` and
records it in the workspace's catalogue; ``Model.get_model_path(name)`` finds it again, also
inside an entry script, where the workspace comes from the worker's environment.

Registering is safe against two processes registering the same name at once (the catalogue
hands out versions inside one transaction) and against an interrupted copy: files are copied
into a temporary folder first, renamed into place inside that transaction, and a version the
catalogue lists always has its files. What a crash leaves behind (a ``.partial-*`` folder, or
a version folder the catalogue never recorded) is removed by the next registration.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from shardrun.errors import ConfigError
from shardrun.workspace.catalogue import Entry
from shardrun.workspace.folder import WorkspaceFolder, current
from shardrun.workspace.workspace import resolve_workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_PARTIAL = ".partial-"


class Model:
    """A registered model version.

    ``Model(ws, name)`` is the latest version, ``Model(ws, name, version)`` another one;
    ``Model(ws, id="name:3")`` also works, as in Azure.

    Attributes:
        workspace: The workspace it is registered in.
        name: The model's name.
        version: Its version, counting from 1.
        id: ``"<name>:<version>"``, as in Azure.
        path: The registered file or folder inside the workspace.
        tags: Free-form key/value tags (values are strings).
        description: Free text.
        created_time: When it was registered (seconds since the epoch).

    Raises:
        ConfigError: No model of that name, or no such version.
    """

    def __init__(
        self,
        workspace: WorkspaceFolder,
        name: str | None = None,
        version: int | None = None,
        *,
        id: str | None = None,
    ) -> None:
        if id is not None:
            name, _, number = id.partition(":")
            version = int(number) if number.isdigit() else version
        if not name:
            raise ConfigError("Model needs a name (or id='name:version')")
        entry = workspace.catalogue.get_model(name, "latest" if version is None else version)
        self._set(workspace, entry)

    def _set(self, workspace: WorkspaceFolder, entry: Entry) -> None:
        self.workspace = workspace
        self.name = entry.name
        self.version = entry.version
        self.path = _version_dir(workspace, entry.name, entry.version) / entry.body["file"]
        self.tags = dict(entry.tags)
        self.description = entry.description
        self.created_time = entry.created

    @classmethod
    def _from_entry(cls, workspace: WorkspaceFolder, entry: Entry) -> Model:
        model = cls.__new__(cls)
        model._set(workspace, entry)
        return model

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, version={self.version})"

    @property
    def id(self) -> str:
        """``"<name>:<version>"``."""
        return f"{self.name}:{self.version}"

    @classmethod
    def register(
        cls,
        workspace: WorkspaceFolder,
        model_path: str | os.PathLike[str],
        model_name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        **azure_options: Any,
    ) -> Model:
        """Copy a model file or folder into the workspace as the next version of ``model_name``.

        Args:
            workspace: Where to register it.
            model_path: A file or a folder.
            model_name: Letters, digits, ``.``, ``_``, ``-`` (up to 255).
            tags: Key/value tags (values become strings).
            description: Free text.
            **azure_options: Azure's other options (``model_framework``, ``properties``,
                ``sample_input_dataset``, …): accepted, ignored.

        Raises:
            ConfigError: A bad name, or ``model_path`` does not exist.
        """
        del azure_options
        if not isinstance(model_name, str) or not _NAME.match(model_name):
            raise ConfigError(
                "model_name must be letters, digits, '.', '_' or '-' (up to 255 characters); "
                f"got {model_name!r}",
                "model_name",
            )
        source = Path(model_path)
        if not source.exists():
            raise ConfigError(f"model_path {str(source)!r} does not exist", "model_path")
        root = workspace.models_dir
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(root)
        partial = root / f"{_PARTIAL}{os.getpid()}-{uuid.uuid4().hex}"
        try:
            if source.is_dir():
                shutil.copytree(source, partial / source.name)
            else:
                partial.mkdir()
                shutil.copy2(source, partial / source.name)

            def place(version: int) -> None:
                target = _version_dir(workspace, model_name, version)
                # Unknown to the catalogue, yet there: a crash between rename and commit.
                shutil.rmtree(target, ignore_errors=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(partial, target)

            version = workspace.catalogue.register_model(
                model_name, source.name, place, description, tags
            )
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return cls(workspace, model_name, version)

    @staticmethod
    def list(
        workspace: WorkspaceFolder,
        name: str | None = None,
        tags: list[Any] | None = None,
        latest: bool = False,
        **azure_options: Any,
    ) -> list[Model]:
        """Registered model versions, by name and version.

        Args:
            workspace: The workspace.
            name: Only this model.
            tags: Only models with these tags: each item is a key, or ``[key, value]``.
            latest: Only the latest version of each model.
            **azure_options: Azure's other filters (``properties``, ``run_id``, …): ignored.
        """
        del azure_options
        entries = workspace.catalogue.list_models(name)
        if latest:
            entries = list({e.name: e for e in entries}.values())
        models = [Model._from_entry(workspace, e) for e in entries]
        return [m for m in models if _has_tags(m.tags, tags or [])]

    @staticmethod
    def get_model_path(
        model_name: str, version: int | None = None, _workspace: WorkspaceFolder | None = None
    ) -> str:
        """The local path of a registered model (the file, or the folder registered).

        Inside an entry script the workspace is the run's (``$SHARDRUN_WORKSPACE``);
        elsewhere it is the workspace in use (see :func:`shardrun.workspace.workspace.current`).

        Raises:
            ConfigError: No such model or version.
        """
        workspace = _workspace or current()
        return str(Model(workspace, model_name, version).path)

    def download(self, target_dir: str | os.PathLike[str] = ".", exist_ok: bool = False) -> str:
        """Copy the model's file or folder into ``target_dir``; returns the copy's path.

        Raises:
            FileExistsError: The copy exists and ``exist_ok`` is false.
        """
        target = Path(target_dir) / self.path.name
        if target.exists() and not exist_ok:
            raise FileExistsError(str(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir():
            shutil.copytree(self.path, target, dirs_exist_ok=True)
        else:
            shutil.copy2(self.path, target)
        return str(target)


def model_dir(
    workspace: WorkspaceFolder | str | os.PathLike[str] | None,
    name: str,
    version: int | None = None,
) -> Path:
    """The version folder of a registered model: what ``AZUREML_MODEL_DIR`` points to.

    Raises:
        ConfigError: No such model or version.
    """
    ws = resolve_workspace(workspace) if workspace is not None else current()
    entry = ws.catalogue.get_model(name, "latest" if version is None else version)
    return _version_dir(ws, entry.name, entry.version)


def _version_dir(workspace: WorkspaceFolder, name: str, version: int) -> Path:
    return workspace.models_dir / name / str(version)


def _has_tags(tags: dict[str, str], wanted: list[Any]) -> bool:
    for item in wanted:
        if isinstance(item, list | tuple):
            key, value = item
            if tags.get(str(key)) != str(value):
                return False
        elif str(item) not in tags:
            return False
    return True


def _remove_stale_partials(root: Path) -> None:
    """Remove ``.partial-<pid>-*`` folders of processes that no longer run (on this host)."""
    import psutil

    for folder in root.glob(f"{_PARTIAL}*"):
        pid = folder.name[len(_PARTIAL) :].split("-", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
