"""Side inputs: reference data that every worker reads whole (Azure's ``side_inputs``).

A side input is not cut into mini-batches. Before any worker starts, the driver makes each
one a local file or folder that every worker can read:

* a single local file or folder (also one on a local folder datastore) is used where it is;
* anything else (remote files, a glob, several paths, a dataset cut by ``take()`` or
  ``skip()``) is copied or downloaded once, by the driver, into
  ``<run_dir>/side_inputs/<name>/``, keeping the files' layout below the dataset's root
  (see :mod:`shardrun.data.downloads`); a single remote file becomes
  ``<run_dir>/side_inputs/<name>/<file name>``. The folder appears complete or not at all,
  and a resumed run downloads only what is missing.

References to a side input in ``arguments`` (the same object, or the dataset that a
DatasetConsumptionConfig wraps) are replaced by that local path, as in Azure: the script
reads ``--labels_dir`` and gets a folder (or a file, for a one-file dataset).

A side input may be a FileDataset, a DatasetConsumptionConfig (``as_named_input``), a
DataPath, a ``(datastore, "path")`` tuple, a path string, or a TabularDataset (its files).
Its name (the consumption config's, the dataset's, or ``side_input_<n>``) names its folder.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardrun.data.datapaths import is_one_path
from shardrun.data.datasets import (
    AbstractDataset,
    DatasetConsumptionConfig,
    FileDataset,
    FileFactory,
)
from shardrun.data.downloads import is_local_filesystem
from shardrun.errors import ConfigError
from shardrun.workspace.datastores import filesystem, is_url

FOLDER = "side_inputs"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class SideInput:
    """One side input of a run, resolved.

    Attributes:
        source: What the caller passed; references to it in ``arguments`` are replaced.
        name: Its name, safe as a folder name.
        dataset: Its files.
        local_path: Where workers find it.
        fetch: Whether the driver copies it into ``local_path`` (else it is already there).
    """

    source: Any
    name: str
    dataset: FileDataset
    local_path: str
    fetch: bool

    def to_record(self) -> dict[str, Any]:
        """What ``run.json`` keeps of it (for resume)."""
        return {
            "name": self.name,
            "dataset": self.dataset.to_spec(),
            "local_path": self.local_path,
            "fetch": self.fetch,
        }


def plan(items: Sequence[Any] | None, run_dir: Path) -> list[SideInput]:
    """Name each side input and decide where workers will find it (nothing is copied yet).

    Raises:
        ConfigError: An item is not a side input, a path does not exist, or two side
            inputs have the same name.
    """
    if items is None:
        return []
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ConfigError(f"side_inputs must be a list; got {items!r}", "side_inputs")
    sides = []
    for position, item in enumerate(items):
        dataset = as_file_dataset(item)
        name = _name(item, dataset, position)
        folder = run_dir / FOLDER / name
        local_path, fetch = _place(dataset, folder)
        sides.append(SideInput(item, name, dataset, local_path, fetch))
    names = [s.name for s in sides]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"side input names must be unique; got {names}. Name them with "
            "dataset.as_named_input('name')",
            "side_inputs",
        )
    return sides


def refers_to(value: Any, source: Any) -> bool:
    """Whether an argument stands for a side input (strings and numbers never do)."""
    if isinstance(value, str | int | float | os.PathLike):
        return False
    if value is source:
        return True
    return _unwrap(value) is _unwrap(source)


def replace_references(arguments: Sequence[Any], sides: Sequence[SideInput]) -> list[Any]:
    """``arguments`` with each reference to a side input replaced by its local path."""
    result = []
    for value in arguments:
        found = next((s for s in sides if refers_to(value, s.source)), None)
        result.append(value if found is None else found.local_path)
    return result


def fetch(run_dir: Path, records: Sequence[dict[str, Any]]) -> None:
    """Copy or download the side inputs that need it, once (a resumed run skips those done).

    Raises:
        ConfigError: A side input matches no file, or one of its paths does not exist.
    """
    for record in records:
        if not record.get("fetch"):
            continue
        final = run_dir / FOLDER / record["name"]
        if final.exists():
            continue
        partial = final.with_name(f".{final.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        dataset = FileDataset.from_spec(record["dataset"])
        if not dataset.download(partial, overwrite=True):
            raise ConfigError(f"side input {record['name']!r} ({dataset!r}) matched no files")
        os.replace(partial, final)


def _unwrap(value: Any) -> Any:
    return value.dataset if isinstance(value, DatasetConsumptionConfig) else value


def as_file_dataset(item: Any) -> FileDataset:
    """The files a side input stands for.

    Raises:
        ConfigError: ``item`` cannot be a side input.
    """
    target = _unwrap(item)
    if isinstance(target, FileDataset):
        return target
    if isinstance(target, AbstractDataset):
        paths = getattr(target, "paths", None)
        if paths is None or not target.window.whole:
            raise ConfigError(
                f"side input {target!r} must be files; a tabular dataset cut by take() or "
                "skip() is not (give Dataset.File.from_files(...) of the files instead)",
                "side_inputs",
            )
        return FileDataset(paths)
    if is_one_path(target):
        return FileFactory.from_files(target, validate=False)
    raise ConfigError(
        "side_inputs must be datasets, DatasetConsumptionConfigs, DataPaths or paths; got "
        f"{type(item).__name__} {item!r}",
        "side_inputs",
    )


def _name(item: Any, dataset: FileDataset, position: int) -> str:
    given = item.name if isinstance(item, DatasetConsumptionConfig) else None
    given = given or dataset.name or getattr(item, "name", None)
    text = _UNSAFE.sub("_", str(given or "")).strip("._")
    return text or f"side_input_{position}"


def _place(dataset: FileDataset, folder: Path) -> tuple[str, bool]:
    """``(local path, fetch)``: a single local file or folder stays where it is."""
    (path, *more) = dataset.paths
    if more or not dataset.window.whole or _GLOB_CHARS.intersection(path):
        return str(folder), True
    if not is_url(path):
        if not os.path.exists(path):
            raise ConfigError(f"side input path {path!r} does not exist", "side_inputs")
        return path, False
    try:
        fs, inner = filesystem(path)
        if not fs.exists(inner):
            raise ConfigError(f"side input path {path!r} does not exist", "side_inputs")
        if is_local_filesystem(fs):
            return str(inner), False
        single = bool(fs.isfile(inner))
    except ConfigError:
        raise
    except Exception as e:  # any client error: say which path and why
        raise ConfigError(f"cannot reach side input {path!r}: {type(e).__name__}: {e}") from None
    return (str(folder / inner.rstrip("/").rsplit("/", 1)[-1]) if single else str(folder)), True
