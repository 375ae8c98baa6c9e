"""A workspace folder and the workspace in use: what every workspace object stands on.

:class:`WorkspaceFolder` knows the folder's layout and its catalogue, nothing more, so that
datastores, storage, URLs, models and compute targets can use a workspace without importing
the public :class:`~shardrun.workspace.workspace.Workspace`, which sits above them all (it
lists datastores and compute targets).

Which workspace a call uses when none is given: the one activated with :func:`using`, else
``$SHARDRUN_WORKSPACE`` (workers have it set to their run's workspace), else
``./shardrun-workspace``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from shardrun.workspace.catalogue import Catalogue

ENV_VAR = "SHARDRUN_WORKSPACE"
DEFAULT_FOLDER = "shardrun-workspace"
DEFAULT_DATASTORE = "workspaceblobstore"

_active: ContextVar[WorkspaceFolder | None] = ContextVar("shardrun_workspace", default=None)


class WorkspaceFolder:
    """A workspace's folder: its path, its catalogue and the folders inside it.

    Attributes:
        path: The workspace folder (absolute).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().resolve()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkspaceFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def name(self) -> str:
        """The workspace's name: its folder's name."""
        return self.path.name

    @property
    def catalogue(self) -> Catalogue:
        """The workspace's catalogue (``catalogue.sqlite``)."""
        return Catalogue(self.path)

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


@contextmanager
def using(workspace: WorkspaceFolder) -> Iterator[WorkspaceFolder]:
    """Make ``workspace`` the one that calls without a workspace use, inside the block.

    A run's driver uses it while it lists ``azureml://`` inputs, so that datastore names
    resolve in the run's workspace.
    """
    token = _active.set(workspace)
    try:
        yield workspace
    finally:
        _active.reset(token)


def current() -> WorkspaceFolder:
    """The workspace in use: :func:`using`'s, else ``$SHARDRUN_WORKSPACE``, else the default.

    Nothing is created: a folder that is not a workspace fails when its catalogue is read.
    """
    active = _active.get()
    if active is not None:
        return active
    return WorkspaceFolder(os.environ.get(ENV_VAR) or DEFAULT_FOLDER)
