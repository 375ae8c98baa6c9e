"""Experiments and pipeline runs: submit a pipeline, watch it, read its outputs.

``Experiment(ws, name).submit(pipeline, pipeline_parameters={...})`` returns at once: the
pipeline runs in a detached driver process (its own session, so it survives the notebook or
terminal that submitted it). The :class:`PipelineRun` reads the driver's record::

    <workspace>/experiments/<experiment>/<pipeline run id>/
        pipeline.pkl     the pipeline and its parameters, handed to the driver
        run.json         status, driver pid, steps (name, run id, status, reused_from)
        driver.log       what the driver printed

Each step is an ordinary shardrun run (``<workspace>/runs/<pipeline run id>_<step>``).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from shardrun.engine.writer import atomic_write
from shardrun.errors import ConfigError, RunNotFound, ShardrunError
from shardrun.pids import alive
from shardrun.pipelines.pipeline import Pipeline
from shardrun.workspace.workspace import Workspace, resolve_workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
FINAL = ("Completed", "Failed", "Canceled")
POLL = 0.5


def read_json(path: Path) -> dict[str, Any]:
    """A JSON record (written atomically by its owner)."""
    return dict(json.loads(path.read_text()))


def write_json(path: Path, record: Mapping[str, Any]) -> None:
    """Write a JSON record atomically."""
    with atomic_write(path, "w", fsync=False) as handle:
        json.dump(record, handle, indent=2, default=str)


class Experiment:
    """A named group of pipeline runs (Azure's Experiment)."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                "experiment name must be 1-255 letters, digits, '_' or '-', starting with a "
                f"letter or digit; got {name!r}"
            )
        self.workspace = resolve_workspace(workspace)
        self.name = name
        self.folder = self.workspace.path / "experiments" / name

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"

    def submit(
        self,
        config: Pipeline,
        tags: Mapping[str, str] | None = None,
        pipeline_parameters: Mapping[str, Any] | None = None,
        continue_on_step_failure: bool = False,
        **kwargs: Any,
    ) -> PipelineRun:
        """Start the pipeline in a detached driver process and return its run at once.

        Args:
            config: The pipeline.
            tags: Free-form tags kept with the run.
            pipeline_parameters: Values of PipelineParameters, by name.
            continue_on_step_failure: Run the steps that do not depend on a failed one.
        """
        if not isinstance(config, Pipeline):
            raise ConfigError(f"submit() takes a Pipeline; got {type(config).__name__}")
        parameters = dict(pipeline_parameters or {})
        known = _parameter_names(config)
        unknown = sorted(set(parameters) - known)
        if unknown:
            raise ConfigError(
                f"pipeline_parameters {unknown} are not parameters of this pipeline; "
                f"it has {sorted(known)}"
            )
        run_id = f"{self.name}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
        folder = self.folder / run_id
        folder.mkdir(parents=True)
        with open(folder / "pipeline.pkl", "wb") as handle:
            pickle.dump(
                {
                    "pipeline": config,
                    "parameters": parameters,
                    "continue_on_step_failure": continue_on_step_failure,
                },
                handle,
            )
        producer = {data.name: s.name for s in config.order for data in s.outputs}
        steps = [
            {
                "name": s.name,
                "run_id": f"{run_id}_{s.name}",
                "status": "NotStarted",
                # The steps whose data this one reads (the dashboard draws the graph).
                "after": sorted({producer[data.name] for data in s.data_inputs()}),
            }
            for s in config.order
        ]
        record = {
            "run_id": run_id,
            "experiment": self.name,
            "status": "NotStarted",
            "created": time.time(),
            "tags": dict(tags or {}),
            "steps": steps,
            "parameters": {k: repr(v) for k, v in parameters.items()},
            "workspace": str(self.workspace.path),
        }
        write_json(folder / "run.json", record)
        launcher = subprocess.run(
            [sys.executable, "-m", "shardrun.pipelines.driver", "--detach", str(folder)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if launcher.returncode != 0:
            raise ShardrunError(f"the pipeline driver did not start: {launcher.stderr.strip()}")
        _update(folder, pid=int(launcher.stdout.split()[-1]))
        return PipelineRun(self, run_id)

    def get_runs(self) -> Iterator[PipelineRun]:
        """This experiment's pipeline runs, newest first."""
        if not self.folder.exists():
            return
        folders = sorted(self.folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for folder in folders:
            if (folder / "run.json").exists():
                yield PipelineRun(self, folder.name)


def _parameter_names(pipeline: Pipeline) -> set[str]:
    from shardrun.config.parameters import PipelineParameter

    names: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, PipelineParameter):
            names.add(value.name)
        elif hasattr(value, "dataset"):
            visit(value.dataset)

    for step in pipeline.steps:
        for value in [*step.inputs, *step.arguments, *getattr(step, "side_inputs", [])]:
            visit(value)
        config = getattr(step, "parallel_run_config", None)
        if config is not None:
            names.update(p.name for p in config.parameters.values())
    return names


def _update(folder: Path, **changes: Any) -> dict[str, Any]:
    record = read_json(folder / "run.json")
    record.update(changes)
    write_json(folder / "run.json", record)
    return record


class PipelineRun:
    """A submitted pipeline (Azure's PipelineRun); the driver runs it in the background."""

    def __init__(self, experiment: Experiment, run_id: str) -> None:
        self.experiment = experiment
        self.id = run_id
        self.folder = experiment.folder / run_id
        if not (self.folder / "run.json").exists():
            raise RunNotFound(f"no pipeline run {run_id!r} in experiment {experiment.name!r}")

    def __repr__(self) -> str:
        return f"PipelineRun(id={self.id!r}, status={self.get_status()!r})"

    def get_details(self) -> dict[str, Any]:
        """The run's record: status, steps, parameters, timings."""
        return read_json(self.folder / "run.json")

    def get_status(self) -> str:
        """``NotStarted``, ``Running``, ``Completed``, ``Failed`` or ``Canceled``.

        A driver that died without a verdict makes the run ``Failed``.
        """
        record = self.get_details()
        status, pid = str(record["status"]), record.get("pid")
        # No PID yet: the driver is still starting.
        if status not in FINAL and isinstance(pid, int) and not alive(pid):
            time.sleep(0.2)  # the driver may have just written its verdict
            record = self.get_details()
            if str(record["status"]) not in FINAL:
                _update(
                    self.folder,
                    status="Failed",
                    reason="the pipeline driver process ended without a verdict",
                )
                return "Failed"
            status = str(record["status"])
        return status

    def wait_for_completion(
        self,
        show_output: bool = True,
        timeout_seconds: float | None = None,
        raise_on_error: bool = True,
    ) -> str:
        """Wait until the run ends; with ``show_output``, stream the driver's log lines.

        Returns:
            The final status.

        Raises:
            ShardrunError: With ``raise_on_error``, if the run did not complete.
            TimeoutError: ``timeout_seconds`` passed first.
        """
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        offset = 0
        log = self.folder / "driver.log"
        while True:
            status = self.get_status()
            if show_output and log.exists():
                with open(log, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                offset += len(chunk)
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
            if status in FINAL:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"pipeline run {self.id} still {status} after {timeout_seconds} s"
                )
            time.sleep(POLL)
        if raise_on_error and status != "Completed":
            reason = self.get_details().get("reason", "")
            raise ShardrunError(f"pipeline run {self.id} ended {status}: {reason}")
        return status

    def find_step_run(self, name: str) -> list[StepRun]:
        """The runs of the step called ``name`` (a list, as in Azure)."""
        return [StepRun(self, s) for s in self.get_details()["steps"] if s["name"] == name]

    def get_steps(self) -> list[StepRun]:
        """Every step run, in the order they run."""
        return [StepRun(self, s) for s in self.get_details()["steps"]]

    def get_children(self) -> Iterator[StepRun]:
        """Azure's name for the step runs: an iterator, in the order they run."""
        return iter(self.get_steps())

    def cancel(self) -> None:
        """Stop the run: the driver cancels the running step cleanly (its workers stop)."""
        record = self.get_details()
        pid = record.get("pid")
        if record["status"] in FINAL or not isinstance(pid, int) or not alive(pid):
            return
        os.kill(pid, signal.SIGTERM)


class StepRun:
    """One step of a pipeline run: an ordinary shardrun run, maybe reused."""

    def __init__(self, pipeline_run: PipelineRun, record: Mapping[str, Any]) -> None:
        self.pipeline_run = pipeline_run
        self.name = str(record["name"])
        self.id = str(record["run_id"])
        self._record = dict(record)

    def __repr__(self) -> str:
        return f"StepRun(name={self.name!r}, id={self.id!r}, status={self.get_status()!r})"

    def _fresh(self) -> dict[str, Any]:
        for step in self.pipeline_run.get_details()["steps"]:
            if step["name"] == self.name:
                return dict(step)
        return self._record

    def get_status(self) -> str:
        """The step's status; ``Completed`` for a reused step."""
        return str(self._fresh()["status"])

    def get_details(self) -> dict[str, Any]:
        """The step's record: status, run id, reused_from, outputs."""
        return self._fresh()

    @property
    def run_dir(self) -> Path:
        """The folder of the shardrun run that did the work (a reused step: the earlier run)."""
        record = self._fresh()
        workspace = self.pipeline_run.experiment.workspace
        return workspace.run_dir(record.get("reused_from") or self.id)

    def get_output_data(self, name: str) -> OutputData:
        """The output called ``name`` (a PipelineData's name)."""
        outputs = self._fresh().get("outputs", {})
        if name not in outputs:
            raise ConfigError(
                f"step {self.name!r} has no output {name!r}; it has {sorted(outputs)}"
            )
        return OutputData(name, outputs[name])


class OutputData:
    """A step's output (Azure's PortDataReference): a folder on a datastore."""

    def __init__(self, name: str, record: Mapping[str, Any]) -> None:
        self.name = name
        self.path_on_datastore = str(record["path_on_datastore"])
        self.datastore_name = str(record["datastore"])
        self.local_path = Path(record["local_path"])

    def __repr__(self) -> str:
        return f"OutputData(name={self.name!r}, path_on_datastore={self.path_on_datastore!r})"

    def download(
        self,
        local_path: str | os.PathLike[str],
        overwrite: bool = False,
        show_progress: bool = False,
    ) -> str:
        """Copy the output to ``<local_path>/<path_on_datastore>/`` (Azure's layout).

        Returns:
            The folder the files were copied to.
        """
        target = Path(local_path) / self.path_on_datastore
        if target.exists() and any(target.iterdir()) and not overwrite:
            raise FileExistsError(f"{target} is not empty; pass overwrite=True")
        shutil.copytree(self.local_path, target, dirs_exist_ok=True)
        return str(target)


def get_pipeline_run(
    workspace: Workspace | str | None, experiment: str, run_id: str
) -> PipelineRun:
    """Find a pipeline run again (e.g. from another process)."""
    return PipelineRun(Experiment(resolve_workspace(workspace), experiment), run_id)
