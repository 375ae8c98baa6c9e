"""The workspace: one folder that holds runs, models and (later) a catalogue of datasets.

Which folder: the ``workspace=`` argument (``--workspace DIR``), else ``$SHARDRUN_WORKSPACE``,
else ``./shardrun-workspace``. Runs live in ``<workspace>/runs/<run_id>/``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SHARDRUN_WORKSPACE"
DEFAULT_FOLDER = "shardrun-workspace"


class Workspace:
    """A workspace folder (Azure's ``Workspace``, local-first)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().resolve()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    @classmethod
    def create(cls, path: str | os.PathLike[str], exist_ok: bool = True) -> Workspace:
        """Create the workspace folder (and its ``runs`` and ``models`` folders)."""
        workspace = cls(path)
        if workspace.path.exists() and not exist_ok:
            raise FileExistsError(str(workspace.path))
        for folder in (workspace.runs_dir, workspace.models_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return workspace

    @property
    def runs_dir(self) -> Path:
        """``<workspace>/runs``."""
        return self.path / "runs"

    @property
    def models_dir(self) -> Path:
        """``<workspace>/models``."""
        return self.path / "models"

    def run_dir(self, run_id: str) -> Path:
        """The folder of one run."""
        return self.runs_dir / run_id


def resolve_workspace(workspace: Workspace | str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace to use: the argument, else ``$SHARDRUN_WORKSPACE``, else the default."""
    if isinstance(workspace, Workspace):
        return Workspace.create(workspace.path)
    if workspace is None:
        workspace = os.environ.get(ENV_VAR) or DEFAULT_FOLDER
    return Workspace.create(workspace)
