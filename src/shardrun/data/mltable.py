"""What a v2 ``type: mltable`` input describes: which tabular factory to call, and how.

:func:`describe` reads the description and returns a :class:`Recipe`;
``Dataset.Tabular.from_mltable`` (:mod:`shardrun.data.tabular_factory`) builds it.

Two spellings are understood:

* a folder (or the file itself) with an ``MLTable`` file, Azure ML's YAML description of
  tabular data: ``paths`` (``file``, ``folder`` or ``pattern``, relative to the folder)
  and ``transformations``: one of ``read_delimited``, ``read_parquet``,
  ``read_json_lines``, plus optionally ``extract_columns_from_partition_format``,
  ``convert_column_types``, ``take``, ``skip``, ``keep_columns``, ``drop_columns`` and
  ``filter`` with a simple expression (``filter: 'col("Age") > 30 and col("x") != "a"'``:
  ``col("name")``, literals, comparisons, ``and``/``or``/``not``; see
  :mod:`shardrun.data.expressions`), applied by each worker to the records it reads, so
  a filtered-out record is not an item of its mini-batch. ``take``/``skip`` after a
  ``filter`` are refused. Other transformations raise a
  :class:`~shardrun.errors.ConfigError` naming them rather than being ignored. Without a
  read step (what Azure's ``dump_mltable.py`` writes: ``paths`` of ``file:``/``folder:``
  entries only) the input is files: a FileDataset.
* data files, folders or globs without an ``MLTable`` file: the format comes from the file
  extension (``.csv``, ``.tsv``, ``.psv``, ``.txt``, ``.parquet``, ``.pq``, ``.jsonl``,
  ``.ndjson``, ``.json``), of the path or of the first file of a folder.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from shardrun.data.datapaths import normalise_paths
from shardrun.data.expressions import parse
from shardrun.data.listing import tabular_files
from shardrun.errors import ConfigError
from shardrun.workspace.datastores import filesystem, is_url

FILE_NAME = "MLTable"
_EXTENSIONS: dict[str, tuple[str, str]] = {
    ".csv": ("csv", ","),
    ".txt": ("csv", ","),
    ".tsv": ("csv", "\t"),
    ".psv": ("csv", "|"),
    ".parquet": ("parquet", ""),
    ".pq": ("parquet", ""),
    ".jsonl": ("jsonl", ""),
    ".ndjson": ("jsonl", ""),
    ".json": ("jsonl", ""),
}
_READERS = {
    "read_delimited": {
        "delimiter",
        "header",
        "encoding",
        "empty_as_string",
        "include_path_column",
        "infer_column_types",
        "support_multi_line",
    },
    "read_parquet": {"include_path_column"},
    "read_json_lines": {"encoding", "include_path_column", "invalid_lines"},
}


@dataclass(frozen=True)
class Recipe:
    """A dataset to build: ``Dataset.Tabular.from_<reader>(paths, **options)`` (or, for
    ``reader="files"``, ``Dataset.File.from_files(paths)``), then each of ``steps``
    (``take``, ``skip``, ``keep_columns``, ``drop_columns``, ``filter``: the
    :class:`~shardrun.data.tables.TabularDataset` methods of those names) applied in order."""

    reader: Literal["delimited_files", "parquet_files", "json_lines_files", "files"]
    paths: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    steps: tuple[tuple[str, Any], ...] = ()


def describe(path: Any) -> Recipe:
    """The tabular dataset an ``mltable`` input names (see the module docstring).

    Raises:
        ConfigError: The MLTable file is invalid or uses what shardrun does not support,
            or the format cannot be told from the file names.
    """
    paths = normalise_paths(path)
    if len(paths) == 1:
        description = _mltable_file(paths[0])
        if description is not None:
            return _from_file(description)
    return _from_extensions(paths)


def _mltable_file(path: str) -> str | None:
    if posixpath.basename(path.rstrip("/")) == FILE_NAME:
        return path
    candidate = f"{path.rstrip('/')}/{FILE_NAME}"
    if is_url(path):
        fs, inner = filesystem(candidate)
        return candidate if fs.isfile(inner) else None
    return candidate if os.path.isfile(candidate) else None


def _read_text(path: str) -> str:
    if is_url(path):
        fs, inner = filesystem(path)
        with fs.open(inner, "rb") as handle:
            return bytes(handle.read()).decode("utf-8")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _from_file(path: str) -> Recipe:
    try:
        spec = yaml.safe_load(_read_text(path))
    except (OSError, UnicodeError, yaml.YAMLError) as e:
        raise ConfigError(f"MLTable file {path} cannot be read: {e}") from e
    if not isinstance(spec, Mapping):
        raise ConfigError(f"MLTable file {path} must be a mapping with paths and transformations")
    base = path.rsplit("/", 1)[0]
    data = [_path_of(entry, base, path) for entry in spec.get("paths") or []]
    if not data:
        raise ConfigError(f"MLTable file {path} lists no paths")
    reader: str | None = None
    options: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    windows: list[tuple[str, Any]] = []
    for step in spec.get("transformations") or []:
        name, settings = _step(step, path)
        if name in _READERS:
            if not isinstance(settings, Mapping):
                raise ConfigError(f"MLTable file {path}: {name} takes a mapping of options")
            if reader is not None:
                raise ConfigError(f"MLTable file {path} has two read transformations")
            unknown = set(settings) - _READERS[name]
            if unknown:
                raise ConfigError(
                    f"MLTable file {path}: {name} options {sorted(unknown)} are not supported; "
                    f"supported: {sorted(_READERS[name])}"
                )
            reader, options = name, dict(settings)
        elif name == "extract_columns_from_partition_format":
            fmt = settings.get("partition_format") if isinstance(settings, Mapping) else None
            if not isinstance(fmt, str):
                raise ConfigError(f"MLTable file {path}: {name} needs a partition_format")
            extra["partition_format"] = fmt
        elif name == "convert_column_types":
            extra["set_column_types"] = _column_types(settings, path)
        elif name in ("take", "skip", "keep_columns", "drop_columns"):
            windows.append((name, settings))
        elif name == "filter":
            parse(settings)  # a one-line ConfigError now, before anything is read
            windows.append((name, settings))
        else:
            raise ConfigError(
                f"MLTable file {path}: transformation {name!r} is not supported; supported: "
                f"{sorted(_READERS)}, extract_columns_from_partition_format, "
                "convert_column_types, take, skip, keep_columns, drop_columns, filter"
            )
    if reader is None:
        if extra or windows:
            raise ConfigError(
                f"MLTable file {path} transforms its data but has no read_delimited, "
                "read_parquet or read_json_lines step"
            )
        return Recipe("files", data)
    recipe = _build(reader, data, options, extra, path)
    return Recipe(recipe.reader, recipe.paths, recipe.options, tuple(windows))


def _build(
    reader: str, data: list[str], options: dict[str, Any], extra: dict[str, Any], path: str
) -> Recipe:
    include = bool(options.get("include_path_column", False))
    if reader == "read_parquet":
        return Recipe("parquet_files", data, {"include_path": include, **extra})
    if reader == "read_json_lines":
        if options.get("invalid_lines", "error") != "error":
            raise ConfigError(
                f"MLTable file {path}: invalid_lines must be 'error' (a bad line fails its "
                f"mini-batch); got {options['invalid_lines']!r}"
            )
        encoding = options.get("encoding", "utf8")
        return Recipe(
            "json_lines_files", data, {"include_path": include, "encoding": encoding, **extra}
        )
    delimited = {
        "include_path": include,
        "separator": options.get("delimiter", ","),
        "header": options.get("header", "all_files_same_headers"),
        "encoding": options.get("encoding", "utf8"),
        "empty_as_string": bool(options.get("empty_as_string", False)),
        "infer_column_types": bool(options.get("infer_column_types", True)),
        "support_multi_line": bool(options.get("support_multi_line", False)),
    }
    return Recipe("delimited_files", data, {**delimited, **extra})


def _step(step: Any, path: str) -> tuple[str, Any]:
    if isinstance(step, str):
        return step, {}
    if isinstance(step, Mapping) and len(step) == 1:
        name, settings = next(iter(step.items()))
        return str(name), settings if settings is not None else {}
    raise ConfigError(f"MLTable file {path}: a transformation must be one name: {step!r}")


def _path_of(entry: Any, base: str, path: str) -> str:
    if not isinstance(entry, Mapping) or len(entry) != 1:
        raise ConfigError(f"MLTable file {path}: a path must be file:, folder: or pattern:")
    kind, value = next(iter(entry.items()))
    if kind not in ("file", "folder", "pattern") or not isinstance(value, str):
        raise ConfigError(f"MLTable file {path}: unknown path entry {entry!r}")
    value = value.removeprefix("./")
    if is_url(value) or value.startswith("/"):
        return value
    return f"{base}/{value}"


def _column_types(settings: Any, path: str) -> dict[str, str]:
    items = settings if isinstance(settings, list) else [settings]
    types: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise ConfigError(f"MLTable file {path}: convert_column_types takes mappings")
        columns, kind = item.get("columns"), item.get("column_type")
        if not isinstance(kind, str):
            raise ConfigError(f"MLTable file {path}: convert_column_types needs a column_type")
        for column in [columns] if isinstance(columns, str) else list(columns or []):
            types[str(column)] = kind
    return types


def _from_extensions(paths: tuple[str, ...]) -> Recipe:
    found: set[tuple[str, str]] = set()
    for path in paths:
        suffix = posixpath.splitext(path)[1].lower()
        if suffix not in _EXTENSIONS:
            first = next(tabular_files([path]), None)
            suffix = posixpath.splitext(first[0])[1].lower() if first else ""
        if suffix not in _EXTENSIONS:
            raise ConfigError(
                f"mltable input {path!r} has no MLTable file and its format cannot be told "
                f"from a file extension (known: {', '.join(_EXTENSIONS)})"
            )
        found.add(_EXTENSIONS[suffix])
    if len(found) > 1:
        raise ConfigError(f"mltable input paths {list(paths)} mix formats: {sorted(found)}")
    ((fmt, separator),) = found
    if fmt == "parquet":
        return Recipe("parquet_files", list(paths))
    if fmt == "jsonl":
        return Recipe("json_lines_files", list(paths))
    return Recipe("delimited_files", list(paths), {"separator": separator})
