"""Paths as datasets take them: what Azure's ``path`` arguments accept, and their checks.

A path is a string (a file, folder or glob, local or an fsspec URL, or an ``azureml://``
URI), a DataPath (``datastore.path("mnist/")``), a ``(datastore, "relative/path")`` tuple
(one path, not two), a Datastore (its root), or a list of any of these. Each becomes a
string: local paths absolute, DataPaths their ``azureml://`` URI.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from shardrun.errors import ConfigError
from shardrun.workspace.datastores import (
    DataPath,
    Datastore,
    filesystem,
    is_url,
    iter_remote,
    to_url,
)
from shardrun.workspace.folder import WorkspaceFolder
from shardrun.workspace.workspace import Workspace, using

_GLOB_CHARS = frozenset("*?[")


def is_one_path(path: Any) -> bool:
    """True for one path; False for a list of them (a ``(datastore, path)`` tuple is one)."""
    if isinstance(path, str | os.PathLike | DataPath | Datastore):
        return True
    return isinstance(path, tuple) and len(path) == 2 and isinstance(path[0], Datastore)


def path_items(path: Any) -> list[Any]:
    """The paths in ``path`` (one, or a list).

    Raises:
        ConfigError: ``path`` is neither.
    """
    if is_one_path(path):
        return [path]
    if isinstance(path, bytes) or not isinstance(path, Iterable):
        raise ConfigError(
            "path must be a string, a DataPath, a (datastore, 'path') tuple or a list of "
            f"these; got {type(path).__name__} {path!r}"
        )
    return list(path)


def normalise_paths(path: Any) -> tuple[str, ...]:
    """Paths as strings: local ones absolute, URLs (``azureml://`` for DataPaths) as given.

    Raises:
        ConfigError: An empty list, an empty string, or something that is not a path.
    """
    items = path_items(path)
    if not items:
        raise ConfigError("path must name at least one file, folder or glob; got an empty list")
    result = []
    for item in items:
        text = to_url(item)
        if not text.strip():
            raise ConfigError(f"path must be a file, folder, glob or URL; got {item!r}")
        result.append(text if is_url(text) else os.path.abspath(os.path.expanduser(text)))
    return tuple(result)


def workspace_of(path: Any) -> Workspace | None:
    """The workspace of the first datastore among ``path``'s items, if any."""
    for item in path_items(path):
        if isinstance(item, DataPath):
            return _public(item.datastore.workspace)
        if isinstance(item, Datastore):
            return _public(item.workspace)
        if isinstance(item, tuple) and item and isinstance(item[0], Datastore):
            return _public(item[0].workspace)
    return None


def _public(folder: WorkspaceFolder) -> Workspace:
    return folder if isinstance(folder, Workspace) else Workspace(folder.path)


def resolving(path: Any) -> AbstractContextManager[Any]:
    """Inside the block, ``azureml://`` URIs resolve in the workspace of ``path``'s datastores.

    A DataPath knows its datastore's workspace; its URI does not. Checking a path when a
    dataset is created therefore uses that workspace rather than the one in use.
    """
    workspace = workspace_of(path)
    return using(workspace) if workspace is not None else nullcontext()


def check_exists(path: str) -> None:
    """Check that a path exists, or that a glob matches a file.

    One request for a remote path (a glob: its listing up to the first match); nothing is
    listed.

    Raises:
        ConfigError: It does not, or it cannot be reached (the message says why).
    """
    globbed = bool(_GLOB_CHARS.intersection(path))
    try:
        found = _exists(path, globbed)
    except ConfigError:
        raise
    except Exception as e:  # any client error: say which path and why
        raise ConfigError(f"cannot check path {path!r}: {type(e).__name__}: {e}") from None
    if not found:
        what = "matches no file" if globbed else "does not exist"
        raise ConfigError(
            f"path {path!r} {what}; give a file, a folder or a glob that exists, or pass "
            "validate=False to check it only when a run lists it"
        )


def _exists(path: str, globbed: bool) -> bool:
    if not is_url(path):
        if globbed:
            return next(glob.iglob(path, recursive=True), None) is not None
        return os.path.exists(path)
    if globbed:
        return next(iter_remote(path), None) is not None
    fs, inner = filesystem(path)
    return bool(fs.exists(inner))
