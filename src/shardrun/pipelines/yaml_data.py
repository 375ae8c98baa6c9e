"""Inputs, outputs and environments of v2 pipeline jobs, resolved (see :mod:`.yaml_steps`).

Inputs are literals or data: a local path (relative to the job file), an
``azureml://datastores/<name>/paths/<path>`` URI, a data asset ``azureml:<name>:<version>``
or ``azureml:<name>@latest``, ``${{parent.inputs.<name>}}``, or another job's output
``${{parent.jobs.<job>.outputs.<name>}}``. Outputs without a ``path`` are PipelineData (Azure's
default location, ``azureml/<run>/<name>`` on the default datastore); with one,
``${{name}}`` and ``${{default_datastore}}`` are replaced and an ``azureml://`` path is
resolved to the datastore's folder. Environments (``conda_file``, ``image``,
``azureml:<env>@latest``) are checked as the Python API's ``Environment`` is.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fsspec.implementations.local import LocalFileSystem

from shardrun.data.factory import Dataset
from shardrun.errors import ConfigError
from shardrun.pipelines import bindings
from shardrun.pipelines.pipeline import PipelineData
from shardrun.workspace.datastores import Datastore
from shardrun.workspace.environment import Environment
from shardrun.workspace.workspace import Workspace

__all__ = ["DataResolver", "Value", "mapping", "read_yaml"]

log = logging.getLogger(__name__)

_DATA_TYPES = {"uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model"}


@dataclass(frozen=True)
class Value:
    """A resolved input or output: ``kind`` is ``literal`` or a data type."""

    obj: Any
    kind: str


class DataResolver:
    """Resolves the inputs, outputs and environments of a pipeline's jobs.

    Args:
        workspace: Where datastores and data assets are found.
        base: The job file's folder.
        name: The pipeline job's name (``${{name}}``).
        parent_inputs: The pipeline's ``inputs``.
        parent_outputs: The pipeline's ``outputs``.
        strict: Environments: another installed version is an error.
    """

    def __init__(
        self,
        workspace: Workspace,
        base: Path,
        name: str,
        parent_inputs: dict[str, Any],
        parent_outputs: dict[str, Any],
        strict: bool,
    ) -> None:
        self.workspace = workspace
        self.base = base
        self.name = name
        self.parent_inputs = parent_inputs
        self.parent_outputs = parent_outputs
        self.strict = strict
        self.produced: dict[tuple[str, str], Value] = {}
        self.known_outputs: dict[str, str] = {}

    def _input(self, job: str, name: str, value: Any) -> Value:
        where = f"jobs.{job}.inputs.{name}"
        if isinstance(value, dict):
            kind = str(value.get("type") or "uri_folder")
            if kind not in _DATA_TYPES:
                return Value(
                    self._literal(where, value.get("default", value.get("value"))), "literal"
                )
            return self._data(where, value.get("path"), kind)
        ref = bindings.whole(value)
        if ref is not None:
            return self._bound(where, ref, None)
        return Value(self._literal(where, value), "literal")

    def _literal(self, where: str, value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where} must be a value or a data input mapping; got {value!r}")
        return bindings.substitute(str(value), lambda ref: self._parent_literal(where, ref))

    def _parent_literal(self, where: str, ref: bindings.Reference) -> str:
        if ref.scope == "runtime":
            return self._runtime(ref)
        if ref.scope == "parent" and ref.kind == "inputs" and ref.name in self.parent_inputs:
            value = self.parent_inputs[ref.name]
            if not isinstance(value, dict):
                return str(value)
        raise ConfigError(f"{where}: {ref} cannot be used inside a value")

    def _bound(self, where: str, ref: bindings.Reference, kind: str | None) -> Value:
        if ref.scope == "sibling":
            found = self.produced.get((ref.job, ref.name))
            if found is None:
                raise ConfigError(f"{where}: {ref} names an output jobs.{ref.job} does not declare")
            return Value(found.obj, kind or found.kind)
        if ref.scope == "parent" and ref.kind == "inputs":
            if ref.name not in self.parent_inputs:
                raise ConfigError(
                    f"{where}: {ref} is not declared; inputs: {sorted(self.parent_inputs)}"
                )
            return self._input("<pipeline>", ref.name, self.parent_inputs[ref.name])
        raise ConfigError(f"{where}: {ref} cannot stand for an input here")

    def _data(self, where: str, path: Any, kind: str) -> Value:
        if isinstance(path, list) and path and all(isinstance(p, str) for p in path):
            return Value([self._data(where, p, kind).obj for p in path], kind)
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(f"{where}.path must be a path or an expression; got {path!r}")
        ref = bindings.whole(path)
        if ref is not None:
            return self._bound(where, ref, kind)
        text = self._paths(where, path)
        found = bindings.asset(text)
        if found is not None:
            return Value(Dataset.get_by_name(self.workspace, *found), kind)
        if text.startswith("azureml://") or "://" in text:
            return Value(self._datastore_folder(where, text, False) or text, kind)
        local = os.path.abspath(self.base / os.path.expanduser(text))
        if not os.path.exists(local):
            raise ConfigError(f"{where}.path {path!r} does not exist (looked for {local})")
        return Value(local, kind)

    def _output(self, job: str, name: str, value: Any) -> Value:
        where = f"jobs.{job}.outputs.{name}"
        ref = bindings.whole(value if isinstance(value, str) else (value or {}).get("path"))
        if ref is not None:
            if (
                ref.scope != "parent"
                or ref.kind != "outputs"
                or ref.name not in self.parent_outputs
            ):
                raise ConfigError(f"{where}: {ref} must name a declared pipeline output")
            value = self.parent_outputs[ref.name] or {}
        if not isinstance(value, dict):
            raise ConfigError(
                f"{where} must be a mapping such as {{type: uri_folder}}; got {value!r}"
            )
        kind = str(value.get("type") or "uri_folder")
        path = value.get("path")
        if path is None:
            data_name = re.sub(r"\W", "_", f"{job}_{name}")
            found = Value(PipelineData(data_name, data_type=kind), kind)
        else:
            text = self._paths(where, str(path))
            if text.startswith("azureml:") and not text.startswith("azureml://"):
                raise ConfigError(
                    f"{where}.path {text!r} is not a path shardrun can resolve; write "
                    "azureml://datastores/<name>/paths/<path> or a local path"
                )
            local = self._datastore_folder(where, text, True) or os.path.abspath(self.base / text)
            self.known_outputs[f"{job}.{name}"] = local
            found = Value(local, kind)
        self.produced[(job, name)] = found
        return found

    def _paths(self, where: str, text: str) -> str:
        """``text`` with ``${{name}}`` and ``${{default_datastore}}`` replaced."""

        def value(ref: bindings.Reference) -> str:
            if ref.scope == "runtime":
                return self._runtime(ref)
            raise ConfigError(f"{where}: {ref} cannot be used inside a path")

        return bindings.substitute(text, value)

    def _runtime(self, ref: bindings.Reference) -> str:
        if ref.kind == "name":
            return self.name
        return self.workspace.get_default_datastore().name

    def _datastore_folder(self, where: str, text: str, output: bool) -> str | None:
        """The local folder of an ``azureml://`` path on a local-folder datastore."""
        found = bindings.datastore_path(text)
        if found is None:
            return None
        try:
            store = Datastore.get(self.workspace, found[0])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {text!r}: {exc}") from None
        fs, root = store.filesystem()
        if isinstance(fs, LocalFileSystem):
            return os.path.join(root, *[p for p in found[1].split("/") if p])
        if output:
            raise ConfigError(
                f"{where}: {text!r} is on remote datastore {found[0]!r}; a step writes to a "
                "local-folder datastore, or leave out the path (Azure's default location)"
            )
        return None

    def _environment(self, job: str, spec: Any, key: str) -> Environment | None:
        """Check ``environment`` as the Python API's Environment is checked (item 5's rules)."""
        where = f"jobs.{job}.{key}"
        if spec is None:
            return None
        if isinstance(spec, str):
            log.info(
                "%s %r: registered environments are not available here; workers use this Python",
                where,
                spec,
            )
            return None
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} must be a mapping or azureml:<name>@latest; got {spec!r}")
        name = str(spec.get("name") or f"{job}-environment")
        conda_file = spec.get("conda_file")
        if conda_file is not None:
            path = self.base / str(conda_file)
            if not path.is_file():
                raise ConfigError(
                    f"{where}.conda_file {str(conda_file)!r} not found (looked for {path})"
                )
            env = Environment.from_conda_specification(name, str(path))
        else:
            env = Environment(name)
        if spec.get("image"):
            env.docker.base_image = str(spec["image"])
        env.strict = self.strict
        env.check()
        return env


def read_yaml(path: Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping.

    Raises:
        ConfigError: It is missing, unreadable, not YAML, or not a mapping.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{what} {str(path)!r} cannot be read: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {str(path)!r} must be a mapping of keys; got {data!r}")
    return data


def mapping(spec: dict[str, Any], key: str, job: str) -> dict[str, Any]:
    value = spec.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"jobs.{job}.{key} must be a mapping; got {value!r}")
    return value
