"""The tutorial's pipeline layer: steps, intermediate data, pipelines (Azure's names).

A :class:`Pipeline` is a list of steps wired by :class:`PipelineData`: one step's output is
another step's input. :class:`ParallelRunStep` runs a ParallelRunConfig over its inputs;
:class:`PythonScriptStep` runs a script once (pre- or post-processing). Nothing runs here:
:meth:`shardrun.pipelines.experiment.Experiment.submit` runs the pipeline in a detached driver.

Steps run one after the other in an order that respects the data they exchange (a
topological order; ties keep the order of ``steps``).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from typing import Any

from shardrun.config.parallel_run import (
    ParallelRunConfig,
    validate_arguments,
    validate_output,
    validate_step_name,
)
from shardrun.config.parameters import PipelineParameter
from shardrun.data.datasets import AbstractDataset, DatasetConsumptionConfig
from shardrun.errors import ConfigError
from shardrun.workspace.datastores import DataPath

_DATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


class PipelineData:
    """Intermediate data: the output folder of one step, the input of later steps.

    Azure writes it to ``azureml/<step run id>/<name>/`` on ``datastore``; so does shardrun
    (the workspace's default datastore when ``datastore`` is None).

    Args:
        name: Letters, digits and ``_``, starting with a letter or ``_``.
        datastore: Where the data is kept.
        output_path_on_compute: Accepted for compatibility (Azure's folder on the node).
        is_directory: Accepted; the data is always a folder here.
    """

    def __init__(
        self,
        name: str,
        datastore: Any = None,
        output_name: str | None = None,
        output_mode: str = "mount",
        output_path_on_compute: str | None = None,
        output_overwrite: bool | None = None,
        data_type: str | None = None,
        is_directory: bool | None = None,
        pipeline_output_name: str | None = None,
        training_output: Any = None,
    ) -> None:
        if not isinstance(name, str) or not _DATA_NAME.match(name):
            raise ConfigError(
                "PipelineData name must start with a letter or '_' and hold only letters, "
                f"digits or '_'; got {name!r}"
            )
        self.name = name
        self.datastore = datastore
        self.output_name = output_name or name
        self.output_mode = output_mode
        self.output_path_on_compute = output_path_on_compute
        # "mltable": the next step reads it as a table (a v2 pipeline's mltable output).
        self.data_type = data_type

    def __repr__(self) -> str:
        return f"PipelineData(name={self.name!r})"

    def as_dataset(self) -> PipelineData:
        """Azure compatibility: the data is consumed as files in every form."""
        return self

    def as_mount(self) -> PipelineData:
        """Azure compatibility: the data reaches the next step as local files."""
        return self

    def as_download(self) -> PipelineData:
        """Azure compatibility: the data reaches the next step as local files."""
        return self


StepInput = DatasetConsumptionConfig | AbstractDataset | PipelineData | PipelineParameter | DataPath


def _check_input(step: str, item: Any) -> StepInput:
    if isinstance(item, DatasetConsumptionConfig | AbstractDataset | PipelineData | DataPath):
        return item
    if isinstance(item, PipelineParameter) and isinstance(item.default_value, AbstractDataset):
        return item
    raise ConfigError(
        f"inputs of step {step!r} must be datasets, DatasetConsumptionConfig, PipelineData "
        f"or PipelineParameters of a dataset; got {type(item).__name__} {item!r}"
    )


def _check_arguments(arguments: Sequence[Any] | None) -> list[Any]:
    """Azure's argument rules; data objects stand for the paths they become at run time."""
    items = list(arguments or [])
    plain = ["DATA" if _is_data(a) else a for a in items]
    validate_arguments(plain)
    return items


def _is_data(value: Any) -> bool:
    return isinstance(value, PipelineData | DatasetConsumptionConfig | AbstractDataset | DataPath)


class PipelineStep:
    """What every step has: a name, inputs, outputs, arguments, ``allow_reuse``."""

    name: str
    inputs: list[StepInput]
    outputs: list[PipelineData]
    arguments: list[Any]
    allow_reuse: bool

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def data_inputs(self) -> list[PipelineData]:
        """The PipelineData this step reads (in ``inputs``, ``side_inputs`` or ``arguments``)."""
        found = [i for i in self.inputs if isinstance(i, PipelineData)]
        found += [
            a for a in self.arguments if isinstance(a, PipelineData) and a not in self.outputs
        ]
        return found


class ParallelRunStep(PipelineStep):
    """Run a :class:`~shardrun.ParallelRunConfig` over datasets (Azure's ParallelRunStep).

    Args:
        name: 3 to 32 characters, ``^[a-z]([-a-z0-9]*[a-z0-9])?$``.
        parallel_run_config: What to run and how.
        inputs: Datasets (or their consumption configs, PipelineData, PipelineParameters of
            a dataset), all split into mini-batches.
        output: A PipelineData or folder receiving the append_row file; required for
            ``append_row``.
        side_inputs: Reference data every worker can read, not split; references to them in
            ``arguments`` become local paths.
        arguments: Extra ``sys.argv`` of the entry script.
        allow_reuse: Reuse a previous run of this step when the script folder, the config,
            the inputs and the arguments are unchanged.
        models: shardrun's addition: registered models; ``AZUREML_MODEL_DIR`` points at the
            first one's folder, as in batch endpoints.
    """

    def __init__(
        self,
        name: str,
        parallel_run_config: ParallelRunConfig,
        inputs: Sequence[Any],
        output: PipelineData | str | None = None,
        side_inputs: Sequence[Any] | None = None,
        arguments: Sequence[Any] | None = None,
        allow_reuse: bool = True,
        models: Sequence[Any] | None = None,
    ) -> None:
        self.name = validate_step_name(name)
        if not isinstance(parallel_run_config, ParallelRunConfig):
            raise ConfigError(
                f"parallel_run_config must be a ParallelRunConfig; got "
                f"{type(parallel_run_config).__name__}"
            )
        if isinstance(inputs, str | bytes) or not isinstance(inputs, Sequence) or not inputs:
            raise ConfigError(f"inputs of step {name!r} must be a non-empty list; got {inputs!r}")
        validate_output(parallel_run_config.output_action, output)
        self.parallel_run_config = parallel_run_config
        self.inputs = [_check_input(name, i) for i in inputs]
        self.output = output
        self.outputs = [output] if isinstance(output, PipelineData) else []
        self.side_inputs = [_check_input(name, i) for i in side_inputs or []]
        self.arguments = _check_arguments(arguments)
        self.allow_reuse = bool(allow_reuse)
        self.models = list(models or [])

    def data_inputs(self) -> list[PipelineData]:
        """PipelineData read by this step, side inputs included."""
        side = [i for i in self.side_inputs if isinstance(i, PipelineData)]
        return super().data_inputs() + side


class PythonScriptStep(PipelineStep):
    """Run a Python script once, in its own process (pre- or post-processing).

    PipelineData and datasets in ``arguments`` become local folder paths; the script's
    working folder is ``source_directory``.
    """

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: Sequence[Any] | None = None,
        compute_target: Any = None,
        runconfig: Any = None,
        inputs: Sequence[Any] | None = None,
        outputs: Sequence[PipelineData] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
    ) -> None:
        self.name = validate_step_name(name or _default_name(script_name))
        if not isinstance(script_name, str) or not script_name.endswith(".py"):
            raise ConfigError(f"script_name must name a .py file; got {script_name!r}")
        self.script_name = script_name
        self.source_directory = source_directory
        self.inputs = [_check_input(self.name, i) for i in inputs or []]
        self.outputs = list(outputs or [])
        for output in self.outputs:
            if not isinstance(output, PipelineData):
                raise ConfigError(
                    f"outputs of step {self.name!r} must be PipelineData; got {output!r}"
                )
        self.arguments = [
            a if _is_data(a) or isinstance(a, PipelineParameter) else str(a)
            for a in arguments or []
        ]
        for value in self.arguments:
            if not isinstance(value, str | numbers.Real | PipelineParameter) and not _is_data(
                value
            ):
                raise ConfigError(f"arguments of step {self.name!r} cannot hold {value!r}")
        self.environment = {str(k): str(v) for k, v in (params or {}).items()}
        self.allow_reuse = bool(allow_reuse)
        self.compute_target = compute_target


def _default_name(script_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", script_name.removesuffix(".py").lower()).strip("-")
    return (stem if stem[:1].isalpha() else f"step-{stem}")[:32].rstrip("-") or "script-step"


class Pipeline:
    """Steps to run together (Azure's Pipeline).

    Args:
        workspace: The workspace the pipeline runs in.
        steps: The steps; each PipelineData must be the output of exactly one of them.

    Raises:
        ConfigError: Duplicate step names, data produced twice or never, or a cycle.
    """

    def __init__(
        self, workspace: Any, steps: Sequence[PipelineStep], description: str | None = None
    ) -> None:
        self.workspace = workspace
        self.description = description
        self.steps = list(steps)
        if not self.steps:
            raise ConfigError("a Pipeline needs at least one step; got []")
        names = [s.name for s in self.steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"step names must be unique in a pipeline; repeated: {duplicates}")
        self.order = _topological(self.steps)

    def __repr__(self) -> str:
        return f"Pipeline(steps={[s.name for s in self.steps]})"

    def validate(self) -> list[str]:
        """Azure's method: problems found (the constructor already raised for any)."""
        return []


def _topological(steps: list[PipelineStep]) -> list[PipelineStep]:
    producer: dict[str, PipelineStep] = {}
    for step in steps:
        for data in step.outputs:
            if data.name in producer:
                raise ConfigError(
                    f"PipelineData {data.name!r} is the output of two steps: "
                    f"{producer[data.name].name!r} and {step.name!r}"
                )
            producer[data.name] = step
    needs: dict[str, set[str]] = {}
    for step in steps:
        needs[step.name] = set()
        for data in step.data_inputs():
            if data.name not in producer:
                raise ConfigError(
                    f"step {step.name!r} reads PipelineData {data.name!r}, which no step writes"
                )
            needs[step.name].add(producer[data.name].name)
    ordered: list[PipelineStep] = []
    done: set[str] = set()
    while len(ordered) < len(steps):
        ready = [s for s in steps if s.name not in done and needs[s.name] <= done]
        if not ready:
            cycle = sorted(n for n in needs if n not in done)
            raise ConfigError(f"the steps {cycle} depend on each other's data in a cycle")
        ordered.append(ready[0])
        done.add(ready[0].name)
    return ordered
