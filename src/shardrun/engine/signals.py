"""Ctrl-C and SIGTERM while a run is driven: cancel once, then let the run end cleanly.

A run's driver must end every run with a recorded status and its reports, however many
signals arrive and wherever they land. :class:`Interrupts` turns the *first* SIGINT (and
SIGTERM, where the program already treats it as a cancel, as ``shardrun run`` does) into a
``KeyboardInterrupt``; the driver catches it and cancels the run. Further signals are only
counted: a second Ctrl-C 30 ms later must not interrupt the shutdown, the last ledger commit
or the writing of ``run.json``. Once the driver calls :meth:`~Interrupts.shield` for the end of the
run, no signal interrupts it. A signal is raised again only if the first seems to have been
lost (nothing ended the run within :data:`INSIST_AFTER` seconds).

Handlers can only be installed from the main thread; elsewhere :class:`Interrupts` does
nothing (signals go to the main thread anyway).
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any

INSIST_AFTER = 5.0

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """A context manager: while it is open, the first cancel signal raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self._first = 0.0
        self._shielded = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in _SIGNALS:
            current = signal.getsignal(sig)
            # SIG_DFL/SIG_IGN stay: a library user whose program dies on SIGTERM keeps that.
            if callable(current):
                self._saved[sig] = current
                signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)
        if self._shielded:
            return
        now = time.monotonic()
        if len(self.received) == 1 or now - self._first > INSIST_AFTER:
            self._first = now
            raise KeyboardInterrupt

    def shield(self) -> None:
        """From now on signals are only counted: the end of the run is not interrupted."""
        self._shielded = True

    @property
    def reason(self) -> str:
        """Why the run was canceled, in words (empty when no signal came)."""
        if not self.received:
            return ""
        first = self.received[0]
        return "canceled by the user (Ctrl-C)" if first == "SIGINT" else f"canceled by {first}"
