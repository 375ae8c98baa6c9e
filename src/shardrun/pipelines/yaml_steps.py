"""One job of a v2 pipeline job file as a shardrun step (see :mod:`.yaml_job`).

* ``type: parallel`` becomes a :class:`ParallelRunStep`; its settings are read by the same
  schema as a single parallel job file (:mod:`shardrun.config.jobschema`).
* ``type: command`` (inline, or ``component: ./x.yml``) becomes a :class:`PythonScriptStep`;
  its ``command`` must be ``python <script>.py [arguments]``.

Inputs are literals or data: a local path (relative to the job file), an
``azureml://datastores/<name>/paths/<path>`` URI, a data asset ``azureml:<name>:<version>``
or ``azureml:<name>@latest``, ``${{parent.inputs.<name>}}``, or another job's output
``${{parent.jobs.<job>.outputs.<name>}}``. Outputs without a ``path`` are PipelineData (Azure's
default location); with one, ``${{name}}`` and ``${{default_datastore}}`` are replaced and
an ``azureml://`` path is resolved to the datastore's folder.

Keys Azure's schema allows that mean nothing here (``identity``, ``services``,
``queue_settings``, ``compute``, ``resources`` of a command, ...) are accepted with one INFO line;
``is_deterministic`` is v1's ``allow_reuse``.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fsspec.implementations.local import LocalFileSystem

from shardrun.config.jobschema import Job, Settings, check_model
from shardrun.config.step_rules import runtime_settings, validate_step_name
from shardrun.data.datasets import AbstractDataset, Dataset
from shardrun.errors import ConfigError
from shardrun.pipelines import bindings
from shardrun.pipelines.pipeline import (
    ParallelRunStep,
    PipelineData,
    PipelineStep,
    PythonScriptStep,
)
from shardrun.workspace.datastores import Datastore
from shardrun.workspace.environment import Environment
from shardrun.workspace.workspace import Workspace

__all__ = ["StepBuilder", "read_yaml"]

log = logging.getLogger(__name__)

_COMMON = {"type", "component", "inputs", "outputs", "name", "display_name", "description"}
_COMMON |= {"tags", "version", "properties", "$schema", "experiment_name", "is_deterministic"}
_UNUSED = {"compute", "identity", "services", "queue_settings", "resources", "distribution"}
_UNUSED |= {"limits", "code_configuration"}
_COMMAND = {"command", "code", "environment", "environment_variables"}
_DATA_TYPES = {"uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model"}


@dataclass(frozen=True)
class _Value:
    """A resolved input or output: ``kind`` is ``literal`` or a data type."""

    obj: Any
    kind: str

    @property
    def is_data(self) -> bool:
        return self.kind != "literal"


class StepBuilder:
    """Builds the steps of one pipeline job file, in dependency order.

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
        self.produced: dict[tuple[str, str], _Value] = {}
        self.known_outputs: dict[str, str] = {}

    def build(self, job: str, spec: dict[str, Any]) -> PipelineStep:
        """The step for ``jobs.<job>``."""
        spec, code_base = self._component(job, spec)
        kind = spec.get("type")
        if kind not in ("parallel", "command"):
            raise ConfigError(f"jobs.{job}.type must be 'parallel' or 'command'; got {kind!r}")
        for key in sorted(set(spec) & _UNUSED):
            log.info("jobs.%s.%s has no local meaning and is ignored", job, key)
        inputs = {n: self._input(job, n, v) for n, v in _mapping(spec, "inputs", job).items()}
        outputs = {n: self._output(job, n, v) for n, v in _mapping(spec, "outputs", job).items()}
        if kind == "command":
            return self._command(job, spec, code_base, inputs, outputs)
        return self._parallel(job, spec, inputs, outputs)

    # -- components -----------------------------------------------------------------------

    def _component(self, job: str, spec: dict[str, Any]) -> tuple[dict[str, Any], Path]:
        """``spec`` merged with the component file it names; the folder its paths start from."""
        ref = spec.get("component")
        if ref is None:
            return spec, self.base
        if not isinstance(ref, str) or ref.startswith("azureml:"):
            raise ConfigError(
                f"jobs.{job}.component must be a local component file such as "
                f"./component.yml (registered components are not available); got {ref!r}"
            )
        path = (self.base / ref).resolve()
        component = read_yaml(path, f"jobs.{job}.component")
        declared = _mapping(component, "inputs", job)
        given = _mapping(spec, "inputs", job)
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise ConfigError(
                f"jobs.{job}.inputs {unknown} are not inputs of component {ref!r} "
                f"(inputs: {sorted(declared)})"
            )
        inputs: dict[str, Any] = {}
        for name, declaration in declared.items():
            if name in given:
                inputs[name] = given[name]
            elif isinstance(declaration, dict) and "default" in declaration:
                inputs[name] = declaration["default"]
            elif not (isinstance(declaration, dict) and declaration.get("optional")):
                raise ConfigError(f"jobs.{job}.inputs.{name} is required by component {ref!r}")
        outputs = dict(_mapping(component, "outputs", job))
        outputs.update(_mapping(spec, "outputs", job))
        merged = {k: v for k, v in component.items() if k not in _COMMON - {"type"}}
        merged.update({k: v for k, v in spec.items() if k not in ("component", "inputs")})
        merged.update(inputs=inputs, outputs=outputs)
        if "environment" not in spec and isinstance(component.get("environment"), dict):
            merged["environment"] = _rebase(component["environment"], path.parent, self.base)
        return merged, path.parent

    # -- inputs and outputs ---------------------------------------------------------------

    def _input(self, job: str, name: str, value: Any) -> _Value:
        where = f"jobs.{job}.inputs.{name}"
        if isinstance(value, dict):
            kind = str(value.get("type") or "uri_folder")
            if kind not in _DATA_TYPES:
                return _Value(
                    self._literal(where, value.get("default", value.get("value"))), "literal"
                )
            return self._data(where, value.get("path"), kind)
        ref = bindings.whole(value)
        if ref is not None:
            return self._bound(where, ref, None)
        return _Value(self._literal(where, value), "literal")

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

    def _bound(self, where: str, ref: bindings.Reference, kind: str | None) -> _Value:
        if ref.scope == "sibling":
            found = self.produced.get((ref.job, ref.name))
            if found is None:
                raise ConfigError(f"{where}: {ref} names an output jobs.{ref.job} does not declare")
            return _Value(found.obj, kind or found.kind)
        if ref.scope == "parent" and ref.kind == "inputs":
            if ref.name not in self.parent_inputs:
                raise ConfigError(
                    f"{where}: {ref} is not declared; inputs: {sorted(self.parent_inputs)}"
                )
            return self._input("<pipeline>", ref.name, self.parent_inputs[ref.name])
        raise ConfigError(f"{where}: {ref} cannot stand for an input here")

    def _data(self, where: str, path: Any, kind: str) -> _Value:
        if isinstance(path, list) and path and all(isinstance(p, str) for p in path):
            return _Value([self._data(where, p, kind).obj for p in path], kind)
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(f"{where}.path must be a path or an expression; got {path!r}")
        ref = bindings.whole(path)
        if ref is not None:
            return self._bound(where, ref, kind)
        text = self._paths(where, path)
        found = bindings.asset(text)
        if found is not None:
            return _Value(Dataset.get_by_name(self.workspace, *found), kind)
        if text.startswith("azureml://") or "://" in text:
            return _Value(self._datastore_folder(where, text, False) or text, kind)
        local = os.path.abspath(self.base / os.path.expanduser(text))
        if not os.path.exists(local):
            raise ConfigError(f"{where}.path {path!r} does not exist (looked for {local})")
        return _Value(local, kind)

    def _output(self, job: str, name: str, value: Any) -> _Value:
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
            found = _Value(PipelineData(data_name, data_type=kind), kind)
        else:
            text = self._paths(where, str(path))
            local = self._datastore_folder(where, text, True) or os.path.abspath(self.base / text)
            self.known_outputs[f"{job}.{name}"] = local
            found = _Value(local, kind)
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

    # -- steps ----------------------------------------------------------------------------

    def _command(
        self,
        job: str,
        spec: dict[str, Any],
        code_base: Path,
        inputs: dict[str, _Value],
        outputs: dict[str, _Value],
    ) -> PythonScriptStep:
        unknown = sorted(set(spec) - _COMMON - _UNUSED - _COMMAND)
        if unknown:
            raise ConfigError(f"jobs.{job}: unknown keys {unknown} for a command job")
        command = spec.get("command")
        tokens = shlex.split(command) if isinstance(command, str) else []
        if (
            len(tokens) < 2
            or tokens[0] not in ("python", "python3")
            or not tokens[1].endswith(".py")
        ):
            raise ConfigError(
                f"jobs.{job}.command must be 'python <script>.py [arguments]'; got {command!r}"
            )
        self._environment(job, spec.get("environment"), "environment")
        code = os.path.abspath(code_base / str(spec.get("code") or "."))
        arguments = [self._argument(job, t, inputs, outputs) for t in tokens[2:]]
        variables = spec.get("environment_variables") or {}
        return PythonScriptStep(
            tokens[1],
            name=_step_name(job),
            arguments=arguments,
            inputs=[v.obj for v in inputs.values() if isinstance(v.obj, PipelineData)],
            outputs=[v.obj for v in outputs.values() if isinstance(v.obj, PipelineData)],
            params={str(k): str(v) for k, v in dict(variables).items()},
            source_directory=code,
            allow_reuse=bool(spec.get("is_deterministic", True)),
        )

    def _parallel(
        self, job: str, spec: dict[str, Any], inputs: dict[str, _Value], outputs: dict[str, _Value]
    ) -> ParallelRunStep:
        data = {k: v for k, v in spec.items() if k not in _COMMON | _UNUSED}
        task = dict(data.get("task") or {})
        program_arguments = task.pop("program_arguments", None)
        append_row_to = task.pop("append_row_to", None)
        environment = task.pop("environment", None)
        input_data = data.pop("input_data", None)
        checked = check_model(Job, {**data, "task": task, "type": "parallel"}, f"jobs.{job}")
        settings = Settings(checked)
        settings.make_paths_absolute(self.base)
        env = self._environment(job, environment, "task.environment")
        if env is not None:
            settings.put("environment", "task.environment", env)
        tokens = shlex.split(program_arguments) if isinstance(program_arguments, str) else []
        if isinstance(program_arguments, list):
            tokens = [str(t) for t in program_arguments]
        tokens = settings.lift(tokens)
        for key, value in runtime_settings(tokens).items():
            settings.put(key, f"--{key} in the arguments", value)
        arguments = [self._argument(job, t, inputs, outputs) for t in tokens]
        output = self._parallel_output(job, append_row_to, outputs, settings)
        split = self._split_input(job, input_data, inputs)
        return ParallelRunStep(
            _step_name(job),
            settings.build(),
            inputs=[split],
            output=output,
            arguments=arguments,
            allow_reuse=bool(spec.get("is_deterministic", True)),
        )

    def _split_input(self, job: str, reference: Any, inputs: dict[str, _Value]) -> Any:
        ref = bindings.whole(reference)
        if ref is None or ref.scope != "job" or ref.kind != "inputs" or ref.name not in inputs:
            raise ConfigError(
                f"jobs.{job}.input_data must reference one data input such as "
                f"${{{{inputs.data}}}} (inputs: {sorted(inputs)}); got {reference!r}"
            )
        value = inputs[ref.name]
        if isinstance(value.obj, PipelineData):
            return value.obj
        if isinstance(value.obj, AbstractDataset):
            return value.obj.as_named_input(ref.name)
        if value.kind == "mltable":
            return Dataset.Tabular.from_mltable(value.obj).as_named_input(ref.name)
        if value.kind not in ("uri_folder", "uri_file"):
            raise ConfigError(f"jobs.{job}.inputs.{ref.name} is not data; input_data must be")
        return Dataset.File.from_files(value.obj, validate=False).as_named_input(ref.name)

    def _parallel_output(
        self, job: str, append_row_to: Any, outputs: dict[str, _Value], settings: Settings
    ) -> Any:
        if append_row_to is None:
            settings.values.setdefault("output_action", "summary_only")
            if len(outputs) > 1:
                raise ConfigError(
                    f"jobs.{job} declares outputs {sorted(outputs)}; a parallel job has one"
                )
            return next(iter(outputs.values())).obj if outputs else None
        ref = bindings.whole(append_row_to)
        if ref is None or ref.scope != "job" or ref.kind != "outputs" or ref.name not in outputs:
            raise ConfigError(
                f"jobs.{job}.task.append_row_to must reference a declared output such as "
                f"${{{{outputs.scores}}}} (outputs: {sorted(outputs)}); got {append_row_to!r}"
            )
        settings.put("output_action", "task.append_row_to", "append_row")
        value = outputs[ref.name]
        if isinstance(value.obj, PipelineData) or value.kind != "uri_file":
            return value.obj
        folder, file_name = os.path.split(value.obj)
        settings.put("append_row_file_name", f"outputs.{ref.name}.path", file_name)
        return folder

    def _argument(
        self, job: str, token: str, inputs: dict[str, _Value], outputs: dict[str, _Value]
    ) -> Any:
        """A command-line token: data bound at run time stays an object (the driver's path)."""
        ref = bindings.whole(token)
        if ref is not None and ref.scope == "job":
            table = inputs if ref.kind == "inputs" else outputs
            if ref.name not in table:
                raise ConfigError(f"jobs.{job}: {ref} is not declared; {ref.kind}: {sorted(table)}")
            value = table[ref.name]
            return value.obj if not isinstance(value.obj, list) else ",".join(value.obj)

        def text(ref: bindings.Reference) -> str:
            if ref.scope == "runtime":
                return self._runtime(ref)
            table = inputs if ref.kind == "inputs" else outputs
            value = table.get(ref.name) if ref.scope == "job" else None
            if value is None or not isinstance(value.obj, str):
                raise ConfigError(
                    f"jobs.{job}: {ref} in {token!r} must be a whole argument (it stands for "
                    "data whose path is known at run time)"
                )
            return value.obj

        return bindings.substitute(token, text)

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


def _step_name(job: str) -> str:
    """A job's key as a step name (Azure's job keys use ``_``; step names allow ``-``)."""
    return validate_step_name(job.replace("_", "-").lower())


def _mapping(spec: dict[str, Any], key: str, job: str) -> dict[str, Any]:
    value = spec.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"jobs.{job}.{key} must be a mapping; got {value!r}")
    return value


def _rebase(environment: dict[str, Any], folder: Path, base: Path) -> dict[str, Any]:
    """A component's environment with its ``conda_file`` relative to the job file's folder."""
    if isinstance(environment.get("conda_file"), str):
        absolute = folder / environment["conda_file"]
        return {**environment, "conda_file": os.path.relpath(absolute, base)}
    return environment
