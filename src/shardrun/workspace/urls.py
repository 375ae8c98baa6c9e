"""Where remote files are: fsspec URLs and ``azureml://`` datastore URIs, opened with credentials.

Every remote read in shardrun goes through :func:`filesystem`, in the driver (listing) and in
workers (downloads), so that credentials are resolved in one place.

* ``azureml://datastores/<name>/paths/<path>`` (Azure ML's v2 URI; the long form with
  ``subscriptions/…/workspaces/…/`` before ``datastores`` is accepted too) names a path on a
  registered datastore. The datastore is looked up in the workspace given, else the one in
  use (:func:`shardrun.workspace.workspace.current`: workers have ``$SHARDRUN_WORKSPACE`` set), and
  opened with its secrets, read from environment variables.
* Other URLs (``abfs://``, ``s3://``, ``gs://``, …) are opened with fsspec's defaults.

Datastore records and filesystems are kept for the life of the process; a datastore
registered again in this process is read anew, one registered again by another process is
seen after :func:`clear_cache` or a restart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from shardrun.errors import ConfigError
from shardrun.workspace import credentials, storage
from shardrun.workspace.catalogue import Record
from shardrun.workspace.folder import WorkspaceFolder, current

_GLOB_CHARS = frozenset("*?[")
_AZUREML = re.compile(r"^azureml://(?:.*/)?datastores/(?P<name>[^/]+)/paths/(?P<path>.*)$")
#: (workspace folder, datastore name) -> its record, read once per process.
_records: dict[tuple[Path, str], Record] = {}


def datastore_url(name: str, path: str = "") -> str:
    """``azureml://datastores/<name>/paths/<path>``."""
    return f"azureml://datastores/{name}/paths/{clean(path)}"


def is_url(path: str) -> bool:
    """True for ``scheme://…`` paths other than ``file://`` (those are read through fsspec)."""
    return "://" in path and not path.startswith("file://")


def filesystem(url: str, workspace: WorkspaceFolder | None = None) -> tuple[Any, str]:
    """The fsspec filesystem that reads ``url``, and the path within it.

    Raises:
        ConfigError: An ``azureml://`` URI names an unknown datastore, or its package or
            a secret's environment variable is missing.
    """
    fs, path, _ = _locate(url, workspace)
    return fs, path


def iter_remote(url: str, workspace: WorkspaceFolder | None = None) -> Iterator[tuple[str, int]]:
    """Stream ``(url, size)`` of every file that a remote file, folder or glob names.

    The URLs are in ``url``'s own scheme (``azureml://`` stays ``azureml://``), so that a
    worker resolves their credentials again.

    Raises:
        FileNotFoundError: A path that is not a glob does not exist.
    """
    fs, root, to_url = _locate(url, workspace)
    if _GLOB_CHARS.intersection(root):
        for name, info in fs.glob(root, detail=True).items():
            if info.get("type") == "directory":
                yield from _walk(fs, to_url, name)
            else:
                yield to_url(name), int(info.get("size") or 0)
        return
    if not fs.exists(root):
        raise FileNotFoundError(url)
    if fs.isdir(root):
        yield from _walk(fs, to_url, root)
    else:
        yield url, int(fs.size(root) or 0)


def datastore_record(workspace: WorkspaceFolder, name: str) -> Record:
    """The catalogue's record of datastore ``name`` (read once per process).

    Raises:
        ConfigError: No such datastore; the message lists the registered ones.
    """
    key = (workspace.path, name)
    if key not in _records:
        record = workspace.catalogue.get_record("datastores", name)
        if record is None:
            known = [r.name for r in workspace.catalogue.list_records("datastores")]
            raise ConfigError(
                f"no datastore named {name!r} in workspace {workspace.path}; registered: {known}"
            )
        _records[key] = record
    return _records[key]


def secret_variables(
    urls: Iterable[str], workspace: WorkspaceFolder | None = None
) -> dict[str, str]:
    """The environment variables (name -> value) that the datastores of ``urls`` read.

    For backends whose workers do not inherit this process's environment (Ray actors on
    other nodes): pass these along, never write them to a file.
    """
    found: dict[str, str] = {}
    for url in urls:
        match = _AZUREML.match(url)
        if match is not None:
            record = datastore_record(workspace or current(), match["name"])
            found.update(credentials.environment(record.secrets))
    return found


def forget(workspace: WorkspaceFolder, name: str) -> None:
    """Drop the kept record of one datastore (it was registered again or removed)."""
    _records.pop((workspace.path, name), None)


def clear_cache() -> None:
    """Forget every datastore record and filesystem this process has kept."""
    _records.clear()
    storage.clear_cache()


def clean(path: str) -> str:
    """A path on a datastore: forward slashes, no leading slash."""
    return path.replace("\\", "/").lstrip("/")


def join(base: str, path: str) -> str:
    """``base/path``, or ``base`` when ``path`` is empty."""
    return f"{base.rstrip('/')}/{path}" if path else base


def _locate(url: str, workspace: WorkspaceFolder | None) -> tuple[Any, str, Callable[[str], str]]:
    match = _AZUREML.match(url)
    if match is None:
        import fsspec

        fs, path = fsspec.core.url_to_fs(url)
        scheme = url.split("://", 1)[0]
        return fs, str(path), lambda p: f"{scheme}://{p.lstrip('/')}"
    name = match["name"]
    workspace = workspace or current()
    fs, base = storage.open_filesystem(datastore_record(workspace, name), workspace.path)
    return fs, join(base, clean(match["path"])), lambda p: datastore_url(name, p[len(base) :])


def _walk(fs: Any, to_url: Callable[[str], str], root: str) -> Iterator[tuple[str, int]]:
    for folder, _dirs, files in fs.walk(root, detail=True):
        for name, info in files.items():
            yield to_url(f"{folder.rstrip('/')}/{name}"), int(info.get("size") or 0)
