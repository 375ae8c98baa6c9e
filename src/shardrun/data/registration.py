"""Registered datasets: names, versions and ids in the workspace's catalogue.

``dataset.register(ws, name)`` stores the dataset's *definition* (its spec without its name)
as version 1, 2, … of ``name`` in the catalogue's ``datasets`` table;
``Dataset.get_by_name(ws, name, version)`` rebuilds it. A dataset's ``id`` is derived from
its definition (a UUID made from its SHA-256), so that the same definition has the same id
whether it is registered, saved, or registered under several names.

How this compares with Azure's registry:

* **Same definition, same version.** Registering the definition that the latest version
  already has returns that version, with or without ``create_new_version``. Azure answers
  an existing name without ``create_new_version=True`` with an error even when nothing
  changed; shardrun lets a notebook cell run twice.
* **Another definition** under an existing name needs ``create_new_version=True``, as in
  Azure; otherwise a ConfigError says so.
* **Saved, unregistered datasets** (``_ensure_saved``, which Azure's pipelines call for
  every input) are kept in the catalogue's ``meta`` table under ``saved_dataset:<id>``, so
  that ``Dataset.get_by_id`` finds them again; they are not listed by ``get_all``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from shardrun.errors import ConfigError
from shardrun.workspace.catalogue import Entry
from shardrun.workspace.workspace import Workspace

SAVED_PREFIX = "saved_dataset:"
_NAME = re.compile(r"^[^\s/\\\x00-\x1f\x7f](?:[^/\\\x00-\x1f\x7f]{0,253}[^\s/\\\x00-\x1f\x7f])?$")


@dataclass(frozen=True)
class Registration:
    """Where a dataset object came from: its workspace, registered name and version, id.

    ``name`` and ``version`` are None for a dataset that is only saved.
    """

    workspace: Workspace
    name: str | None
    version: int | None
    id: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


#: What the catalogue gives back: a dataset spec (its registered name included) and where
#: it came from. The dataset classes turn the spec into a dataset
#: (:func:`shardrun.data.datasets.dataset_from_spec`).
Found = tuple[dict[str, Any], Registration]


def definition(spec: dict[str, Any]) -> dict[str, Any]:
    """What is registered: a dataset's spec without its name."""
    return {k: v for k, v in spec.items() if k != "name"}


def definition_id(spec: dict[str, Any]) -> str:
    """The id of a definition: a UUID made from the SHA-256 of its canonical JSON."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return str(uuid.UUID(digest[:32]))


def register(
    spec: dict[str, Any],
    workspace: Workspace,
    name: str,
    description: str | None,
    tags: dict[str, Any] | None,
    create_new_version: bool,
) -> Found:
    """Register the definition in ``spec`` as ``name`` (see ``AbstractDataset.register``)."""
    _check_workspace(workspace)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            "dataset name must be 1 to 255 characters without '/', '\\' or control "
            f"characters, not starting or ending with a space; got {name!r}",
            "name",
        )
    if tags is not None and not isinstance(tags, dict):
        raise ConfigError(f"tags must be a dict of key/value pairs; got {tags!r}", "tags")
    version = workspace.catalogue.register_dataset(
        name, definition(spec), description, tags, bool(create_new_version)
    )
    return _found(workspace, workspace.catalogue.get_dataset(name, version))


def get_by_name(workspace: Workspace, name: str, version: int | str = "latest") -> Found:
    """A registered dataset's spec (see ``AbstractDataset.get_by_name``)."""
    _check_workspace(workspace)
    try:
        entry = workspace.catalogue.get_dataset(name, version)
    except ConfigError:
        names = sorted({e.name for e in workspace.catalogue.list_datasets()})
        if name in names:
            raise  # a bad version: the catalogue's message lists the versions
        raise ConfigError(
            f"no dataset named {name!r} is registered in workspace {workspace.path}; "
            f"registered: {names or 'none'}. Register one with dataset.register(ws, name)"
        ) from None
    return _found(workspace, entry)


def get_all(workspace: Workspace) -> dict[str, Found]:
    """The latest version of every registered dataset, by name."""
    _check_workspace(workspace)
    latest: dict[str, Entry] = {}
    for entry in workspace.catalogue.list_datasets():
        latest[entry.name] = entry  # listed by name, then version
    return {name: _found(workspace, entry) for name, entry in latest.items()}


def get_by_id(workspace: Workspace, id: str) -> Found:
    """A registered or saved dataset's spec by id; a registered one wins (its first name)."""
    _check_workspace(workspace)
    for entry in workspace.catalogue.list_datasets():
        if definition_id(entry.body) == id:
            return _found(workspace, entry)
    saved = workspace.catalogue.get_meta(SAVED_PREFIX + str(id))
    if saved is None:
        raise ConfigError(
            f"no dataset with id {id!r} was registered or saved in workspace {workspace.path}"
        )
    return json.loads(saved), Registration(workspace, None, None, str(id))


def ensure_saved(
    spec: dict[str, Any], workspace: Workspace, current: Registration | None
) -> Registration:
    """Save the definition in ``spec`` (unregistered); what the dataset now records.

    ``current`` is the dataset's registration: when it is this definition in this
    workspace, nothing is written and it is returned as it is.
    """
    _check_workspace(workspace)
    body = definition(spec)
    id = definition_id(body)
    if current is not None and current.workspace == workspace and current.id == id:
        return current
    workspace.catalogue.set_meta(SAVED_PREFIX + id, json.dumps(body, sort_keys=True))
    return Registration(workspace, None, None, id)


def _found(workspace: Workspace, entry: Entry) -> Found:
    registration = Registration(
        workspace,
        entry.name,
        entry.version,
        definition_id(entry.body),
        entry.description,
        dict(entry.tags),
    )
    return {**entry.body, "name": entry.name}, registration


def _check_workspace(workspace: Any) -> None:
    if not isinstance(workspace, Workspace):
        raise ConfigError(
            f"workspace must be a Workspace (Workspace.create(path)); got "
            f"{type(workspace).__name__} {workspace!r}"
        )
