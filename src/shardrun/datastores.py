"""Where data lives: local folders and fsspec URLs (Azure Blob, S3, GCS, …)."""

from __future__ import annotations


def is_url(path: str) -> bool:
    """True for ``scheme://…`` paths other than ``file://`` (those are read through fsspec)."""
    return "://" in path and not path.startswith("file://")
