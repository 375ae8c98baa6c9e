"""``/metrics``: the workspace's runs in Prometheus' text exposition format (0.0.4).

Written by hand (it is a simple format), so that the dashboard needs no client library.
Per-run families carry a ``run_id`` label; per-worker ones also ``worker``. Worker
figures are given for the most recent runs only (``WORKER_RUNS``), which keeps a scrape
cheap in a workspace with thousands of runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from shardrun.engine import history, readback

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WORKER_RUNS = 20
STATES = ("pending", "running", "done", "failed")
STATUSES = ("NotStarted", "Running", "Completed", "Failed", "Canceled")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: list[str] = []

    def add(self, value: float, **labels: str) -> None:
        sample = self.sample_name
        number = float(value)
        text = str(int(number)) if number.is_integer() else repr(number)
        self.samples.append(f"{sample}{_labels(**labels)} {text}")

    @property
    def sample_name(self) -> str:
        """A counter's samples (and, in format 0.0.4, its HELP and TYPE) end in _total."""
        return f"{self.name}_total" if self.kind == "counter" else self.name

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.sample_name} {self.help}"
        yield f"# TYPE {self.sample_name} {self.kind}"
        yield from self.samples


def render(workspace: Path) -> str:
    """The metrics text for every run of ``workspace``."""
    f = {
        "status": _Family(
            "shardrun_run_status", "gauge", "1 for the run's current status, 0 for the others."
        ),
        "progress": _Family(
            "shardrun_run_progress_ratio", "gauge", "Finished share of mini-batches (0-1)."
        ),
        "ok": _Family("shardrun_items_succeeded", "counter", "Items that succeeded."),
        "bad": _Family("shardrun_items_failed", "counter", "Items that failed."),
        "batches": _Family("shardrun_mini_batches", "gauge", "Mini-batches by state."),
        "rate": _Family(
            "shardrun_run_items_per_second", "gauge", "Items that succeeded per second of run."
        ),
        "w_items": _Family(
            "shardrun_worker_items", "counter", "Items a worker processed successfully."
        ),
        "w_rate": _Family(
            "shardrun_worker_items_per_second",
            "gauge",
            "Items per second a worker spent in run().",
        ),
        "w_cpu": _Family(
            "shardrun_worker_cpu_percent", "gauge", "A worker's last sampled CPU percent."
        ),
        "w_rss": _Family(
            "shardrun_worker_resident_memory_bytes", "gauge", "A worker's last sampled RSS."
        ),
    }
    for number, run in enumerate(history.summaries(workspace)):
        run_id = run.run_id
        for status in STATUSES:
            f["status"].add(1 if run.status == status else 0, run_id=run_id, status=status)
        f["progress"].add(run.progress, run_id=run_id)
        f["ok"].add(run.succeeded_items, run_id=run_id)
        f["bad"].add(run.failed_items, run_id=run_id)
        counts = {
            "pending": run.pending,
            "running": run.running,
            "done": run.done,
            "failed": run.failed,
        }
        for state in STATES:
            f["batches"].add(counts[state], run_id=run_id, state=state)
        f["rate"].add(run.items_per_second, run_id=run_id)
        if number < WORKER_RUNS:
            _workers(f, workspace / "runs" / run_id, run_id)
    return "\n".join(line for family in f.values() for line in family.lines()) + "\n"


def _workers(f: dict[str, _Family], run_dir: Path, run_id: str) -> None:
    for stats in readback.worker_stats(run_dir):
        f["w_items"].add(stats.items, run_id=run_id, worker=stats.worker)
        f["w_rate"].add(stats.items_per_second, run_id=run_id, worker=stats.worker)
    for worker in readback.worker_processes(run_dir):
        name = f"{worker.node}/{worker.name}"
        if worker.cpu_percent is not None:
            f["w_cpu"].add(worker.cpu_percent, run_id=run_id, worker=name, pid=str(worker.pid))
        if worker.rss_bytes is not None:
            f["w_rss"].add(worker.rss_bytes, run_id=run_id, worker=name, pid=str(worker.pid))
