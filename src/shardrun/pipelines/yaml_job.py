"""Azure ML v2 ``type: pipeline`` job files, run through shardrun's pipeline layer.

``shardrun run pipeline.yml`` reads a file such as Azure's ``cli/jobs/parallel`` examples::

    type: pipeline
    experiment_name: mnist
    jobs:
      prepare_data:
        type: command
        component: ./script/prepare_data.yml      # or inline command:/code:/outputs:
      predict:
        type: parallel
        inputs:
          images: {type: uri_folder, path: ${{parent.jobs.prepare_data.outputs.mnist_png}}}
        outputs:
          scores:
            type: uri_file
            path: azureml://datastores/${{default_datastore}}/paths/${{name}}/scores.csv
        input_data: ${{inputs.images}}
        task: {code: ./script, entry_script: score.py, append_row_to: ${{outputs.scores}}}

Each job becomes a step of a :class:`~shardrun.pipelines.pipeline.Pipeline` (``type:
parallel`` a ParallelRunStep, ``type: command`` a PythonScriptStep running ``python
<script>.py ...``); outputs without a path become PipelineData (Azure's default location,
``azureml/<run>/<name>`` on the default datastore); the pipeline runs in the workspace as
any submitted pipeline does (reuse, run records, ``shardrun runs``). Steps run in the
order their bindings require. :mod:`shardrun.pipelines.yaml_steps` builds the steps.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardrun.config.jobschema import apply_overrides
from shardrun.errors import ConfigError
from shardrun.pipelines import bindings
from shardrun.pipelines.experiment import Experiment, PipelineRun
from shardrun.pipelines.pipeline import Pipeline, PipelineStep
from shardrun.pipelines.yaml_data import read_yaml
from shardrun.pipelines.yaml_steps import StepBuilder
from shardrun.workspace.workspace import Workspace

__all__ = ["PipelineJob", "is_pipeline_file", "load_pipeline_job", "read_yaml"]

log = logging.getLogger(__name__)

_TOP_KEYS = {
    "$schema",
    "type",
    "name",
    "display_name",
    "description",
    "experiment_name",
    "tags",
    "settings",
    "inputs",
    "outputs",
    "jobs",
    "compute",
    "identity",
    "properties",
}
_SETTING_KEYS = {"default_compute", "default_datastore", "continue_on_step_failure"}


@dataclass
class PipelineJob:
    """A loaded pipeline job file, ready to submit.

    Attributes:
        name: The job's name (``name:``, else generated): ``${{name}}`` in paths.
        experiment_name: The experiment the run is filed under.
        display_name: A label for people.
        tags: Free key/value labels.
        pipeline: The steps.
        continue_on_step_failure: ``settings.continue_on_step_failure``.
        outputs: Where each job's outputs with a known path go, ``job.output -> path``.
    """

    name: str
    experiment_name: str
    display_name: str | None
    tags: dict[str, str]
    pipeline: Pipeline
    continue_on_step_failure: bool = False
    outputs: dict[str, str] = field(default_factory=dict)

    def submit(self) -> PipelineRun:
        """Start the pipeline in a detached driver (as ``Experiment.submit`` does)."""
        experiment = Experiment(self.pipeline.workspace, self.experiment_name)
        return experiment.submit(
            self.pipeline,
            tags=self.tags,
            continue_on_step_failure=self.continue_on_step_failure,
        )


def is_pipeline_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a YAML file with ``type: pipeline`` (False if it cannot be read)."""
    try:
        return read_yaml(Path(path), "job file").get("type") == "pipeline"
    except ConfigError:
        return False


def load_pipeline_job(
    path: str | os.PathLike[str],
    workspace: Workspace,
    overrides: Sequence[str] = (),
    strict_environment: bool = False,
) -> PipelineJob:
    """Read a ``type: pipeline`` job file and build its pipeline.

    Args:
        path: The YAML file; relative paths in it start from its folder.
        workspace: Where data assets and datastores are looked up and the pipeline runs.
        overrides: ``KEY=VALUE`` edits of the YAML first (``jobs.score.mini_batch_size=5``).
        strict_environment: A package pinned at another version than installed is an
            error (default: a warning).

    Raises:
        ConfigError: One line, starting with the file's name.
    """
    source = Path(os.path.abspath(path))
    data = apply_overrides(read_yaml(source, "job file"), overrides)
    try:
        return _Loader(data, source.parent, workspace, strict_environment).load()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


class _Loader:
    def __init__(
        self, data: Mapping[str, Any], base: Path, workspace: Workspace, strict: bool
    ) -> None:
        if data.get("type") != "pipeline":
            raise ConfigError(f"type must be 'pipeline'; got {data.get('type')!r}")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise ConfigError(f"unknown keys {unknown}; allowed: {sorted(_TOP_KEYS)}")
        self.data = data
        self.base = base
        self.workspace = workspace
        self.strict = strict
        self.settings = _mapping(data.get("settings"), "settings")
        unknown = sorted(set(self.settings) - _SETTING_KEYS)
        if unknown:
            log.info("settings %s have no local meaning and are ignored", unknown)
        self.name = str(data.get("name") or f"pipeline_{uuid.uuid4().hex[:12]}")

    def load(self) -> PipelineJob:
        jobs = _mapping(self.data.get("jobs"), "jobs")
        if not jobs:
            raise ConfigError("jobs must name at least one job; got none")
        for key in ("compute", "identity"):
            if key in self.data:
                log.info("%s: %r has no local meaning; steps run here", key, self.data[key])
        if self.settings.get("default_compute"):
            log.info(
                "settings.default_compute %r: steps run on this machine",
                self.settings["default_compute"],
            )
        default_store = self.settings.get("default_datastore")
        if isinstance(default_store, str) and default_store:
            store = default_store.removeprefix("azureml:")
            self.workspace.set_default_datastore(store)
        builder = StepBuilder(
            workspace=self.workspace,
            base=self.base,
            name=self.name,
            parent_inputs=_mapping(self.data.get("inputs"), "inputs"),
            parent_outputs=_mapping(self.data.get("outputs"), "outputs"),
            strict=self.strict,
        )
        steps: list[PipelineStep] = []
        for job in _order(jobs):
            steps.append(builder.build(job, _mapping(jobs[job], f"jobs.{job}")))
        pipeline = Pipeline(self.workspace, steps, description=self.data.get("description"))
        experiment = str(self.data.get("experiment_name") or _experiment_of(self.base))
        tags = {str(k): str(v) for k, v in _mapping(self.data.get("tags"), "tags").items()}
        return PipelineJob(
            name=self.name,
            experiment_name=experiment,
            display_name=self.data.get("display_name"),
            tags=tags,
            pipeline=pipeline,
            continue_on_step_failure=bool(self.settings.get("continue_on_step_failure")),
            outputs=builder.known_outputs,
        )


def _order(jobs: Mapping[str, Any]) -> list[str]:
    """Jobs in an order that runs each after the jobs whose outputs it binds (ties: file order)."""
    needs: dict[str, set[str]] = {}
    for name, spec in jobs.items():
        wanted = {r.job for r in bindings.references(spec) if r.scope == "sibling"}
        missing = sorted(wanted - set(jobs))
        if missing:
            raise ConfigError(
                f"jobs.{name} binds outputs of {missing}, which are not jobs of this pipeline "
                f"(jobs: {sorted(jobs)})"
            )
        needs[name] = wanted - {name}
    ordered: list[str] = []
    while len(ordered) < len(jobs):
        ready = [n for n in jobs if n not in ordered and needs[n] <= set(ordered)]
        if not ready:
            cycle = sorted(n for n in jobs if n not in ordered)
            raise ConfigError(f"the jobs {cycle} bind each other's outputs in a cycle")
        ordered.append(ready[0])
    return ordered


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a mapping; got {value!r}")
    return value


def _experiment_of(base: Path) -> str:
    """Azure's default experiment name: the job file's folder name."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", base.name) or "Default"
