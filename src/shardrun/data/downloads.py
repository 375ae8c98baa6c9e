"""Copy listed files into a local folder, keeping their layout (``FileDataset.download``).

A file's place in the folder is its path relative to the dataset's *root*, the folder its
paths have in common (Azure's ``to_path()``): a folder path counts as itself, a file as the
folder that holds it, a glob as the folders before its first wildcard. Local files are
copied, remote ones downloaded through :func:`shardrun.workspace.datastores.filesystem`, a few at a
time; each file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from shardrun.data.pathkeys import canonical, root_of
from shardrun.workspace.datastores import filesystem, is_url

_THREADS = 8
_CHUNK = 256


def is_local_filesystem(fs: Any) -> bool:
    """True for fsspec's local filesystem (a local folder datastore)."""
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol


def is_file(path: str) -> bool:
    """Whether a path (not a glob) names one file, local or remote (one request)."""
    if not is_url(path):
        return os.path.isfile(path.removeprefix("file://"))
    fs, inner = filesystem(path)
    return bool(fs.isfile(inner))


def common_root(paths: Sequence[str]) -> str:
    """The folder that ``paths`` (files, folders, globs) have in common; "" if none."""
    roots = []
    for path in paths:
        root = root_of(canonical(path))
        if root == canonical(path).rstrip("/") and is_file(path):
            root = root.rsplit("/", 1)[0]
        roots.append(root.split("/"))
    common = roots[0]
    for parts in roots[1:]:
        size = 0
        while size < min(len(common), len(parts)) and common[size] == parts[size]:
            size += 1
        common = common[:size]
    return "/".join(common)


def relative_path(path: str, root: str) -> str:
    """``path`` below ``root``, starting with ``/`` (a URL without a root: its scheme first)."""
    path = canonical(path)
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) :]
    return "/" + path.replace("://", "/").lstrip("/")


def relative_paths(paths: Sequence[str], files: Iterable[str]) -> Iterator[str]:
    """Each of ``files`` relative to the root of ``paths`` (what listed them), in order."""
    root = common_root(paths)
    for path in files:
        yield relative_path(path, root)


def download(
    paths: Sequence[str],
    files: Iterable[str],
    target: str | os.PathLike[str] | None,
    overwrite: bool,
) -> list[str]:
    """Copy ``files`` (listed from ``paths``) below ``target``, as ``FileDataset.download``.

    Args:
        paths: What the files were listed from: their layout below its root is kept.
        files: The files, in order.
        target: A local folder (created if missing); None: a new temporary one.
        overwrite: Replace existing files.
    """
    folder = Path(target if target is not None else tempfile.mkdtemp(prefix="shardrun-"))
    folder = folder.expanduser().absolute()
    return copy_files(files, common_root(paths), folder, overwrite)


def copy_files(files: Iterable[str], root: str, folder: Path, overwrite: bool) -> list[str]:
    """Copy ``files`` to ``folder``/their path below ``root``; returns the local paths.

    Raises:
        FileExistsError: A destination exists and ``overwrite`` is false (nothing of that
            chunk was copied).
    """
    done: list[str] = []
    listing = iter(files)
    with ThreadPoolExecutor(_THREADS) as pool:
        while chunk := list(islice(listing, _CHUNK)):
            pairs = [(f, folder / relative_path(f, root).lstrip("/")) for f in chunk]
            if not overwrite:
                for _, local in pairs:
                    if local.exists():
                        raise FileExistsError(
                            f"{local} exists; pass overwrite=True to replace it, or download "
                            "into another folder"
                        )
            # Filesystems are resolved here: threads do not see the workspace in use.
            sources = [_source(f) for f, _ in pairs]
            for _ in pool.map(_copy, sources, [local for _, local in pairs]):
                pass
            done.extend(str(local) for _, local in pairs)
    return done


def _source(path: str) -> tuple[Any, str]:
    """``(fsspec filesystem or None for a local file, path in it)``."""
    return filesystem(path) if is_url(path) else (None, path.removeprefix("file://"))


def _copy(source: tuple[Any, str], local: Path) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    partial = local.with_name(f".{local.name}.partial")
    fs, inner = source
    if fs is None:
        shutil.copyfile(inner, partial)
    else:
        fs.get_file(inner, str(partial))
    os.replace(partial, local)
