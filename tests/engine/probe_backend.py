"""A local backend that notes, when its workers start, how far the run's planning got.

Used by ``test_drive.py`` through the backend registry: a real LocalBackend, plus a look at
the ledger from outside (read-only) at the moment ``start()`` is called.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shardrun.engine.backends.local import LocalBackend
from shardrun.engine.messages import WorkerSpec

#: One entry per start(): (the ledger's ``planned`` meta or None, mini-batches in it).
SEEN: list[tuple[str | None, int]] = []


class ProbeBackend(LocalBackend):
    """LocalBackend that records the ledger's state when its workers are started."""

    def start(self, spec: WorkerSpec, workers: int) -> None:
        """Note the ledger's state, then start the workers as LocalBackend does."""
        ledger = Path(spec.run_dir) / "ledger.sqlite"
        db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
        try:
            planned = db.execute("SELECT value FROM meta WHERE key='planned'").fetchone()
            batches = db.execute("SELECT COUNT(*) FROM mini_batches").fetchone()[0]
        finally:
            db.close()
        SEEN.append((None if planned is None else str(planned[0]), int(batches)))
        super().start(spec, workers)
