"""Whether a process of this machine is alive, by its PID: one check for every wing.

The driver of a run, a pipeline's detached driver, a worker, an actor whose node-local log
folder is left over: each is looked up by the PID it wrote down. A PID of 0 or less names
no process; a PID that exists but belongs to another user is alive; a zombie (a child
that ended and was not reaped yet) is not.
"""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True when a process with ``pid`` runs on this machine (a zombie does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux), or the process ended just now: os.kill said so
