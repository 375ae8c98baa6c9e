"""Step reuse: skip a step whose script, config, inputs and arguments are unchanged.

A step's *fingerprint* hashes everything its result depends on: the content of its script
folder, its resolved config, every input file (path, size and, for local files, the
modification time), and its arguments. A completed step run is remembered under its
fingerprint in ``<workspace>/reuse/``; ``allow_reuse=True`` makes a later run with the same
fingerprint reuse that result instead of running again (Azure's step-level reuse).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from shardrun.data.listing import iter_files
from shardrun.engine.writer import atomic_write
from shardrun.workspace.datastores import is_url

_SKIP_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", ".mypy_cache", ".pytest_cache"}


def _folder_digest(folder: Path, digest: Any) -> None:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(root, name)
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            with open(path, "rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):  # type: ignore[misc]
                    digest.update(block)
            digest.update(b"\1")


def _paths_digest(paths: Iterable[str], digest: Any) -> None:
    for path, size in iter_files(paths):
        stamp = 0 if is_url(path) else os.stat(path).st_mtime_ns
        digest.update(f"{path}\0{size}\0{stamp}\n".encode())


def fingerprint(
    code_folder: Path,
    settings: Mapping[str, Any],
    input_paths: Sequence[tuple[str, Sequence[str]]],
    arguments: Sequence[str],
) -> str:
    """The hex fingerprint of a step.

    Args:
        code_folder: The script's folder (its whole content counts).
        settings: The resolved config, as JSON-able values.
        input_paths: ``(input name, paths)`` of every input; the files they name count.
        arguments: The resolved arguments.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    _folder_digest(code_folder, digest)
    for name, paths in input_paths:
        digest.update(f"input {name}\n".encode())
        _paths_digest(paths, digest)
    digest.update(json.dumps(list(arguments)).encode())
    return digest.hexdigest()


def remember(workspace_path: Path, key: str, record: Mapping[str, Any]) -> None:
    """Remember a completed step run under its fingerprint."""
    folder = workspace_path / "reuse"
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / f"{key}.json", "w", fsync=False) as handle:
        json.dump(dict(record), handle, indent=2)


def lookup(workspace_path: Path, key: str) -> dict[str, Any] | None:
    """The completed step run remembered under this fingerprint, if its outputs still exist."""
    path = workspace_path / "reuse" / f"{key}.json"
    try:
        record = dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None
    outputs = record.get("outputs", {})
    if all(Path(o["local_path"]).exists() for o in outputs.values()):
        return record
    return None
