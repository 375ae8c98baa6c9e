"""The ``shardrun`` command: a thin client of the Python API.

``shardrun run JOB.yaml`` prints the run id on its first line (once the run exists) and the
output path on its last; it exits 0 when the run Completed, 1 when it Failed, 130 when it
was Canceled and 2 for a usage or config error, or a run that could not be created (one line
on stderr, no run folder). ``shardrun resume RUN`` behaves the same.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from functools import partial, wraps
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from shardrun.errors import ConfigError, EntryScriptError, RunNotFound, StorageError

P = ParamSpec("P")
R = TypeVar("R")
EXIT_CODES = {"Completed": 0, "Failed": 1, "Canceled": 130}


def _checked(check: Callable[[Any], Any]) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback: a value that ``check`` rejects is one line on stderr, exit 2.

    (A ``click.BadParameter`` would print the whole usage block.)
    """

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(value)
        except ConfigError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(2)

    return callback


def _check_workspace(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"--workspace must be a folder (made if missing); got {str(path)!r}, a file"
        )
    return path


def _check_run_id(run_id: str) -> str:
    from shardrun.config.step_rules import validate_run_id

    return validate_run_id(run_id)


workspace_option = click.option(
    "--workspace",
    type=click.Path(path_type=Path),
    default=None,
    callback=_checked(_check_workspace),
    help="Workspace folder (default: $SHARDRUN_WORKSPACE, else ./shardrun-workspace).",
)
run_id_argument = click.argument("run_id", callback=_checked(_check_run_id))


def _user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """A user's mistake: one line on stderr, exit status 2; Ctrl-C: 130 (no traceback)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (ConfigError, EntryScriptError, RunNotFound, StorageError) as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            # Ctrl-C before the scheduler started (e.g. while listing the input).
            click.echo("canceled", err=True)
            _exit(130)

    return wrapper


def _exit(code: int) -> NoReturn:
    """Exit with ``code`` once the run has ended and is recorded: further signals are ignored.

    A second Ctrl-C or SIGTERM that lands while the process is ending (the end of a cancel is
    quick, the interpreter's shutdown is not) would otherwise kill it by that signal and lose
    the exit status the run earned.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(code)


def _cancel_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> NoReturn:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _workspace_path(workspace: Path | None) -> Path:
    """The workspace folder, found as every command finds it, without creating it."""
    from shardrun.workspace.workspace import Workspace, current

    return Workspace(workspace).path if workspace is not None else current().path


def _find_run(run_id: str, workspace: Path | None) -> Path:
    """The run folder of ``run_id`` or of the one run whose id starts with it."""
    from shardrun.engine.history import find_run

    return find_run(_workspace_path(workspace), run_id)


def _worker_logs(run_dir: Path, worker: str | None, follow: bool) -> None:
    """``shardrun logs --worker/--follow``: print worker log files, or follow them."""
    from shardrun.engine import history, readback
    from shardrun.ui import tables

    files = readback.worker_logs(run_dir, worker)  # an unknown --worker fails here
    if not follow:
        for path in files:
            click.echo(f"--- {path}")
            click.echo(path.read_text(errors="replace").rstrip())
        return
    # Listed again at every poll: workers that start later are followed too.
    listed = partial(readback.worker_logs, run_dir, worker)
    for path, text in readback.follow(listed, partial(history.is_over, run_dir)):
        prefix = tables.log_prefix(path, run_dir)
        for line in text.splitlines():
            click.echo(f"{prefix} {line}")


def _announce(run_id: str) -> None:
    click.echo(run_id)


def _finish(result: Any) -> NoReturn:
    click.echo(str(result))
    click.echo(str(result.output_file or result.output_dir))
    _exit(EXIT_CODES.get(result.status, 1))


@click.group()
@click.version_option(package_name="shardrun")
def main() -> None:
    """shardrun: run an entry script over a large dataset in parallel, with Azure ML
    ParallelRunStep's contract (on this machine; a Ray backend is next)."""


@main.command()
@click.argument("job", type=click.Path(path_type=Path))
@workspace_option
@click.option(
    "--run-id",
    default=None,
    callback=_checked(_check_run_id),
    help="Name of the new run (default: generated): letters, digits, '_', '-' and '.'.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a job key, e.g. --set mini_batch_size=20 --set retry_settings.timeout=30.",
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option(
    "--strict-environment",
    is_flag=True,
    help="A package pinned at another version than installed is an error, not a warning.",
)
@_user_errors
def run(
    job: Path,
    workspace: Path | None,
    run_id: str | None,
    overrides: tuple[str, ...],
    progress: bool,
    strict_environment: bool,
) -> None:
    """Run the job described by JOB: a parallel job, or a pipeline job (type: pipeline)."""
    from shardrun.config.jobspec import load_job
    from shardrun.data.factory import Dataset
    from shardrun.engine.runs import new_run_id, run_parallel
    from shardrun.pipelines.yaml_job import is_pipeline_file
    from shardrun.workspace.workspace import Workspace, current, using

    if is_pipeline_file(job):
        _run_pipeline_job(job, workspace, overrides, progress, strict_environment)
    # Every lookup (azureml:// inputs, registered names) uses --workspace, not just the run.
    with using(Workspace(workspace) if workspace is not None else current()) as ws:
        spec = load_job(job, overrides)
        run_id = run_id or new_run_id(spec.config, spec.name)
        # A v2 ``mltable`` input is tabular (an MLTable file, or CSV/Parquet/JSONL by
        # extension); ``uri_folder`` and ``uri_file`` inputs are files.
        if spec.input_type == "mltable":
            dataset = Dataset.Tabular.from_mltable(list(spec.inputs))
        else:
            dataset = Dataset.File.from_files(list(spec.inputs))
        inputs = dataset.as_named_input(spec.input_name)
    _cancel_on_sigterm()
    result = run_parallel(
        spec.config,
        inputs,
        spec.output,
        workspace=ws.path,
        run_id=run_id,
        arguments=list(spec.arguments),
        show_progress=progress,
        on_start=_announce,
    )
    _finish(result)


def _run_pipeline_job(
    job: Path, workspace: Path | None, overrides: tuple[str, ...], progress: bool, strict: bool
) -> NoReturn:
    """Submit a ``type: pipeline`` job file and wait: run id first, outputs last."""
    from shardrun.pipelines.yaml_job import load_pipeline_job
    from shardrun.workspace.workspace import resolve_workspace

    ws = resolve_workspace(workspace)
    loaded = load_pipeline_job(job, ws, overrides, strict_environment=strict)
    pipeline_run = loaded.submit()
    click.echo(pipeline_run.id)
    _cancel_on_sigterm()
    try:
        status = pipeline_run.wait_for_completion(show_output=progress, raise_on_error=False)
    except KeyboardInterrupt:
        pipeline_run.cancel()
        status = "Canceled"
    reason = pipeline_run.get_details().get("reason") or ""
    click.echo(f"{status}: pipeline {pipeline_run.id} {reason}".rstrip())
    click.echo(" ".join(loaded.outputs.values()) or str(ws.path))
    _exit(EXIT_CODES.get(status, 1))


@main.command()
@run_id_argument
@workspace_option
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@_user_errors
def resume(run_id: str, workspace: Path | None, progress: bool) -> None:
    """Continue RUN_ID: done mini-batches are not run again."""
    from shardrun.engine.runs import resume as resume_run

    run_id = _find_run(run_id, workspace).name
    _cancel_on_sigterm()
    _finish(resume_run(run_id, workspace=workspace, show_progress=progress, on_start=_announce))


@main.command()
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--limit", default=50, show_default=True, help="Show at most this many runs.")
@_user_errors
def runs(workspace: Path | None, as_json: bool, limit: int) -> None:
    """List the runs of the workspace, newest first."""
    from rich.console import Console

    from shardrun.engine.history import summaries
    from shardrun.ui import tables

    found = summaries(_workspace_path(workspace))[: max(0, limit)]
    if as_json:
        click.echo(tables.runs_json(found))
    else:
        tables.print_runs(found, Console())


@main.command()
@run_id_argument
@workspace_option
@click.option("--wait", default=60.0, show_default=True, help="Seconds to wait for the verdict.")
@_user_errors
def cancel(run_id: str, workspace: Path | None, wait: float) -> None:
    """Stop a running run: its driver ends it as Canceled (resume continues it).

    RUN_ID may be any unique prefix of the id. Exits 0 once the run is Canceled.
    """
    from shardrun.engine import history

    run_dir = _find_run(run_id, workspace)
    pid = history.cancel(run_dir)
    click.echo(f"{run_dir.name}: sent SIGTERM to its driver (pid {pid})")
    status = history.wait_final(run_dir, wait)
    click.echo(f"{run_dir.name}: {status}")
    sys.exit(0 if status in history.FINAL else 1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8265, show_default=True, help="Port to listen on.")
@workspace_option
@click.option(
    "--token",
    default=None,
    envvar="SHARDRUN_UI_TOKEN",
    help="Token every request must carry (made and printed when --host is not loopback).",
)
@_user_errors
def ui(host: str, port: int, workspace: Path | None, token: str | None) -> None:
    """Serve the dashboard (runs, pipeline runs, /metrics); read-only. Needs shardrun[ui]."""
    try:
        from shardrun.ui.server import serve
    except ImportError as e:
        raise ConfigError(
            f"shardrun ui needs the 'ui' extra ({e.name} is missing): pip install 'shardrun[ui]'"
        ) from None
    # uvicorn stops cleanly on SIGINT and SIGTERM.
    serve(_workspace_path(workspace), host, port, token)


@main.command()
@run_id_argument
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print the raw run record (JSON).")
@_user_errors
def show(run_id: str, workspace: Path | None, as_json: bool) -> None:
    """Summarise one run: status, counts, throughput, top errors, output, config.

    RUN_ID may be any unique prefix of the id.
    """
    from rich.console import Console

    from shardrun.engine.history import inspect_run
    from shardrun.ui import tables

    run_dir = _find_run(run_id, workspace)
    record = inspect_run(run_dir)
    if as_json:
        click.echo(tables.show_json(run_dir, record))
    else:
        tables.print_show(run_dir, record, Console())


@main.command()
@run_id_argument
@workspace_option
@click.option("--errors", is_flag=True, help="Also print logs/job_error.txt.")
@click.option(
    "--worker", default=None, help="One worker's logs: process000, node0/process000 or a PID."
)
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing worker log lines until the run ends."
)
@_user_errors
def logs(
    run_id: str, workspace: Path | None, errors: bool, worker: str | None, follow: bool
) -> None:
    """Print a run's progress and verdict (grouped errors with --errors), or worker logs.

    RUN_ID may be any unique prefix of the id.
    """
    from shardrun.engine import history
    from shardrun.ui import tables

    run_dir = _find_run(run_id, workspace)
    history.read_record(run_dir)
    if worker is not None or follow:
        _worker_logs(run_dir, worker, follow)
        return
    for path, text in tables.report_texts(run_dir, errors):
        click.echo(f"--- {path}")
        click.echo(text)
    click.echo(f"--- worker logs: {run_dir / 'logs' / 'user'}")


@main.command()
def doctor() -> None:
    """Say which implementation answers each azureml.* import: Azure's or shardrun's."""
    import _shardrun_azureml as fallback

    if fallback.active():
        click.echo("azureml fallback: active (shardrun_azureml.pth); installed Azure packages win")
    else:
        click.echo(
            "azureml fallback: not active in this Python (shardrun_azureml.pth missing; "
            "reinstall shardrun); entry scripts in shardrun workers still get it"
        )
        fallback.install()
    for name in fallback.MODULES:
        provider, where = fallback.which(name)
        label = {"shardrun": "shardrun", "azure": "Azure ML", "missing": "missing"}[provider]
        click.echo(f"{name:42} {label:9} {where}")
