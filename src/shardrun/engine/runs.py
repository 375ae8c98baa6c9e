"""Run a ParallelRunConfig over inputs, end to end: the one-call API and resume.

``run_parallel`` checks everything it can before a worker starts (config, entry script,
inputs), creates ``<workspace>/runs/<run_id>/``, plans the mini-batches into the ledger,
schedules them, merges the output in mini-batch order and writes the reports. ``resume``
continues a run that failed, was cancelled or whose driver was killed: done mini-batches are
not run again.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardrun.config.parallel_run import ParallelRunConfig, validate_arguments
from shardrun.data import side_inputs as sides
from shardrun.data.datasets import (
    AnyInput,
    DatasetConsumptionConfig,
    dataset_from_spec,
    named_inputs,
)
from shardrun.engine import reports
from shardrun.engine.backends import get_backend
from shardrun.engine.ledger import Counts, Ledger
from shardrun.engine.messages import WorkerSpec
from shardrun.engine.monitor import Monitor
from shardrun.engine.partition import plan_input
from shardrun.engine.policy import Policy
from shardrun.engine.scheduler import Scheduler, Verdict
from shardrun.engine.writer import atomic_write, merge
from shardrun.errors import ConfigError, NoResultToAppend, RunNotFound, ShardrunError
from shardrun.worker.entry_script import check_entry_script
from shardrun.workspace import compute
from shardrun.workspace.environment import Environment
from shardrun.workspace.workspace import Workspace, resolve_workspace, using

RUN_RECORD = "run.json"


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
        return (self.run_dir / "logs" / "job_result.txt").read_text().strip()

    def resume(self, show_progress: bool = True) -> RunResult:
        """Continue this run (see :func:`resume`)."""
        return resume(self.run_id, workspace=self.workspace, show_progress=show_progress)


def new_run_id(config: ParallelRunConfig, name: str | None = None) -> str:
    """A fresh run id: the step name (or the script's name), a timestamp and a random tag."""
    stem = name or Path(config.entry_script).stem.replace("_", "-").lower()
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def list_runs(workspace: Workspace | str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The records of every run in the workspace, newest first."""
    ws = resolve_workspace(workspace)
    records = []
    for run_dir in ws.runs_dir.iterdir():
        try:
            records.append(read_record(run_dir))
        except (RunNotFound, ValueError):
            continue
    return sorted(records, key=lambda r: -float(r.get("created", 0)))


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
) -> RunResult:
    """Run the entry script over ``inputs`` in parallel and wait for the verdict.

    Args:
        config: The ParallelRunConfig (PipelineParameters take their default values).
        inputs: A folder, a glob, a list of paths, a FileDataset, or named inputs.
        output: The output folder (``AZUREML_BI_OUTPUT_PATH``); the append_row file goes in
            it. Defaults to ``<run_dir>/outputs/output``.
        workspace: The workspace folder (else ``$SHARDRUN_WORKSPACE``, else
            ``./shardrun-workspace``).
        run_id: A name for the run; must be new in the workspace.
        arguments: Extra ``sys.argv`` for the entry script (``--name value`` pairs). A side
            input among them becomes its local path.
        side_inputs: Reference data every worker reads whole, not split (Azure's
            ``side_inputs``): datasets, consumption configs, DataPaths or paths. Local
            ones are used where they are; others are downloaded once, before workers
            start, into ``<run_dir>/side_inputs/<name>/`` (see :mod:`shardrun.data.side_inputs`).
        show_progress: Show a progress bar in the terminal.

    Raises:
        ConfigError: Something is wrong with the config, the inputs or the run id; raised
            before any worker starts.
    """
    config = config.resolve()
    check_entry_script(config.entry_script_path)
    named = named_inputs(inputs)
    ws = resolve_workspace(workspace)
    run_id = run_id or new_run_id(config)
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
    if isinstance(config.environment, Environment):
        config.environment.check()
    output_dir = Path(output).resolve() if output is not None else run_dir / "outputs" / "output"
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
    (run_dir / "logs").mkdir(parents=True)
    _write_record(run_dir, record)
    try:
        return _execute(run_dir, record, config, named, show_progress)
    except ConfigError:
        # Nothing ran (the inputs are wrong): leave no half-made run behind.
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _backend_for(ws: Workspace, config: ParallelRunConfig) -> tuple[str, dict[str, Any]]:
    """The backend (and its options) that runs on the config's compute target.

    Checked before anything starts: a Ray target needs the ``ray`` extra.
    """
    target = compute.resolve(ws, config.compute_target)
    if not isinstance(target, compute.RayCompute):
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
) -> RunResult:
    """Continue a run that failed, was cancelled or whose driver died.

    Done mini-batches are not run again; failed ones get a fresh set of ``run_max_try``
    tries. A completed run is returned as it is.

    Raises:
        RunNotFound: No such run in the workspace.
    """
    ws = resolve_workspace(workspace)
    run_dir = ws.run_dir(run_id)
    record = read_record(run_dir)
    config = ParallelRunConfig.from_dict(record["config"])
    if record["status"] == "Completed":
        return _result(run_dir, record)
    named = [
        DatasetConsumptionConfig(item["name"], dataset_from_spec(item["dataset"]))
        for item in record["inputs"]
    ]
    return _execute(run_dir, record, config, named, show_progress, resuming=True)


def read_record(run_dir: Path) -> dict[str, Any]:
    """The run's ``run.json``."""
    try:
        return dict(json.loads((run_dir / RUN_RECORD).read_text()))
    except FileNotFoundError:
        raise RunNotFound(f"no run {run_dir.name!r} in {run_dir.parent.parent}") from None


def _write_record(run_dir: Path, record: dict[str, Any]) -> None:
    with atomic_write(run_dir / RUN_RECORD, "w", fsync=False) as handle:
        json.dump(record, handle, indent=2)


@contextmanager
def _driver_lock(run_dir: Path) -> Iterator[None]:
    with open(run_dir / "driver.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"run {run_dir.name!r} is being driven by another process") from None
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def _plan(ledger: Ledger, config: ParallelRunConfig, named: list[DatasetConsumptionConfig]) -> None:
    if ledger.get_meta("planned") == "1":
        return
    ledger.clear_plan()
    added = 0
    for item in named:
        added += ledger.add_mini_batches(plan_input(item.dataset, config, item.name, added))
    if added == 0:
        names = ", ".join(repr(n.dataset) for n in named)
        raise ConfigError(f"inputs {names} matched no data; nothing to process")
    ledger.set_meta("planned", "1")


def _execute(
    run_dir: Path,
    record: dict[str, Any],
    config: ParallelRunConfig,
    named: list[DatasetConsumptionConfig],
    show_progress: bool,
    resuming: bool = False,
) -> RunResult:
    logs = run_dir / "logs"
    started = time.monotonic()
    ws = resolve_workspace(record["workspace"])
    with _driver_lock(run_dir), using(ws):
        ledger = Ledger.open(run_dir / "ledger.sqlite")
        try:
            _plan(ledger, config, named)
            sides.fetch(run_dir, record.get("side_inputs", []))
            if resuming:
                ledger.reset_running()
                ledger.reopen_failed()
            record.update(status="Running", started=time.time())
            _write_record(run_dir, record)
            options = {item.name: item.dataset.read_options() for item in named}
            verdict, init_errors = _schedule(
                run_dir, record, config, ledger, options, show_progress
            )
            verdict, output_file = _finish_output(run_dir, record, config, ledger, verdict)
            counts = ledger.counts()
            reports.write_processed_csv(ledger, logs)
            reports.write_job_error(ledger.attempts(failed_only=True), init_errors, logs)
        finally:
            ledger.close()
        elapsed = time.monotonic() - started
        text = reports.summary(verdict.status, counts, verdict.reason, output_file, elapsed)
        reports.write_job_result(text, logs)
        reports.write_overview(logs, record["run_id"], verdict.status, counts, elapsed)
        record.update(
            status=verdict.status,
            reason=verdict.reason,
            ended=time.time(),
            output_file=str(output_file) if output_file else None,
            counts=counts.__dict__,
        )
        _write_record(run_dir, record)
    return _result(run_dir, record)


def _schedule(
    run_dir: Path,
    record: dict[str, Any],
    config: ParallelRunConfig,
    ledger: Ledger,
    input_options: dict[str, dict[str, Any]],
    show_progress: bool,
) -> tuple[Verdict, list[Any]]:
    spec = WorkerSpec(
        entry_script=str(config.entry_script_path),
        source_directory=str(
            Path(config.source_directory or config.entry_script_path.parent).resolve()
        ),
        run_dir=str(run_dir),
        output_dir=record["output_dir"],
        output_action=config.output_action,
        append_row_format=config.append_row_format,
        arguments=tuple(record["arguments"]),
        environment=dict(config.environment_variables or {}),
        logging_level=config.logging_level,
        mini_batch_format=config.mini_batch_format,
        input_options=input_options,
        workspace=record["workspace"],
    )
    workers = config.processes_per_node * config.node_count
    policy = Policy(
        workers=workers,
        run_max_try=config.run_max_try,
        run_invocation_timeout=float(config.run_invocation_timeout),
        error_threshold=config.error_threshold,
        allowed_failed_count=config.allowed_failed_count,
        allowed_failed_percent=config.allowed_failed_percent,
        progress_timeout=config.progress_timeout,
        init_failure_limit=3 * config.processes_per_node * config.node_count,
        check_columns=config.append_row_format in ("csv", "parquet")
        or config.append_row_dataframe_header,
    )
    backend = get_backend(
        record.get("backend", "local"),
        nodes=config.node_count,
        **record.get("backend_options", {}),
    )
    monitor = Monitor(
        record["run_id"], run_dir / "logs", show_progress, config.resource_monitor_interval
    )
    scheduler = Scheduler(ledger, backend, spec, policy, on_progress=monitor)
    with monitor:
        verdict = scheduler.run()
        monitor(scheduler)
    return verdict, scheduler.init_errors


def _finish_output(
    run_dir: Path,
    record: dict[str, Any],
    config: ParallelRunConfig,
    ledger: Ledger,
    verdict: Verdict,
) -> tuple[Verdict, Path | None]:
    if verdict.status != "Completed" or config.output_action != "append_row":
        return verdict, None
    counts = ledger.counts()
    if counts.succeeded_items == 0:
        first = ledger.first_error()
        cause = f"{first.error.type}: {first.error.message}" if first and first.error else "none"
        error = NoResultToAppend(
            f"there is no succeeded mini-batch item returned from run(); first error: {cause}"
        )
        return Verdict("Failed", str(error), error), None
    output_dir = Path(record["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    destination = output_dir / config.append_row_file_name
    try:
        merge(
            ledger.parts,
            destination,
            config.append_row_format,
            header=config.append_row_dataframe_header,
        )
    except (OSError, ShardrunError, ValueError) as e:
        return Verdict("Failed", f"merging the output into {destination} failed: {e}", e), None
    shutil.rmtree(run_dir / "parts", ignore_errors=True)
    return verdict, destination


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
