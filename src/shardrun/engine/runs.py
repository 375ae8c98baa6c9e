"""Run a ParallelRunConfig over inputs, end to end: the one-call API and resume.

``run_parallel`` checks everything it can before a worker starts (config, entry script,
inputs), creates ``<workspace>/runs/<run_id>/``, plans the mini-batches into the ledger,
schedules them, merges the output in mini-batch order and writes the reports. ``resume``
continues a run that failed, was cancelled or whose driver was killed: done mini-batches are
not run again.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardrun.config.parallel_run import ParallelRunConfig, validate_arguments
from shardrun.config.step_rules import validate_run_id
from shardrun.data import side_inputs as sides
from shardrun.data.factory import (
    AnyInput,
    DatasetConsumptionConfig,
    dataset_from_spec,
    named_inputs,
)
from shardrun.engine import finish
from shardrun.engine.destination import check_output_location
from shardrun.engine.drive import drive
from shardrun.engine.finish import STORAGE_ERRORS
from shardrun.engine.ledger import Counts, Ledger
from shardrun.engine.record import (
    driver_lock,
    inspect_run,
    output_lock,
    read_record,
    write_record,
)
from shardrun.engine.signals import Interrupts
from shardrun.engine.slots import Verdict
from shardrun.errors import ConfigError, RunNotFound
from shardrun.worker.entry_script import check_entry_script
from shardrun.workspace import ray_compute
from shardrun.workspace.workspace import Workspace, resolve_workspace, using

__all__ = ["RunResult", "inspect_run", "list_runs", "read_record", "resume", "run_parallel"]


@dataclass(frozen=True)
class RunResult:
    """What a run ended with. ``status`` uses Azure's words: Completed, Failed, Canceled."""

    run_id: str
    status: str
    output_file: Path | None
    output_dir: Path
    run_dir: Path
    succeeded_items: int
    failed_items: int
    failed_mini_batches: int
    total_mini_batches: int
    reason: str = ""
    workspace: Path | None = None

    def __str__(self) -> str:
        try:
            return (self.run_dir / "logs" / "job_result.txt").read_text().strip()
        except OSError:  # the disk was full: the verdict is in memory only
            return f"{self.status}. Reason: {self.reason}" if self.reason else self.status

    def resume(self, show_progress: bool = True) -> RunResult:
        """Continue this run (see :func:`resume`)."""
        return resume(self.run_id, workspace=self.workspace, show_progress=show_progress)


def new_run_id(config: ParallelRunConfig, name: str | None = None) -> str:
    """A fresh run id: the step name (or the script's name), a timestamp and a random tag."""
    stem = name or Path(config.entry_script).stem.replace("_", "-").lower()
    stem = re.sub(r"[^a-z0-9-]+", "-", stem).strip("-") or "run"  # a valid run id
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def run_parallel(
    config: ParallelRunConfig,
    inputs: AnyInput | Sequence[AnyInput],
    output: str | os.PathLike[str] | None = None,
    *,
    workspace: Workspace | str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    arguments: Sequence[Any] | None = None,
    side_inputs: Sequence[Any] | None = None,
    show_progress: bool = True,
    on_start: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the entry script over ``inputs`` in parallel and wait for the verdict.

    Args:
        config: The ParallelRunConfig (PipelineParameters take their default values).
        inputs: A folder, a glob, a list of paths, a FileDataset, or named inputs.
        output: The output folder (``AZUREML_BI_OUTPUT_PATH``); the append_row file goes in
            it. Defaults to ``<run_dir>/outputs/output``.
        workspace: The workspace folder (else ``$SHARDRUN_WORKSPACE``, else
            ``./shardrun-workspace``).
        run_id: A name for the run, new in the workspace: letters, digits, ``_``, ``-`` and
            ``.`` (not first, no ``..``), at most 255 (it names ``<workspace>/runs/<run_id>``).
        arguments: Extra ``sys.argv`` for the entry script (``--name value`` pairs). A side
            input among them becomes its local path.
        side_inputs: Reference data every worker reads whole, not split (Azure's
            ``side_inputs``): datasets, consumption configs, DataPaths or paths. Local
            ones are used where they are; others are downloaded once, before workers
            start, into ``<run_dir>/side_inputs/<name>/`` (see :mod:`shardrun.data.side_inputs`).
        show_progress: Show a progress bar in the terminal.
        on_start: Called with the run id once the run exists and its input is planned,
            before any worker starts (the CLI prints the id then).

    Raises:
        ConfigError: Something is wrong with the config, the inputs or the run id, or a
            live run already writes to ``output``; raised before any worker starts.
        StorageError: The run could not be created (a full disk); nothing is left behind.

    Ctrl-C (and SIGTERM where the program turns it into one, as the CLI does) cancels the
    run: it ends ``Canceled`` with its reports written, however many signals arrive. A run
    that fails or is canceled leaves no append_row file: the one an earlier run left in
    ``output`` is removed when this run starts (see :mod:`shardrun.engine.finish`).
    """
    config = config.resolve()
    check_entry_script(config.entry_script_path)
    with finish.storage("opening the workspace", "start the run again"):
        ws = resolve_workspace(workspace)
    with using(ws):  # azureml:// inputs name datastores of this workspace
        named = named_inputs(inputs)
    run_id = validate_run_id(run_id) if run_id is not None else new_run_id(config)
    run_dir = ws.run_dir(run_id)
    if run_dir.exists():
        raise ConfigError(
            f"run id {run_id!r} already exists in {ws.path}; resume it or pick another"
        )
    with using(ws):
        side = sides.plan(side_inputs, run_dir)
    args = validate_arguments(sides.replace_references(list(arguments or []), side))
    config = config.with_runtime_options(args)
    backend, backend_options = _backend_for(ws, config)
    if config.environment is not None:
        from shardrun.workspace.environment import Environment  # packaging: only when used

        if isinstance(config.environment, Environment):
            config.environment.check()
    output_dir = Path(output).resolve() if output is not None else run_dir / "outputs" / "output"
    check_output_location(output_dir)
    record = {
        "run_id": run_id,
        "status": "NotStarted",
        "created": time.time(),
        "config": config.to_dict(),
        "inputs": [{"name": n.name, "dataset": n.dataset.to_spec()} for n in named],
        "output_dir": str(output_dir),
        "arguments": [str(a) for a in args],
        "side_inputs": [s.to_record() for s in side],
        "workspace": str(ws.path),
        "backend": backend,
        "backend_options": backend_options,
    }
    with (
        Interrupts() as stop,
        finish.storage(f"creating run {run_id!r}", "start the run again"),
        output_lock(output_dir, run_id),
    ):
        try:
            (run_dir / "logs").mkdir(parents=True)
            with driver_lock(run_dir):
                write_record(run_dir, record)
                return _execute(run_dir, record, config, named, show_progress, stop, on_start)
        except (ConfigError, *STORAGE_ERRORS):
            # Nothing ran (the inputs are wrong, the disk is full): no half-made run.
            shutil.rmtree(run_dir, ignore_errors=True)
            raise


def _backend_for(ws: Workspace, config: ParallelRunConfig) -> tuple[str, dict[str, Any]]:
    """The backend (and its options) that runs on the config's compute target.

    Checked before anything starts: a Ray target needs the ``ray`` extra.
    """
    target = ray_compute.resolve(ws, config.compute_target)
    if not isinstance(target, ray_compute.RayCompute):
        return "local", {}
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(
            f"compute_target {target.name!r} is a Ray cluster, and Ray is not installed; "
            "install it with: pip install 'shardrun[ray]'",
            "compute_target",
        )
    if config.node_count > target.max_nodes:
        raise ConfigError(
            f"node_count must be at most the compute target's max_nodes ({target.max_nodes}); "
            f"got {config.node_count!r}",
            "node_count",
        )
    options = {
        "address": target.address,
        "gpus_per_worker": target.gpus_per_worker,
        "runtime_env": target.runtime_env,
    }
    return "ray", options


def resume(
    run_id: str,
    *,
    workspace: Workspace | str | os.PathLike[str] | None = None,
    show_progress: bool = True,
    on_start: Callable[[str], None] | None = None,
) -> RunResult:
    """Continue a run that failed, was cancelled or whose driver died.

    Done mini-batches are not run again; failed ones get a fresh set of ``run_max_try``
    tries. A completed run is returned as it is. A run whose driver was killed after its
    output was merged only gets its bookkeeping finished.

    Args:
        run_id: The run.
        workspace: Its workspace (see :func:`run_parallel`).
        show_progress: Show a progress bar in the terminal.
        on_start: Called with the run id once the run is found.

    Raises:
        ConfigError: ``run_id`` is not a valid run id.
        RunNotFound: No such run in the workspace.
        ConfigError: Another process drives the run, or a live run writes its output folder.
    """
    run_id = validate_run_id(run_id)
    again = f"`shardrun resume {run_id}`"
    with finish.storage("opening the workspace", again):
        ws = resolve_workspace(workspace)
    run_dir = ws.run_dir(run_id)
    record = read_record(run_dir)
    if on_start is not None:
        on_start(run_id)
    if record["status"] == "Completed":
        return _result(run_dir, record)
    config = ParallelRunConfig.from_dict(record["config"])
    named = [
        DatasetConsumptionConfig(item["name"], dataset_from_spec(item["dataset"]))
        for item in record["inputs"]
    ]
    output_dir = Path(record["output_dir"])
    with (
        Interrupts() as stop,
        finish.storage(f"resuming run {run_id!r}", again),
        driver_lock(run_dir),
    ):
        record = read_record(run_dir)  # the driver we waited for may have finished it
        if record["status"] == "Completed":
            return _result(run_dir, record)
        with output_lock(output_dir, run_id):
            return _execute(run_dir, record, config, named, show_progress, stop, resuming=True)


def list_runs(workspace: Workspace | str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The records of every run in the workspace, newest first, as :func:`inspect_run` sees them."""
    ws = resolve_workspace(workspace)
    records = []
    for run_dir in ws.runs_dir.iterdir():
        try:
            records.append(inspect_run(run_dir))
        except (RunNotFound, ValueError):
            continue
    return sorted(records, key=lambda r: -float(r.get("created", 0)))


def _execute(
    run_dir: Path,
    record: dict[str, Any],
    config: ParallelRunConfig,
    named: list[DatasetConsumptionConfig],
    show_progress: bool,
    interrupts: Interrupts,
    on_start: Callable[[str], None] | None = None,
    resuming: bool = False,
) -> RunResult:
    """Drive the run, then end it (:mod:`shardrun.engine.finish`) whatever happened."""
    started = time.monotonic()
    ledger: Ledger | None = None
    with using(resolve_workspace(record["workspace"])):
        try:
            finish.reserve(run_dir)
            ledger = Ledger.open(run_dir / "ledger.sqlite")
            end = drive(run_dir, record, config, named, ledger, show_progress, on_start, resuming)
        except KeyboardInterrupt:
            end = finish.End(Verdict("Canceled", interrupts.reason or "canceled"))
        except STORAGE_ERRORS as e:
            again = f"`shardrun resume {record['run_id']}`"
            end = finish.End(Verdict("Failed", finish.describe_storage(e, again), e))
        except BaseException:
            if ledger is not None:
                ledger.close()
            raise
        interrupts.shield()
        if end.verdict.status == "Canceled" and interrupts.reason:
            end = finish.End(Verdict("Canceled", interrupts.reason), end.init_errors)
        try:
            if ledger is not None:
                end = finish.seal(run_dir, ledger, end)
            elapsed = time.monotonic() - started
            record = finish.complete(run_dir, record, config, ledger, end, elapsed)
        finally:
            if ledger is not None:
                ledger.close()
    return _result(run_dir, record)


def _result(run_dir: Path, record: dict[str, Any]) -> RunResult:
    counts = Counts(**record.get("counts", {})) if record.get("counts") else None
    return RunResult(
        run_id=record["run_id"],
        status=record["status"],
        output_file=Path(record["output_file"]) if record.get("output_file") else None,
        output_dir=Path(record["output_dir"]),
        run_dir=run_dir,
        succeeded_items=counts.succeeded_items if counts else 0,
        failed_items=counts.failed_items if counts else 0,
        failed_mini_batches=counts.failed_batches if counts else 0,
        total_mini_batches=counts.total if counts else 0,
        reason=record.get("reason", ""),
        workspace=Path(record["workspace"]),
    )
