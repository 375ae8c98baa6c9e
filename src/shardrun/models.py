"""A versioned model registry inside the workspace (Azure's ``Model``).

``Model.register`` copies a file or folder to ``<workspace>/models/<name>/<version>/``;
``Model.get_model_path(name)`` finds it again, also inside an entry script, where the
workspace comes from the worker's environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from shardrun.errors import ConfigError
from shardrun.workspace import ENV_VAR, Workspace, resolve_workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


class Model:
    """A registered model version.

    Attributes:
        name: The model's name.
        version: Its version, counting from 1.
        path: The registered file or folder inside the workspace.
        tags: Free-form key/value tags.
        description: Free text.
    """

    def __init__(self, workspace: Workspace, name: str, version: int | None = None) -> None:
        versions = _versions(workspace, name)
        if not versions:
            raise ConfigError(f"no model named {name!r} is registered in {workspace.path}")
        version = version or versions[-1]
        if version not in versions:
            raise ConfigError(f"model {name!r} has no version {version}; it has {versions}")
        folder = workspace.models_dir / name / str(version)
        meta = json.loads((folder / "model.json").read_text())
        self.workspace = workspace
        self.name = name
        self.version = version
        self.path = folder / meta["file"]
        self.tags: dict[str, str] = meta.get("tags", {})
        self.description: str | None = meta.get("description")

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, version={self.version})"

    @classmethod
    def register(
        cls,
        workspace: Workspace,
        model_path: str | os.PathLike[str],
        model_name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> Model:
        """Copy a model file or folder into the workspace as the next version of ``model_name``."""
        if not _NAME.match(model_name):
            raise ConfigError(
                "model_name must be letters, digits, '.', '_' or '-' (up to 255 characters); "
                f"got {model_name!r}"
            )
        source = Path(model_path)
        if not source.exists():
            raise ConfigError(f"model_path {str(source)!r} does not exist")
        versions = _versions(workspace, model_name)
        version = (versions[-1] if versions else 0) + 1
        folder = workspace.models_dir / model_name / str(version)
        folder.mkdir(parents=True)
        if source.is_dir():
            shutil.copytree(source, folder / source.name)
        else:
            shutil.copy2(source, folder / source.name)
        meta = {
            "name": model_name,
            "version": version,
            "file": source.name,
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
            "description": description,
            "created": time.time(),
        }
        (folder / "model.json").write_text(json.dumps(meta, indent=2))
        return cls(workspace, model_name, version)

    @staticmethod
    def list(workspace: Workspace, name: str | None = None) -> list[Model]:
        """Every registered version (of one model, if ``name`` is given)."""
        root = workspace.models_dir
        names = (
            [name]
            if name
            else sorted(p.name for p in root.iterdir() if p.is_dir())
            if root.exists()
            else []
        )
        return [Model(workspace, n, v) for n in names for v in _versions(workspace, n)]

    @staticmethod
    def get_model_path(
        model_name: str, version: int | None = None, _workspace: Workspace | None = None
    ) -> str:
        """The local path of a registered model (the file, or the folder registered).

        Inside an entry script the workspace is the run's; elsewhere it is the default one.
        """
        workspace = _workspace or resolve_workspace(os.environ.get(ENV_VAR))
        return str(Model(workspace, model_name, version).path)


def _versions(workspace: Workspace, name: str) -> list[int]:
    folder = workspace.models_dir / name
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())
