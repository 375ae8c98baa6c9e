"""``Run.get_context()`` inside an entry script: metrics go to the run's logs as JSON lines."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class Run:
    """The current run, as an entry script sees it (Azure's offline ``Run`` context).

    ``log``/``log_list``/``log_row`` append to
    ``logs/user/metrics/<node>/<process>.jsonl`` in the run folder.
    """

    _context: Run | None = None

    def __init__(self) -> None:
        run_dir = os.environ.get("SHARDRUN_RUN_DIR")
        self.id = Path(run_dir).name if run_dir else "offline"
        node = os.environ.get("SHARDRUN_NODE_NAME", "node0")
        process = os.environ.get("SHARDRUN_PROCESS_NAME", f"pid{os.getpid()}")
        base = Path(run_dir) / "logs" if run_dir else Path.cwd() / "shardrun-offline-logs"
        self._path = base / "user" / "metrics" / node / f"{process}.jsonl"

    @classmethod
    def get_context(cls) -> Run:
        """The run this process works for."""
        if cls._context is None:
            cls._context = cls()
        return cls._context

    def _append(self, record: dict[str, Any]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"time": time.time(), **record}, default=str) + "\n")

    def log(self, name: str, value: Any, description: str = "") -> None:
        """Record one metric value."""
        self._append({"name": name, "value": value, "description": description})

    def log_list(self, name: str, value: list[Any], description: str = "") -> None:
        """Record a list of values under one name."""
        self._append({"name": name, "value": list(value), "description": description})

    def log_row(self, name: str, description: str = "", **kwargs: Any) -> None:
        """Record one row of a table metric."""
        self._append({"name": name, "row": kwargs, "description": description})

    def get_status(self) -> str:
        """Always ``Running`` from inside an entry script."""
        return "Running"
