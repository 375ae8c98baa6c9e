"""``RunDetails(run).show()``: a live view of a pipeline run or a run, as in Azure's widget.

In a Jupyter kernel with ``ipywidgets`` (``pip install 'shardrun[notebook]'``) it shows a
progress bar, the counts, the steps and the failed mini-batches, refreshed every two
seconds until the run ends. Elsewhere it prints the same as a one-screen text summary.
It takes a :class:`~shardrun.pipelines.experiment.PipelineRun`, a step run or the
``RunResult`` of ``run_parallel`` (anything with a ``run_dir``).
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardrun.pipelines.experiment import FINAL, PipelineRun

REFRESH = 2.0
FAILURES_SHOWN = 10


@dataclass
class View:
    """What the widget and the text summary show, read afresh on every refresh."""

    title: str
    status: str
    finished: int = 0
    total: int = 0
    counts: str = ""
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)


def _rows(run: Any) -> tuple[str, list[tuple[str, str, str, str]]]:
    if isinstance(run, PipelineRun):
        rows = []
        for step in run.get_steps():
            details = step.get_details()
            progress = _progress(step.run_dir) if details["status"] != "NotStarted" else ""
            note = f"reused {details['reused_from']}" if details.get("reused_from") else progress
            rows.append((step.name, details["status"], step.id, note))
        return f"Pipeline run {run.id}: {run.get_status()}", rows
    return f"Run {_run_id(run)}: {_status(run)}", [
        (_run_id(run), _status(run), str(run.run_dir), "")
    ]


def _progress(run_dir: Path) -> str:
    try:
        lines = (run_dir / "logs" / "job_progress_overview.txt").read_text().splitlines()
    except OSError:
        return ""
    return next((line for line in lines if line.startswith("mini-batches:")), "")


def _run_id(run: Any) -> str:
    return str(getattr(run, "run_id", None) or getattr(run, "id", "") or Path(run.run_dir).name)


def _status(run: Any) -> str:
    if isinstance(run, PipelineRun):
        return run.get_status()
    from shardrun.engine.history import read_record

    try:
        return str(read_record(Path(run.run_dir)).get("status", ""))
    except Exception:  # a run folder that is gone: what the object says
        return str(getattr(run, "status", ""))


def view(run: Any) -> View:
    """Read the run's state now."""
    from shardrun.engine import history, readback

    title, rows = _rows(run)
    status = _status(run)
    if isinstance(run, PipelineRun):
        folders = [step.run_dir for step in run.get_steps()]
        done = sum(1 for r in rows if r[1] == "Completed")
        result = View(title, status, done, len(rows), f"{done} of {len(rows)} steps completed")
    else:
        folders = [Path(run.run_dir)]
        s = history.summarise(folders[0])
        counts = (
            f"{s.finished} of {s.total} mini-batches ({s.done} done, {s.failed} failed); "
            f"{s.succeeded_items} items succeeded, {s.failed_items} failed; "
            f"{s.items_per_second:,.1f} items/s"
        )
        result = View(title, status, s.finished, s.total, counts)
    result.rows = rows
    for folder in folders:
        for attempt in readback.failures(folder, limit=FAILURES_SHOWN):
            error = attempt.error
            where = f"{folder.name} mini-batch {attempt.index} attempt {attempt.attempt}"
            message = f"{error.type}: {error.message}" if error else ""
            result.failures.append((where, message, readback.mini_batch_inputs(attempt.files)))
    result.failures = result.failures[:FAILURES_SHOWN]
    return result


class RunDetails:
    """Azure's ``RunDetails`` widget for a PipelineRun, a step run or a RunResult."""

    def __init__(self, run_instance: Any) -> None:
        self.run = run_instance

    def get_table(self) -> tuple[str, list[tuple[str, str, str, str]]]:
        """The title and the rows (step, status, run id, progress) shown."""
        return _rows(self.run)

    def _html(self, current: View | None = None) -> str:
        current = current or view(self.run)
        cell = "<td style='padding:2px 8px'>{}</td>"
        body = "".join(
            "<tr>" + "".join(cell.format(html.escape(c)) for c in row) + "</tr>"
            for row in current.rows
        )
        head = "".join(f"<th>{h}</th>" for h in ("step", "status", "run", "progress"))
        text = (
            f"<b>{html.escape(current.title)}</b><div>{html.escape(current.counts)}</div>"
            f"<table><tr>{head}</tr>{body}</table>"
        )
        if current.failures:
            rows = "".join(
                "<tr>" + "".join(cell.format(html.escape(c)) for c in failure) + "</tr>"
                for failure in current.failures
            )
            text += (
                "<b>Failed mini-batches</b><table><tr><th>where</th><th>error</th>"
                f"<th>inputs</th></tr>{rows}</table>"
            )
        return text

    def widget(self) -> Any:
        """The ipywidgets view (a VBox: progress bar and HTML), refreshed by :meth:`refresh`."""
        import ipywidgets

        self._bar = ipywidgets.IntProgress(min=0, max=1, value=0, description="progress")
        self._body = ipywidgets.HTML()
        self.refresh()
        return ipywidgets.VBox([self._bar, self._body])

    def refresh(self) -> View:
        """Read the run again and update the widget; returns what it shows."""
        current = view(self.run)
        self._bar.max = max(1, current.total)
        self._bar.value = current.finished
        self._bar.bar_style = {"Completed": "success", "Failed": "danger"}.get(
            current.status, "info"
        )
        self._body.value = self._html(current)
        return current

    def show(self) -> None:
        """Display the view (live in a notebook, a text summary elsewhere)."""
        try:
            import ipywidgets  # noqa: F401
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            self._print()
            return
        if get_ipython() is None:
            self._print()
            return
        display(self.widget())

        def refresh() -> None:
            stop = threading.Event()
            while not stop.wait(REFRESH):
                if self.refresh().status in FINAL:
                    return

        threading.Thread(target=refresh, daemon=True).start()

    def _print(self) -> None:
        from rich.console import Console
        from rich.table import Table

        current = view(self.run)
        console = Console()
        table = Table("step", "status", "run", "progress", title=current.title)
        for row in current.rows:
            table.add_row(*row)
        console.print(table)
        console.print(current.counts, highlight=False)
        if current.failures:
            console.print("Failed mini-batches:")
        for where, error, inputs in current.failures:
            console.print(f"  {where}: {error}", highlight=False, soft_wrap=True)
            console.print(f"    inputs: {inputs}", highlight=False, soft_wrap=True)
