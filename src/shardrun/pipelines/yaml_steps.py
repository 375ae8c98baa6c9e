"""One job of a v2 pipeline job file as a shardrun step (see :mod:`.yaml_job`).

* ``type: parallel`` becomes a :class:`ParallelRunStep`; its settings are read by the same
  schema as a single parallel job file (:mod:`shardrun.config.jobschema`).
* ``type: command`` (inline, or ``component: ./x.yml``) becomes a :class:`PythonScriptStep`;
  its ``command`` must be ``python <script>.py [arguments]``.

Inputs, outputs and environments are resolved by :mod:`.yaml_data`.

Keys Azure's schema allows that mean nothing here (``identity``, ``services``,
``queue_settings``, ``compute``, ``resources`` of a command, ...) are accepted with one INFO line;
``is_deterministic`` is v1's ``allow_reuse``.
"""

from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path
from typing import Any

from shardrun.config.jobschema import Job, Settings, check_model
from shardrun.config.step_rules import runtime_settings, validate_step_name
from shardrun.data.datasets import AbstractDataset
from shardrun.data.factory import Dataset
from shardrun.errors import ConfigError
from shardrun.pipelines import bindings
from shardrun.pipelines.pipeline import (
    ParallelRunStep,
    PipelineData,
    PipelineStep,
    PythonScriptStep,
)
from shardrun.pipelines.yaml_data import DataResolver, Value, mapping, read_yaml

__all__ = ["StepBuilder"]

log = logging.getLogger(__name__)

_COMMON = {"type", "component", "inputs", "outputs", "name", "display_name", "description"}
_COMMON |= {"tags", "version", "properties", "$schema", "experiment_name", "is_deterministic"}
_UNUSED = {"compute", "identity", "services", "queue_settings", "resources", "distribution"}
_UNUSED |= {"limits", "code_configuration"}
_COMMAND = {"command", "code", "environment", "environment_variables"}


class StepBuilder(DataResolver):
    """Builds the steps of one pipeline job file, in dependency order (see DataResolver)."""

    def build(self, job: str, spec: dict[str, Any]) -> PipelineStep:
        """The step for ``jobs.<job>``."""
        spec, code_base = self._component(job, spec)
        kind = spec.get("type")
        if kind not in ("parallel", "command"):
            raise ConfigError(f"jobs.{job}.type must be 'parallel' or 'command'; got {kind!r}")
        for key in sorted(set(spec) & _UNUSED):
            log.info("jobs.%s.%s has no local meaning and is ignored", job, key)
        inputs = {n: self._input(job, n, v) for n, v in mapping(spec, "inputs", job).items()}
        outputs = {n: self._output(job, n, v) for n, v in mapping(spec, "outputs", job).items()}
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
        declared = mapping(component, "inputs", job)
        given = mapping(spec, "inputs", job)
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
        outputs = dict(mapping(component, "outputs", job))
        outputs.update(mapping(spec, "outputs", job))
        merged = {k: v for k, v in component.items() if k not in _COMMON - {"type"}}
        merged.update({k: v for k, v in spec.items() if k not in ("component", "inputs")})
        merged.update(inputs=inputs, outputs=outputs)
        if "environment" not in spec and isinstance(component.get("environment"), dict):
            merged["environment"] = _rebase(component["environment"], path.parent, self.base)
        return merged, path.parent

    # -- steps ----------------------------------------------------------------------------

    def _command(
        self,
        job: str,
        spec: dict[str, Any],
        code_base: Path,
        inputs: dict[str, Value],
        outputs: dict[str, Value],
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
        self, job: str, spec: dict[str, Any], inputs: dict[str, Value], outputs: dict[str, Value]
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

    def _split_input(self, job: str, reference: Any, inputs: dict[str, Value]) -> Any:
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
        self, job: str, append_row_to: Any, outputs: dict[str, Value], settings: Settings
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
        self, job: str, token: str, inputs: dict[str, Value], outputs: dict[str, Value]
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


def _step_name(job: str) -> str:
    """A job's key as a step name (Azure's job keys use ``_``; step names allow ``-``)."""
    return validate_step_name(job.replace("_", "-").lower())


def _rebase(environment: dict[str, Any], folder: Path, base: Path) -> dict[str, Any]:
    """A component's environment with its ``conda_file`` relative to the job file's folder."""
    if isinstance(environment.get("conda_file"), str):
        absolute = folder / environment["conda_file"]
        return {**environment, "conda_file": os.path.relpath(absolute, base)}
    return environment
