"""Azure's entry point to datasets, ``Dataset``, and the inputs of a run.

The top of the data wing: it knows every kind of dataset (importing this module defines
them all, so that :func:`~shardrun.data.datasets.dataset_from_spec` and
``Dataset.get_by_name`` find every kind) and turns what a user passes as ``inputs`` into
named datasets (:func:`named_inputs`).
"""

from __future__ import annotations

import os
from typing import Any

from shardrun.data.datapaths import is_one_path
from shardrun.data.datasets import (
    AbstractDataset,
    DatasetConsumptionConfig,
    FileDataset,
    FileFactory,
    dataset_from_spec,
)
from shardrun.data.tables import TabularDataset
from shardrun.data.tabular_factory import TabularFactory
from shardrun.errors import ConfigError
from shardrun.workspace.datastores import DataPath

__all__ = [
    "AbstractDataset",
    "AnyInput",
    "Dataset",
    "DatasetConsumptionConfig",
    "FileDataset",
    "TabularDataset",
    "dataset_from_spec",
    "named_inputs",
]


class Dataset:
    """Azure's entry point: ``Dataset.File.from_files(...)``, ``Dataset.Tabular.…``,
    ``Dataset.get_by_name(ws, name)``, ``Dataset.get_all(ws)``, ``Dataset.get_by_id``."""

    File = FileFactory
    Tabular: Any = TabularFactory
    get_by_name = staticmethod(AbstractDataset.get_by_name)
    get_all = staticmethod(AbstractDataset.get_all)
    get_by_id = staticmethod(AbstractDataset.get_by_id)


AnyInput = str | os.PathLike[str] | DataPath | AbstractDataset | DatasetConsumptionConfig


def named_inputs(inputs: Any) -> list[DatasetConsumptionConfig]:
    """Turn what a user passes as ``inputs`` into named dataset inputs.

    A string, DataPath or ``(datastore, path)`` tuple is a file, folder or glob; a list of
    them is one file dataset; datasets and consumption configs keep their names
    (``input``, ``input_1``, … otherwise).
    """
    if is_one_path(inputs) or isinstance(inputs, AbstractDataset | DatasetConsumptionConfig):
        items: list[Any] = [inputs]
    else:
        items = list(inputs)
        if items and all(is_one_path(i) for i in items):
            items = [FileFactory.from_files(items)]
    if not items:
        raise ConfigError("inputs must name at least one dataset, file, folder or glob; got []")
    named: list[DatasetConsumptionConfig] = []
    for position, item in enumerate(items):
        default = "input" if position == 0 else f"input_{position}"
        if isinstance(item, DatasetConsumptionConfig):
            named.append(item)
        elif isinstance(item, AbstractDataset):
            named.append(DatasetConsumptionConfig(item.name or default, item))
        elif is_one_path(item):
            named.append(DatasetConsumptionConfig(default, FileFactory.from_files(item)))
        else:
            raise ConfigError(
                f"inputs must be paths, globs or datasets; got {type(item).__name__} {item!r}"
            )
    names = [n.name for n in named]
    if len(set(names)) != len(names):
        raise ConfigError(f"input names must be unique; got {names}")
    return named
