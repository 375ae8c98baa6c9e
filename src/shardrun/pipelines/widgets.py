"""``RunDetails(run).show()``: a live view of a pipeline run or a run, as in Azure's widget.

In a Jupyter kernel with ``ipywidgets`` (``pip install 'shardrun[notebook]'``) it shows a
table that refreshes every two seconds until the run ends; elsewhere it prints the table
once.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

from shardrun.pipelines.experiment import FINAL, PipelineRun

REFRESH = 2.0


def _rows(run: Any) -> tuple[str, list[tuple[str, str, str, str]]]:
    if isinstance(run, PipelineRun):
        rows = []
        for step in run.get_steps():
            details = step.get_details()
            progress = _progress(step.run_dir) if details["status"] != "NotStarted" else ""
            note = f"reused {details['reused_from']}" if details.get("reused_from") else progress
            rows.append((step.name, details["status"], step.id, note))
        return f"Pipeline run {run.id}: {run.get_status()}", rows
    return f"Run {run.run_id}: {run.status}", [(run.run_id, run.status, str(run.run_dir), "")]


def _progress(run_dir: Path) -> str:
    try:
        lines = (run_dir / "logs" / "job_progress_overview.txt").read_text().splitlines()
    except OSError:
        return ""
    return next((line for line in lines if line.startswith("mini-batches:")), "")


class RunDetails:
    """Azure's ``RunDetails`` widget for a PipelineRun or a RunResult."""

    def __init__(self, run_instance: Any) -> None:
        self.run = run_instance

    def get_table(self) -> tuple[str, list[tuple[str, str, str, str]]]:
        """The title and the rows (step, status, run id, progress) shown."""
        return _rows(self.run)

    def _html(self) -> str:
        title, rows = self.get_table()
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in rows
        )
        head = "".join(f"<th>{h}</th>" for h in ("step", "status", "run", "progress"))
        return f"<b>{html.escape(title)}</b><table><tr>{head}</tr>{body}</table>"

    def show(self) -> None:
        """Display the table (live in a notebook, printed once elsewhere)."""
        try:
            import ipywidgets
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            self._print()
            return
        if get_ipython() is None:
            self._print()
            return
        widget = ipywidgets.HTML(self._html())
        display(widget)  # type: ignore[no-untyped-call,unused-ignore]

        def refresh() -> None:
            stop = threading.Event()
            while not stop.wait(REFRESH):
                widget.value = self._html()
                if _status(self.run) in FINAL:
                    return

        threading.Thread(target=refresh, daemon=True).start()

    def _print(self) -> None:
        from rich.console import Console
        from rich.table import Table

        title, rows = self.get_table()
        table = Table("step", "status", "run", "progress", title=title)
        for row in rows:
            table.add_row(*row)
        Console().print(table)


def _status(run: Any) -> str:
    return str(run.get_status() if isinstance(run, PipelineRun) else run.status)
