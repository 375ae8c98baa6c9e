"""Start, watch and stop one worker process of the local backend, with everything it started.

A worker is a fresh interpreter, ``python -m shardrun.worker``, never a fork or a ``spawn``
of the driver: it imports nothing of the caller's ``__main__`` (so scripts need no
``if __name__ == "__main__":`` guard, and a script read from standard input works), and the
driver's threads are never forked. It talks to the driver over one inherited socket with
:mod:`multiprocessing.connection` framing, starts in its own session, and carries a marker
variable, ``SHARDRUN_WORKER_ID``, that every process it starts inherits.

Stopping a worker stops its whole tree, not only its process group: processes that ``run()``
started in a new session (``start_new_session=True``) or that were orphaned on the way. On
Linux the driver is a *child subreaper* (``PR_SET_CHILD_SUBREAPER``), so a worker's orphaned
descendants come back to the driver instead of to ``init``; they are found there by the
marker, stopped and reaped. Elsewhere, what is still below the worker is stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path

import psutil

import shardrun.worker

#: Inherited by a worker and by every process it starts; names the worker.
MARKER = "SHARDRUN_WORKER_ID"
#: The driver's ``PYTHONPATH`` ("" when unset), restored by the worker for ``run()``.
PARENT_PYTHONPATH = "SHARDRUN_PARENT_PYTHONPATH"
#: Set by the worker for the entry script (see ``Worker.prepare_environment``).
RUN_DIR = "SHARDRUN_RUN_DIR"
_PR_SET_CHILD_SUBREAPER = 36
_ROUNDS = 50


_subreaper_users = 0
_subreaper_lock = threading.Lock()


def adopt_orphans(on: bool) -> None:
    """Count one backend in (``on``) or out of needing this process as a child subreaper.

    While at least one backend needs it, orphaned descendants come back to this process
    (Linux ``PR_SET_CHILD_SUBREAPER``) instead of going to ``init``; elsewhere this does
    nothing. It is switched off when the last backend shuts down, so that a notebook that
    ran a job does not go on adopting unrelated orphans.
    """
    global _subreaper_users
    if not sys.platform.startswith("linux"):
        return
    with _subreaper_lock:
        before = _subreaper_users
        _subreaper_users = max(0, before + (1 if on else -1))
        if (before == 0) != (_subreaper_users == 0):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_CHILD_SUBREAPER, int(_subreaper_users > 0), 0, 0, 0)


class WorkerProcess:
    """One running ``python -m shardrun.worker`` and the driver's end of its socket."""

    def __init__(self, args: list[str], environment: Mapping[str, str], marker: str) -> None:
        """Start the worker; ``args`` follow the module name, after ``--fd FD``."""
        ours, theirs = socket.socketpair()
        env = dict(environment)
        env[MARKER] = marker
        inherited = env.get("PYTHONPATH", "")
        env[PARENT_PYTHONPATH] = inherited
        root = str(Path(shardrun.worker.__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, inherited) if p)
        self.marker = marker
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "shardrun.worker", "--fd", str(theirs.fileno()), *args],
                env=env,
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.pid = self.popen.pid
        self.conn = Connection(ours.detach())
        self.sentinel = self._sentinel()

    def _sentinel(self) -> int:
        """A file descriptor that becomes readable when the process ends."""
        with contextlib.suppress(AttributeError, OSError):
            return os.pidfd_open(self.pid)
        read, write = os.pipe()

        def watch() -> None:
            self.popen.wait()
            os.close(write)

        threading.Thread(target=watch, name=f"shardrun-wait-{self.pid}", daemon=True).start()
        return read

    @property
    def exitcode(self) -> int | None:
        """The exit code, negative for a signal, once the process has ended and been reaped."""
        return self.popen.poll()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the process to end; True when it has."""
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the worker and every process it started (see :func:`stop_tree`)."""
        stop_tree(self.pid, self.marker)

    def close(self) -> None:
        """Reap the ended process, stop what it left behind, release the descriptors."""
        self.popen.wait()
        stop_tree(None, self.marker)
        self.conn.close()
        with contextlib.suppress(OSError):
            os.close(self.sentinel)


def stop_tree(root: int | None, marker: str) -> None:
    """SIGKILL ``root`` (a worker), its descendants and the driver's orphans marked ``marker``.

    Every process is first stopped (SIGSTOP), round after round until no new one appears, so
    that nothing can fork away while the tree is read; then all get SIGKILL together. The
    ones that became the driver's children (orphans it adopted) are reaped; ``root`` is not
    (its :class:`subprocess.Popen` does that).
    """
    stopped: dict[int, psutil.Process] = {}
    for _ in range(_ROUNDS):
        new = [p for p in _members(root, marker) if p.pid not in stopped]
        if not new:
            break
        for process in new:
            stopped[process.pid] = process
            _signal(process.pid, signal.SIGSTOP)
    if root is not None:
        with contextlib.suppress(OSError):
            os.killpg(root, signal.SIGKILL)
    for pid in stopped:
        _signal(pid, signal.SIGKILL)
    _reap(set(stopped), root)


def stop_leftovers(run_dir: str) -> int:
    """SIGKILL what an earlier driver's workers of this run left running; how many.

    When a driver is killed its workers die with it, but what their ``run()`` started can
    outlive them (nobody is left to stop it). Such processes inherited the run's folder in
    ``SHARDRUN_RUN_DIR``; the next driver of the run (a resume) stops them before its own
    workers start. Only one driver drives a run at a time (its lock), so every process
    still carrying the folder is a leftover.
    """
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.pid not in spared and process.environ().get(RUN_DIR) == run_dir:
                found.append(process.pid)
    for number in (signal.SIGSTOP, signal.SIGKILL):
        for pid in found:
            _signal(pid, number)
    return len(found)


def _members(root: int | None, marker: str) -> list[psutil.Process]:
    """``root`` and its descendants, plus the driver's descendants marked ``marker``."""
    found: list[psutil.Process] = []
    me = os.getpid()
    with contextlib.suppress(psutil.Error):
        if root is not None:
            top = psutil.Process(root)
            found += [top, *top.children(recursive=True)]
        for child in psutil.Process(me).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.environ().get(MARKER) == marker:
                    found += [child, *child.children(recursive=True)]
    return [p for p in found if p.pid != me]


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, number)


def _reap(killed: set[int], root: int | None, timeout: float = 5.0) -> None:
    """Collect the exit status of the killed processes that are (or become) our children."""
    pending = killed - {root}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    pending.discard(pid)
            except ChildProcessError:
                # Not (yet) ours: gone, reaped by its own parent, or still being reparented.
                if not _dying(pid, killed):
                    pending.discard(pid)
        if pending:
            time.sleep(0.005)


def _dying(pid: int, killed: set[int]) -> bool:
    """Whether ``pid`` still has to come to us: not dead yet, or a zombie on its way here."""
    try:
        process = psutil.Process(pid)
        if process.status() != psutil.STATUS_ZOMBIE:
            return True
        parent = process.ppid()
    except psutil.Error:
        return False
    return parent == os.getpid() or parent in killed
