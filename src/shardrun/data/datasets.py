"""What a dataset is: a named, lazy description of files (FileDataset) or tables.

A dataset never lists or reads its data when it is created; a run lists it when it plans its
mini-batches (:mod:`shardrun.engine.partition`), and so do ``to_path()``, ``download()`` and
``to_pandas_dataframe()``. ``take()`` and ``skip()`` are recorded, not applied: the
listing applies them. Datasets serialise to a small JSON ``spec`` so that a run record can
rebuild them on resume, and so that a workspace's catalogue can register them
(:mod:`shardrun.data.registration`). Each kind of dataset registers itself by subclassing
:class:`AbstractDataset` with a ``kind``; :func:`dataset_from_spec` finds it by that kind.

Paths are what Azure accepts: strings (files, folders, globs, fsspec URLs, ``azureml://``
URIs), DataPaths (``datastore.path("mnist/")``), ``(datastore, "path")`` tuples, or a list
of these.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, cast

from shardrun.data import downloads, registration
from shardrun.data.datapaths import (
    check_exists,
    normalise_paths,
    resolving,
    workspace_of,
)
from shardrun.data.listing import iter_files, sorted_unique
from shardrun.data.pathkeys import compile_format
from shardrun.data.registration import Registration
from shardrun.data.splits import plan_keys
from shardrun.data.windows import Window, count_of
from shardrun.errors import ConfigError
from shardrun.workspace.workspace import Workspace, using


class AbstractDataset:
    """What every dataset has: a kind, a name, a JSON spec, registration, take and skip.

    Subclasses set ``kind`` and implement :meth:`to_spec` and :meth:`from_spec` (recording
    :attr:`window`); defining one registers it in :attr:`kinds`, where
    :func:`dataset_from_spec` finds it again (a plug-in point: a new kind of dataset is a
    subclass, and the registry is filled by the modules that define them).

    Attributes:
        name: The registered name (or the name given at creation); None otherwise.
        window: What ``take()`` and ``skip()`` kept.
    """

    kind: ClassVar[str] = ""
    #: The files, folders, globs or URLs it reads (every built-in kind has them).
    paths: tuple[str, ...] = ()
    #: kind -> the class of that kind, for every subclass defined so far.
    kinds: ClassVar[dict[str, type[AbstractDataset]]] = {}
    name: str | None = None
    window: Window = Window()
    _registration: Registration | None = None
    #: Where its ``azureml://`` paths resolve: its datastores' workspace, or the one it
    #: was registered in (not part of the spec: a run resolves them in its own).
    _workspace: Workspace | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            AbstractDataset.kinds[cls.kind] = cls

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        """Name this dataset as a step input (the name appears in logs and reports)."""
        return DatasetConsumptionConfig(name, self)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Azure compatibility: files reach ``run()`` as local paths in every mode.

        ``path_on_compute`` is accepted and ignored: local files are read where they are,
        remote ones are downloaded into the run's folder.
        """
        return DatasetConsumptionConfig(self.name or "input", self, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Azure compatibility: the same as :meth:`as_mount`."""
        return DatasetConsumptionConfig(self.name or "input", self, "download", path_on_compute)

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

    def take(self, count: int) -> Self:
        """A new, unregistered dataset of the first ``count`` items (Azure's ``take``).

        Items are files (in path order) for a FileDataset, records for a TabularDataset.
        Nothing is listed or read now: a run, ``to_path()``, ``download()`` or
        ``to_pandas_dataframe()`` applies it (see :mod:`shardrun.engine.partition`).

        Raises:
            ConfigError: ``count`` is not an integer >= 0.
        """
        return self._with_window(self.window.then_take(count_of("take", count)))

    def skip(self, count: int) -> Self:
        """A new, unregistered dataset without the first ``count`` items (Azure's ``skip``).

        Lazy, like :meth:`take`.

        Raises:
            ConfigError: ``count`` is not an integer >= 0.
        """
        return self._with_window(self.window.then_skip(count_of("skip", count)))

    def _with_window(self, window: Window) -> Self:
        spec = {k: v for k, v in self.to_spec().items() if k not in Window.KEYS}
        spec.update(window.to_spec(), name=None)
        copy = cast(Self, type(self).from_spec(spec))
        copy._workspace = self._workspace
        return copy

    def _resolving(self) -> AbstractContextManager[Any]:
        """Inside the block, ``azureml://`` paths resolve in this dataset's workspace."""
        return nullcontext() if self._workspace is None else using(self._workspace)

    @property
    def partition_keys(self) -> list[str]:
        """The dataset's partition keys, as Azure returns them (a list; empty if none).

        The keys of ``partition_format`` (``{user}/{season}/...``); a TabularDataset also
        has the keys :meth:`partition_by` declared.
        """
        fmt: str | None = getattr(self, "partition_format", None)
        return list(compile_format(fmt).keys) if fmt else []

    def get_partition_key_values(
        self, partition_keys: Sequence[str] | None = None
    ) -> list[dict[str, str]]:
        """The distinct values of ``partition_keys`` (default: all keys), one dict each.

        Lists the files (not their contents): the values come from the paths.

        Raises:
            ConfigError: A key is not a partition key of this dataset.
        """
        keys = list(partition_keys) if partition_keys is not None else self.partition_keys
        unknown = sorted(set(keys) - set(self.partition_keys))
        if unknown or not keys:
            raise ConfigError(
                f"partition_keys {unknown or keys} are not partition keys of this dataset; "
                f"its keys: {self.partition_keys}",
                "partition_keys",
            )
        with self._resolving():
            return [dict(batch.partition_key_value) for batch in plan_keys(self, keys, "")]

    def register(
        self,
        workspace: Workspace,
        name: str,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        create_new_version: bool = False,
    ) -> Self:
        """Register this dataset's definition in the workspace's catalogue as ``name``.

        Versions count from 1. The definition that the latest version already has gives
        that version back (Azure refuses it without ``create_new_version``; a notebook
        cell may run twice here), keeping its description and tags. Another definition
        needs ``create_new_version=True``, as in Azure. See :mod:`shardrun.data.registration`.

        Args:
            workspace: Where to register it.
            name: 1 to 255 characters, without ``/``, ``\\`` or control characters.
            description: Free text.
            tags: Key/value tags (values become strings).
            create_new_version: Add a version when ``name`` exists with another definition.

        Returns:
            A new dataset object with ``name``, ``version`` and ``id`` set (as in Azure,
            this one is unchanged).

        Raises:
            ConfigError: A bad name, or ``name`` exists with another definition and
                ``create_new_version`` is false.
        """
        found = registration.register(
            self.to_spec(), workspace, name, description, tags, create_new_version
        )
        return cast(Self, _registered(found))

    @staticmethod
    def get_by_name(
        workspace: Workspace, name: str, version: int | str = "latest"
    ) -> AbstractDataset:
        """A registered dataset, by name and version (``"latest"`` by default).

        Raises:
            ConfigError: No such name (the message lists the registered ones) or version
                (it lists the versions).
        """
        return _registered(registration.get_by_name(workspace, name, version))

    @staticmethod
    def get_all(workspace: Workspace) -> dict[str, AbstractDataset]:
        """The latest version of every registered dataset, by name."""
        found = registration.get_all(workspace)
        return {name: _registered(item) for name, item in found.items()}

    @staticmethod
    def get_by_id(workspace: Workspace, id: str) -> AbstractDataset:
        """A registered or saved dataset by its :attr:`id`.

        Raises:
            ConfigError: No dataset with that id was registered or saved there.
        """
        return _registered(registration.get_by_id(workspace, id))

    def _ensure_saved(self, workspace: Workspace) -> str:
        """Save this dataset's definition in ``workspace`` (unregistered) and return its id.

        A registered or saved dataset returns its id at once. (Azure's pipelines call
        this for their inputs; shardrun's runs need no saved id.)
        """
        self._registration = registration.ensure_saved(
            self.to_spec(), workspace, self._registration
        )
        return self._registration.id

    @property
    def version(self) -> int | None:
        """The registered version, or None."""
        return self._registration.version if self._registration else None

    @property
    def id(self) -> str | None:
        """An id of the definition (a UUID), once registered or saved; else None."""
        return self._registration.id if self._registration else None

    @property
    def description(self) -> str | None:
        """The registered description, or None."""
        return self._registration.description if self._registration else None

    @property
    def tags(self) -> dict[str, str]:
        """The registered tags (empty when unregistered)."""
        return dict(self._registration.tags) if self._registration else {}


class FileDataset(AbstractDataset):
    """Files to score: ``run(mini_batch)`` receives a list of local paths.

    Create one with :meth:`Dataset.File.from_files`. ``paths`` may name files, folders
    (listed recursively) and globs, local or any fsspec URL (``abfs://``, ``s3://``,
    ``azureml://``, …). Files are in path order.
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
        extra = "".join(f", {k}={v!r}" for k, v in self.window.to_spec().items())
        if self.version is not None:
            extra += f", version={self.version}"
        return f"FileDataset(paths={list(self.paths)!r}, name={self.name!r}{extra})"

    def to_spec(self) -> dict[str, Any]:
        """A JSON-safe description that :func:`dataset_from_spec` turns back into a dataset."""
        spec: dict[str, Any] = {"kind": self.kind, "paths": list(self.paths), "name": self.name}
        if self.partition_format is not None:
            spec["partition_format"] = self.partition_format
        return {**spec, **self.window.to_spec()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> FileDataset:
        """The dataset that :meth:`to_spec` described."""
        dataset = cls(spec["paths"], spec.get("name"), spec.get("partition_format"))
        dataset.window = Window.from_spec(spec)
        return dataset

    def to_path(self) -> list[str]:
        """The files' paths relative to the dataset's root, as Azure gives them.

        The root is the folder the paths have in common: a folder path counts as itself,
        a file as its folder, a glob as the folders before its first wildcard. So
        ``from_files(datastore.path("mnist/"))`` gives ``['/0.png', '/sub/1.png', …]``
        and a dataset of ``mnist/0.png`` and ``other/x.png`` gives
        ``['/mnist/0.png', '/other/x.png']``. :meth:`download` keeps the same layout.
        This lists the files (``take``/``skip`` applied).
        """
        with self._resolving():
            return list(downloads.relative_paths(self.paths, self._files()))

    def download(
        self, target_path: str | os.PathLike[str] | None = None, overwrite: bool = False
    ) -> list[str]:
        """Copy (local) or download (remote) every file into ``target_path``.

        Files keep their layout below the dataset's root (:meth:`to_path`). Remote files
        are fetched a few at a time; each appears under its name only when complete.

        Args:
            target_path: A local folder (created if missing); None: a new temporary one.
            overwrite: Replace existing files. Without it an existing file raises, as in
                Azure.

        Returns:
            The local paths of the files, in dataset order.

        Raises:
            FileExistsError: A file exists and ``overwrite`` is false.
            ConfigError: A path of the dataset does not exist.
        """
        with self._resolving():
            return downloads.download(self.paths, self._files(), target_path, overwrite)

    def list_files(self) -> Iterator[tuple[str, int]]:
        """``(path, size)`` of the files, in path order, ``take``/``skip`` applied.

        Every file is listed and sorted first (spilling to disk), then the window is cut.
        ``azureml://`` paths resolve in the workspace in use.
        """
        return self.window.apply(sorted_unique(iter_files(self.paths)))

    def _files(self) -> Iterator[str]:
        return (path for path, _size in self.list_files())


class FileFactory:
    """``Dataset.File``: factories of file datasets."""

    @staticmethod
    def from_files(
        path: Any,
        validate: bool = True,
        partition_format: str | None = None,
    ) -> FileDataset:
        """A dataset of files, folders or globs (``data/images/*.png``, ``s3://b/x/``).

        Args:
            path: A string (path, glob or URL), a DataPath (``datastore.path("mnist/")``),
                a ``(datastore, "relative/path")`` tuple, or a list of any of these.
            validate: Check now that each path exists (a glob: that it matches a file).
                Remote paths cost one request each; nothing is listed.
            partition_format: Keys in the paths, for ``partition_keys`` (one mini-batch per
                distinct combination): ``"{store}/{brand}/*.csv"`` or with dates,
                ``"{day:yyyy/MM/dd}/*.png"``, matched against the end of each path. Hive
                folders (``store=1/``) are understood without it.

        Raises:
            ConfigError: A path is not a path, or (``validate``) does not exist.
        """
        paths = normalise_paths(path)
        if validate:
            with resolving(path):
                for p in paths:
                    check_exists(p)
        dataset = FileDataset(paths, partition_format=partition_format)
        dataset._workspace = workspace_of(path)
        return dataset


@dataclass(frozen=True)
class DatasetConsumptionConfig:
    """A dataset bound to an input name, as a step consumes it (Azure's class of that name).

    ``dataset`` may also be a PipelineParameter whose default is a dataset.
    ``path_on_compute`` is accepted for Azure compatibility and ignored.
    """

    name: str
    dataset: Any
    mode: str = "mount"
    path_on_compute: str | None = field(default=None, compare=False)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Files reach ``run()`` as local paths (remote files are downloaded)."""
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Same as :meth:`as_mount` here: remote files are downloaded before ``run()``."""
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)


def dataset_from_spec(spec: dict[str, Any]) -> AbstractDataset:
    """Rebuild a dataset from its :meth:`~AbstractDataset.to_spec` output.

    Raises:
        ConfigError: No class of the spec's kind is defined (the message lists the kinds).
    """
    cls = AbstractDataset.kinds.get(str(spec.get("kind")))
    if cls is None:
        raise ConfigError(
            f"unknown dataset kind {spec.get('kind')!r}; known: {sorted(AbstractDataset.kinds)} "
            "(a kind is known once its module is imported; shardrun.data.factory imports all)"
        )
    return cls.from_spec(spec)


def _registered(found: registration.Found) -> AbstractDataset:
    """The dataset a catalogue entry describes, knowing where it came from."""
    spec, where = found
    dataset = dataset_from_spec(spec)
    dataset._workspace = where.workspace
    dataset._registration = where
    return dataset
