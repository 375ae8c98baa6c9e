"""The detached driver of a pipeline run: ``python -m shardrun.pipelines.driver FOLDER``.

It runs the steps in order, each as an ordinary shardrun run, resolves PipelineParameters,
PipelineData and side inputs into real values and paths, reuses unchanged steps, and keeps
``run.json`` up to date for :class:`~shardrun.pipelines.experiment.PipelineRun`. SIGTERM (what
``PipelineRun.cancel()`` sends) cancels the running step cleanly.

``--detach`` starts the driver in a new session and prints its pid: the submitting process
waits only for that, so the driver is nobody's zombie and outlives a notebook.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from fsspec.implementations.local import LocalFileSystem

from shardrun.config.parameters import PipelineParameter
from shardrun.data import side_inputs as sides
from shardrun.data.datasets import AbstractDataset, DatasetConsumptionConfig, FileDataset
from shardrun.data.factory import Dataset
from shardrun.data.windows import Window
from shardrun.engine.runs import run_parallel
from shardrun.errors import ShardrunError
from shardrun.pipelines import reuse
from shardrun.pipelines.experiment import _update, read_json
from shardrun.pipelines.pipeline import (
    ParallelRunStep,
    Pipeline,
    PipelineData,
    PipelineStep,
    PythonScriptStep,
)
from shardrun.workspace.datastores import DataPath, Datastore
from shardrun.workspace.workspace import Workspace, resolve_workspace, using

PROGRESS_EVERY = 5.0


@dataclass
class Context:
    """What the steps of one pipeline run share."""

    workspace: Workspace
    run_id: str
    parameters: dict[str, Any]
    data: dict[str, dict[str, str]] = field(default_factory=dict)

    def value(self, item: Any) -> Any:
        """A PipelineParameter's submitted value (or default); other values unchanged."""
        if isinstance(item, PipelineParameter):
            return self.parameters.get(item.name, item.default_value)
        return item

    def data_path(self, data: PipelineData) -> str:
        """Where a PipelineData written by an earlier step is, as a local folder."""
        return self.data[data.name]["local_path"]

    def input(self, item: Any, position: int) -> DatasetConsumptionConfig:
        """A step input as a named dataset (an ``mltable`` PipelineData as a table)."""
        if isinstance(item, PipelineData) and getattr(item, "data_type", None) == "mltable":
            return DatasetConsumptionConfig(
                item.name, Dataset.Tabular.from_mltable(self.data_path(item))
            )
        if isinstance(item, PipelineData):
            return DatasetConsumptionConfig(item.name, FileDataset([self.data_path(item)]))
        if isinstance(item, DatasetConsumptionConfig):
            dataset = self.value(item.dataset)
            return DatasetConsumptionConfig(item.name, dataset, item.mode)
        if isinstance(item, PipelineParameter):
            return DatasetConsumptionConfig(item.name, self.value(item))
        if isinstance(item, DataPath):
            return DatasetConsumptionConfig(
                "input" if position == 0 else f"input_{position}",
                Dataset.File.from_files(item, validate=False),
            )
        name = getattr(item, "name", None) or ("input" if position == 0 else f"input_{position}")
        return DatasetConsumptionConfig(name, item)

    def side_input(self, item: Any) -> Any:
        """A side input resolved for :func:`shardrun.engine.runs.run_parallel`'s ``side_inputs``.

        PipelineData becomes a dataset of its local folder (named after it), parameters
        take their values; other side inputs are passed as they are.
        """
        item = self.value(item)
        if isinstance(item, PipelineData):
            return DatasetConsumptionConfig(item.name, FileDataset([self.data_path(item)]))
        if isinstance(item, DatasetConsumptionConfig):
            return DatasetConsumptionConfig(item.name, self.value(item.dataset), item.mode)
        return item

    def argument(self, item: Any) -> str:
        """An argument as the string the script sees (data objects become local paths)."""
        item = self.value(item)
        if isinstance(item, PipelineData):
            return (
                self.data[item.name]["local_path"]
                if item.name in self.data
                else self.output_dir(item)
            )
        if isinstance(item, DatasetConsumptionConfig):
            item = self.value(item.dataset)
        if isinstance(item, FileDataset):
            return item.paths[0]
        if isinstance(item, AbstractDataset):
            return str(item.to_spec())
        return str(item)

    def datastore(self, data: PipelineData) -> Datastore:
        """The datastore a PipelineData lives on (the workspace's default if unnamed)."""
        store = data.datastore
        return store if isinstance(store, Datastore) else self.workspace.get_default_datastore()

    def output_dir(self, data: PipelineData) -> str:
        """The local folder a step writes a PipelineData into.

        On a local-folder datastore it is ``<datastore>/azureml/<run>/<name>`` itself; on a
        remote one a staging folder in the workspace, uploaded there once the step completes
        (:func:`upload_outputs`).
        """
        fs, root = self.datastore(data).filesystem()
        relative = Path("azureml", self.run_id, data.name)
        if isinstance(fs, LocalFileSystem):
            path = Path(root) / relative
        else:
            path = self.workspace.path / "pipeline_data" / self.datastore(data).name / relative
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def output_record(self, data: PipelineData) -> dict[str, str]:
        """How a PipelineData is found again: datastore, path on it, local folder."""
        return {
            "datastore": self.datastore(data).name,
            "path_on_datastore": f"azureml/{self.run_id}/{data.name}",
            "local_path": self.output_dir(data),
        }

    def upload_outputs(self, step: PipelineStep, outputs: dict[str, dict[str, str]]) -> None:
        """Copy a completed step's PipelineData staged locally to their remote datastores."""
        for data in step.outputs:
            store = self.datastore(data)
            fs, _root = store.filesystem()
            if not isinstance(fs, LocalFileSystem):
                record = outputs[data.name]
                store.upload(
                    record["local_path"],
                    record["path_on_datastore"],
                    overwrite=True,
                    show_progress=False,
                )


def _identity(item: Any, ctx: Context) -> str:
    """What an input or argument stands for, independent of this run's paths."""
    item = ctx.value(item)
    if isinstance(item, PipelineData):
        producer = ctx.data.get(item.name, {}).get("fingerprint", "written by this step")
        return f"PipelineData {item.name} ({producer})"
    return ctx.argument(item)


def _fingerprint(step: PipelineStep, ctx: Context, settings: dict[str, Any], code: Path) -> str:
    """The step's reuse key: PipelineData count by what produced them, not by their paths."""
    paths = []
    windows = []
    for position, item in enumerate(step.inputs):
        if not isinstance(item, PipelineData):
            named = ctx.input(item, position)
            paths.append((named.name, list(getattr(named.dataset, "paths", ()))))
            windows.append(getattr(named.dataset, "window", Window()).to_spec())
    identity: dict[str, Any] = {
        "step": type(step).__name__,
        "settings": settings,
        "inputs": [_identity(i, ctx) for i in step.inputs if isinstance(i, PipelineData)],
        "outputs": [d.name for d in step.outputs],
    }
    if any(windows):
        identity["windows"] = windows
    side = getattr(step, "side_inputs", [])
    if side:
        # Side inputs count like inputs: PipelineData by producer, the rest by their files.
        identity["side_inputs"] = [_identity(i, ctx) for i in side if isinstance(i, PipelineData)]
        for position, item in enumerate(side):
            if not isinstance(item, PipelineData):
                files = sides.as_file_dataset(ctx.side_input(item))
                paths.append((f"side input {position}", list(files.paths)))
                identity["side_inputs"].append(files.window.to_spec())
    arguments = [_identity(a, ctx) for a in step.arguments]
    with using(ctx.workspace):  # azureml:// inputs resolve in the pipeline's workspace
        return reuse.fingerprint(code, identity, paths, arguments)


def run_parallel_step(step: ParallelRunStep, ctx: Context, step_run_id: str) -> dict[str, Any]:
    """Run one ParallelRunStep; returns its record (status, outputs, reused_from)."""
    config = step.parallel_run_config.resolve(ctx.parameters)
    if step.models:
        from shardrun.workspace.models import model_dir

        model = step.models[0]
        env = dict(config.environment_variables or {})
        env["AZUREML_MODEL_DIR"] = str(model_dir(ctx.workspace, model.name, model.version))
        config = config.replace(environment_variables=env)
    inputs = [ctx.input(item, n) for n, item in enumerate(step.inputs)]
    side = [ctx.side_input(item) for item in step.side_inputs]
    arguments = [_step_argument(a, step.side_inputs, side, ctx) for a in step.arguments]
    outputs: dict[str, dict[str, str]] = {}
    output_dir: str | None = None
    if isinstance(step.output, PipelineData):
        outputs[step.output.name] = ctx.output_record(step.output)
        output_dir = outputs[step.output.name]["local_path"]
    elif step.output is not None:
        output_dir = str(step.output)
    key = _fingerprint(step, ctx, config.to_dict(), config.source_directory_path)
    previous = reuse.lookup(ctx.workspace.path, key) if step.allow_reuse else None
    if previous is not None:
        print(
            f"step {step.name}: reused run {previous['run_id']} (same script, config, "
            "inputs and arguments)",
            flush=True,
        )
        return {
            "status": "Completed",
            "reused_from": previous["run_id"],
            "outputs": previous["outputs"],
        }
    watcher = _ProgressPrinter(ctx.workspace.run_dir(step_run_id), step.name)
    watcher.start()
    try:
        result = run_parallel(
            config,
            inputs,
            output_dir,
            workspace=ctx.workspace,
            run_id=step_run_id,
            arguments=arguments,
            side_inputs=side,
            show_progress=False,
        )
    finally:
        watcher.stop()
    print(f"step {step.name}: {result}", flush=True)
    for output in outputs.values():
        output["fingerprint"] = key
    record = {"status": result.status, "reason": result.reason, "outputs": outputs}
    if result.status == "Completed":
        ctx.upload_outputs(step, outputs)
        reuse.remember(ctx.workspace.path, key, {"run_id": step_run_id, "outputs": outputs})
    return record


def _step_argument(value: Any, originals: list[Any], resolved: list[Any], ctx: Context) -> Any:
    """A side input's resolved object (``run_parallel`` makes it a path); else a string."""
    for original, side in zip(originals, resolved, strict=True):
        if sides.refers_to(value, original):
            return side
    return ctx.argument(value)


def run_script_step(step: PythonScriptStep, ctx: Context, step_run_id: str) -> dict[str, Any]:
    """Run one PythonScriptStep in its own process; returns its record."""
    code = Path(step.source_directory or ".").resolve()
    outputs = {d.name: ctx.output_record(d) for d in step.outputs}
    arguments = [ctx.argument(a) for a in step.arguments]
    key = _fingerprint(step, ctx, {"script": step.script_name, "env": step.environment}, code)
    previous = reuse.lookup(ctx.workspace.path, key) if step.allow_reuse else None
    if previous is not None:
        print(f"step {step.name}: reused run {previous['run_id']}", flush=True)
        return {
            "status": "Completed",
            "reused_from": previous["run_id"],
            "outputs": previous["outputs"],
        }
    logs = ctx.workspace.run_dir(step_run_id) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "std_log.txt", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(code / step.script_name), *arguments],
            cwd=code,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **step.environment},
        )
        try:
            code_ = process.wait()
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            raise
    status = "Completed" if code_ == 0 else "Failed"
    reason = (
        ""
        if code_ == 0
        else f"{step.script_name} exited with code {code_}; see {logs / 'std_log.txt'}"
    )
    print(f"step {step.name}: {status} {reason}".rstrip(), flush=True)
    for output in outputs.values():
        output["fingerprint"] = key
    if status == "Completed":
        ctx.upload_outputs(step, outputs)
        reuse.remember(ctx.workspace.path, key, {"run_id": step_run_id, "outputs": outputs})
    return {"status": status, "reason": reason, "outputs": outputs}


class _ProgressPrinter:
    """Print a step's progress overview line every few seconds (for wait_for_completion)."""

    def __init__(self, run_dir: Path, step: str) -> None:
        self._file = run_dir / "logs" / "job_progress_overview.txt"
        self._step = step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        last = ""
        while not self._stop.wait(PROGRESS_EVERY):
            try:
                lines = self._file.read_text().splitlines()
            except OSError:
                continue
            summary = next((line for line in lines if line.startswith("mini-batches:")), "")
            if summary and summary != last:
                print(f"step {self._step}: {summary}", flush=True)
                last = summary


def _cancel(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def drive(folder: Path) -> str:
    """Run the pipeline saved in ``folder``; returns its final status."""
    signal.signal(signal.SIGTERM, _cancel)
    with open(folder / "pipeline.pkl", "rb") as handle:
        saved = pickle.load(handle)
    pipeline: Pipeline = saved["pipeline"]
    record = read_json(folder / "run.json")
    ctx = Context(resolve_workspace(pipeline.workspace), record["run_id"], saved["parameters"])
    steps = record["steps"]
    _update(folder, status="Running", started=time.time(), pid=os.getpid())
    status, reason = "Completed", ""
    failed: set[str] = set()
    for step, entry in zip(pipeline.order, steps, strict=True):
        blocked = {d.name for d in step.data_inputs()} & failed
        if blocked or (status != "Completed" and not saved["continue_on_step_failure"]):
            entry["status"] = "Canceled" if status == "Canceled" else "NotStarted"
            failed.update(d.name for d in step.outputs)
            continue
        entry["status"] = "Running"
        _update(folder, steps=steps)
        print(f"step {step.name}: running as {entry['run_id']}", flush=True)
        try:
            if isinstance(step, ParallelRunStep):
                entry.update(run_parallel_step(step, ctx, entry["run_id"]))
            else:
                assert isinstance(step, PythonScriptStep)
                entry.update(run_script_step(step, ctx, entry["run_id"]))
        except KeyboardInterrupt:
            entry["status"], status, reason = "Canceled", "Canceled", "canceled by the user"
        except ShardrunError as e:
            entry.update(status="Failed", reason=str(e))
        ctx.data.update(entry.get("outputs", {}))
        if entry["status"] == "Canceled":
            status, reason = "Canceled", "canceled by the user"
        elif entry["status"] == "Failed" and status == "Completed":
            status, reason = "Failed", f"step {step.name} failed: {entry.get('reason', '')}"
        if entry["status"] != "Completed":
            failed.update(d.name for d in step.outputs)
        _update(folder, steps=steps)
    _update(folder, status=status, reason=reason, ended=time.time(), steps=steps)
    print(f"pipeline {record['run_id']}: {status} {reason}".rstrip(), flush=True)
    return status


def _detach(folder: Path) -> int:
    with open(folder / "driver.log", "ab") as log:
        driver = subprocess.Popen(
            [sys.executable, "-m", "shardrun.pipelines.driver", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    print(driver.pid)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``[--detach] FOLDER``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--detach":
        return _detach(Path(args[1]))
    status = drive(Path(args[0]))
    return 0 if status == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
