"""One drive of a run: start the workers, plan the ledger meanwhile, schedule, merge.

:func:`drive` is what :mod:`shardrun.engine.runs` calls for a new run and for a resume,
inside the run's locks. The workers are started first: they import the entry script and
run ``init()`` while the driver lists the inputs and writes the ledger (:func:`plan`), so
that planning and start-up overlap instead of adding up. Dispatch begins once the plan is
complete and durable (a driver killed while planning leaves ``planned`` unset; its resume
plans again from nothing, before any mini-batch runs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shardrun.config.parallel_run import ParallelRunConfig
from shardrun.data import side_inputs as sides
from shardrun.data.factory import DatasetConsumptionConfig
from shardrun.engine import finish
from shardrun.engine.backends import get_backend
from shardrun.engine.backends.base import Backend
from shardrun.engine.ledger import Ledger
from shardrun.engine.messages import WorkerSpec
from shardrun.engine.monitor import Monitor
from shardrun.engine.partition import plan_input
from shardrun.engine.policy import Policy
from shardrun.engine.record import write_record
from shardrun.engine.scheduler import Scheduler
from shardrun.engine.slots import Verdict
from shardrun.errors import ConfigError


def plan(ledger: Ledger, config: ParallelRunConfig, named: list[DatasetConsumptionConfig]) -> None:
    """Plan every input into the ledger, unless an earlier drive completed the plan."""
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


def drive(
    run_dir: Path,
    record: dict[str, Any],
    config: ParallelRunConfig,
    named: list[DatasetConsumptionConfig],
    ledger: Ledger,
    show_progress: bool,
    on_start: Callable[[str], None] | None,
    resuming: bool,
) -> finish.End:
    """Run what the ledger has pending and merge the output; the End says how it ended."""
    merged = finish.merged_output(ledger)
    if merged is not None:
        # An earlier driver was killed after the merge was recorded: nothing runs again.
        finish.clear_output(run_dir, record, config, merged=True)
        if not merged.exists():
            reason = f"the merged output {merged} was removed after the run; start a new run"
            return finish.End(Verdict("Failed", reason))
        return finish.End(Verdict("Completed"), output_file=merged)
    sides.fetch(run_dir, record.get("side_inputs", []))  # before init() may read them
    finish.clear_output(run_dir, record, config)
    options = {item.name: item.dataset.read_options() for item in named}
    spec, policy = _worker_spec(run_dir, record, config, options)
    backend = get_backend(
        record.get("backend", "local"),
        nodes=config.node_count,
        **record.get("backend_options", {}),
    )
    # Workers import the entry script and run init() while the driver plans the ledger.
    backend.start(spec, policy.workers)
    try:
        plan(ledger, config, named)
        ledger.reset_running()
        if resuming:
            ledger.reopen_failed()
        record.update(status="Running", started=time.time())
        write_record(run_dir, record)
        if on_start is not None:
            on_start(record["run_id"])
        verdict, init_errors = _schedule(
            run_dir, record, config, ledger, backend, (spec, policy), show_progress
        )
    except BaseException:
        backend.shutdown(graceful=False)  # no worker may outlive an interrupted scheduler
        raise
    return finish.merge_output(record, config, ledger, finish.End(verdict, init_errors))


def _worker_spec(
    run_dir: Path,
    record: dict[str, Any],
    config: ParallelRunConfig,
    input_options: dict[str, dict[str, Any]],
) -> tuple[WorkerSpec, Policy]:
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
        resource_monitor_interval=float(config.resource_monitor_interval),
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
    return spec, policy


def _schedule(
    run_dir: Path,
    record: dict[str, Any],
    config: ParallelRunConfig,
    ledger: Ledger,
    backend: Backend,
    workers: tuple[WorkerSpec, Policy],
    show_progress: bool,
) -> tuple[Verdict, list[Any]]:
    """Schedule the planned ledger on ``backend``, whose workers were started already."""
    spec, policy = workers
    # Workers the driver cannot see sample themselves (spec.resource_monitor_interval).
    interval = 0.0 if backend.workers_sample_themselves else spec.resource_monitor_interval
    monitor = Monitor(record["run_id"], run_dir / "logs", show_progress, interval)
    scheduler = Scheduler(ledger, backend, spec, policy, on_progress=monitor)
    with monitor:
        verdict = scheduler.run(start_workers=False)
        monitor(scheduler)
    return verdict, scheduler.init_errors
