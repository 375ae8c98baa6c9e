"""What a dataset is: a named, lazy description of files (FileDataset) or tables.

A dataset never lists or reads its data when it is created; :mod:`shardrun.partition` does
that when a run plans its mini-batches. Datasets serialise to a small JSON ``spec`` so that
a run record can rebuild them on resume.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from shardrun.datastores import is_url
from shardrun.errors import ConfigError
from shardrun.pathkeys import compile_format


def _normalise_paths(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> tuple[str, ...]:
    items = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not items:
        raise ConfigError("path must name at least one file, folder or glob; got an empty list")
    result = []
    for item in items:
        text = os.fspath(item)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"path must be a file, folder, glob or URL; got {item!r}")
        result.append(text if is_url(text) else os.path.abspath(os.path.expanduser(text)))
    return tuple(result)


class AbstractDataset:
    """What every dataset has: a kind, an optional name, a JSON spec, named inputs.

    Subclasses set ``kind`` and implement :meth:`to_spec` and :meth:`from_spec`; they are
    found again by kind through :data:`KINDS` (imported lazily).
    """

    kind: ClassVar[str] = ""
    name: str | None = None

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        """Name this dataset as a step input (the name appears in logs and reports)."""
        return DatasetConsumptionConfig(name, self)

    def as_mount(self) -> DatasetConsumptionConfig:
        """Azure compatibility: the data reaches ``run()`` the same way in every mode."""
        return DatasetConsumptionConfig(self.name or "input", self, "mount")

    def as_download(self) -> DatasetConsumptionConfig:
        """Azure compatibility: the data reaches ``run()`` the same way in every mode."""
        return DatasetConsumptionConfig(self.name or "input", self, "download")

    def read_options(self) -> dict[str, Any]:
        """What a worker needs, beyond a mini-batch descriptor, to read this dataset."""
        return {}

    def to_spec(self) -> dict[str, Any]:
        """A JSON-safe description that :func:`dataset_from_spec` turns back into a dataset."""
        raise NotImplementedError

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> AbstractDataset:
        """The dataset that :meth:`to_spec` described."""
        raise NotImplementedError


class FileDataset(AbstractDataset):
    """Files to score: ``run(mini_batch)`` receives a list of local paths.

    Create one with :meth:`Dataset.File.from_files`. ``paths`` may name files, folders
    (listed recursively) and globs, local or any fsspec URL (``abfs://``, ``s3://``, …).
    """

    kind = "file"

    def __init__(
        self,
        paths: Sequence[str],
        name: str | None = None,
        partition_format: str | None = None,
    ) -> None:
        if partition_format is not None:
            compile_format(partition_format)
        self.paths = tuple(paths)
        self.name = name
        self.partition_format = partition_format

    def __repr__(self) -> str:
        return f"FileDataset(paths={list(self.paths)!r}, name={self.name!r})"

    def to_spec(self) -> dict[str, Any]:
        """A JSON-safe description that :func:`dataset_from_spec` turns back into a dataset."""
        spec = {"kind": self.kind, "paths": list(self.paths), "name": self.name}
        if self.partition_format is not None:
            spec["partition_format"] = self.partition_format
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> FileDataset:
        """The dataset that :meth:`to_spec` described."""
        return cls(spec["paths"], spec.get("name"), spec.get("partition_format"))


#: dataset kind -> "module:Class"
KINDS: dict[str, str] = {
    "file": "shardrun.datasets:FileDataset",
    "tabular": "shardrun.tables:TabularDataset",
}


class _FileFactory:
    """``Dataset.File``: factories of file datasets."""

    @staticmethod
    def from_files(
        path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        validate: bool = True,
        partition_format: str | None = None,
    ) -> FileDataset:
        """A dataset of files, folders or globs (``data/images/*.png``, ``s3://b/x/``).

        Args:
            path: One path or a list of them.
            validate: Check now that local paths exist (remote paths are checked when the
                run lists them).
            partition_format: Keys in the paths, for ``partition_keys`` (one mini-batch per
                distinct combination): ``"{store}/{brand}/*.csv"`` or with dates,
                ``"{day:yyyy/MM/dd}/*.png"``, matched against the end of each path. Hive
                folders (``store=1/``) are understood without it.
        """
        paths = _normalise_paths(path)
        if validate:
            for p in paths:
                if not is_url(p) and not any(c in p for c in "*?[") and not os.path.exists(p):
                    raise ConfigError(f"path {p!r} does not exist; give a file, a folder or a glob")
        return FileDataset(paths, partition_format=partition_format)


class _TabularFactory:
    """``Dataset.Tabular``: factories of tabular datasets (see :mod:`shardrun.tables`)."""

    def __getattr__(self, name: str) -> Any:
        from shardrun import tables

        return getattr(tables.TabularFactory, name)


class Dataset:
    """Azure's entry point: ``Dataset.File.from_files(...)``, ``Dataset.Tabular.…``."""

    File = _FileFactory
    Tabular: Any = _TabularFactory()


@dataclass(frozen=True)
class DatasetConsumptionConfig:
    """A dataset bound to an input name, as a step consumes it (Azure's class of that name)."""

    name: str
    dataset: AbstractDataset
    mode: str = "mount"

    def as_mount(self) -> DatasetConsumptionConfig:
        """Files reach ``run()`` as local paths (remote files are downloaded)."""
        return DatasetConsumptionConfig(self.name, self.dataset, "mount")

    def as_download(self) -> DatasetConsumptionConfig:
        """Same as :meth:`as_mount` here: remote files are downloaded before ``run()``."""
        return DatasetConsumptionConfig(self.name, self.dataset, "download")


AnyInput = str | os.PathLike[str] | AbstractDataset | DatasetConsumptionConfig


def named_inputs(inputs: AnyInput | Sequence[AnyInput]) -> list[DatasetConsumptionConfig]:
    """Turn what a user passes as ``inputs`` into named dataset inputs.

    A string is a file, folder or glob; a list of strings is one file dataset; datasets and
    consumption configs keep their names (``input``, ``input_1``, … otherwise).
    """
    if isinstance(inputs, str | os.PathLike | AbstractDataset | DatasetConsumptionConfig):
        items: list[Any] = [inputs]
    else:
        items = list(inputs)
        if items and all(isinstance(i, str | os.PathLike) for i in items):
            items = [_FileFactory.from_files(items)]
    if not items:
        raise ConfigError("inputs must name at least one dataset, file, folder or glob; got []")
    named: list[DatasetConsumptionConfig] = []
    for position, item in enumerate(items):
        default = "input" if position == 0 else f"input_{position}"
        if isinstance(item, DatasetConsumptionConfig):
            named.append(item)
        elif isinstance(item, AbstractDataset):
            named.append(DatasetConsumptionConfig(item.name or default, item))
        elif isinstance(item, str | os.PathLike):
            named.append(DatasetConsumptionConfig(default, _FileFactory.from_files(item)))
        else:
            raise ConfigError(
                f"inputs must be paths, globs or datasets; got {type(item).__name__} {item!r}"
            )
    names = [n.name for n in named]
    if len(set(names)) != len(names):
        raise ConfigError(f"input names must be unique; got {names}")
    return named


def dataset_from_spec(spec: dict[str, Any]) -> AbstractDataset:
    """Rebuild a dataset from its :meth:`~AbstractDataset.to_spec` output."""
    target = KINDS.get(str(spec.get("kind")))
    if target is None:
        raise ConfigError(f"unknown dataset kind {spec.get('kind')!r}; known: {sorted(KINDS)}")
    module, _, name = target.partition(":")
    cls: type[AbstractDataset] = getattr(importlib.import_module(module), name)
    return cls.from_spec(spec)
