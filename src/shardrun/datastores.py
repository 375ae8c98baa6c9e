"""Where data lives: local folders and fsspec URLs (Azure Blob, S3, GCS, …).

Every remote read in shardrun goes through :func:`filesystem`, in the driver (listing) and in
workers (downloads), so that credentials are resolved in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_GLOB_CHARS = frozenset("*?[")


def is_url(path: str) -> bool:
    """True for ``scheme://…`` paths other than ``file://`` (those are read through fsspec)."""
    return "://" in path and not path.startswith("file://")


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem that reads ``url``, and the path within it."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs, str(path)


def _to_url(url: str, path: str) -> str:
    """The URL of ``path`` (a path of ``url``'s filesystem), in ``url``'s own scheme."""
    return f"{url.split('://', 1)[0]}://{path.lstrip('/')}"


def iter_remote(url: str) -> Iterator[tuple[str, int]]:
    """Stream ``(url, size)`` of every file that a remote file, folder or glob names.

    Raises:
        FileNotFoundError: A path that is not a glob does not exist.
    """
    fs, root = filesystem(url)
    if _GLOB_CHARS.intersection(root):
        for name, info in fs.glob(root, detail=True).items():
            if info.get("type") == "directory":
                yield from _walk(fs, url, name)
            else:
                yield _to_url(url, name), int(info.get("size") or 0)
        return
    if not fs.exists(root):
        raise FileNotFoundError(url)
    if fs.isdir(root):
        yield from _walk(fs, url, root)
    else:
        yield url, int(fs.size(root) or 0)


def _walk(fs: Any, url: str, root: str) -> Iterator[tuple[str, int]]:
    for folder, _dirs, files in fs.walk(root, detail=True):
        for name, info in files.items():
            yield _to_url(url, f"{folder.rstrip('/')}/{name}"), int(info.get("size") or 0)
