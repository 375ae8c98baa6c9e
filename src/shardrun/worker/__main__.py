"""A local worker process: ``python -m shardrun.worker --fd FD --driver PID --slot N ...``.

The local backend starts this module in a fresh interpreter (see
:mod:`shardrun.engine.backends.processes`). It imports nothing of the driver's ``__main__``.
Over the inherited socket ``FD`` it receives the :class:`~shardrun.engine.messages.WorkerSpec`,
then tasks (a Task, a list of them, or ``None``: stop), and sends back events: one
BatchResult per task, and a Started before it except where
:data:`~shardrun.engine.messages.STARTED_OPTIONAL_WITHIN` allows leaving it out.

It dies with its driver even while ``run()`` holds the GIL in a long C call: on Linux the
kernel kills it (``PR_SET_PDEATHSIG``, set first thing, then a check that the parent is still
the driver, which may have died before); elsewhere a watch thread does, when it can run.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
#: Exit codes of a worker that could not start (the scheduler reads WorkerFailed first).
EXIT_INIT_FAILED = 72
EXIT_IMPORT_FAILED = 73
EXIT_ORPHANED = 70


def die_with_driver(driver: int) -> None:
    """Make sure this process ends when the driver process ``driver`` does."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != driver:
                os._exit(EXIT_ORPHANED)
            return

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(0.2)
        os.killpg(0, signal.SIGKILL)

    if os.getppid() != driver:
        os._exit(EXIT_ORPHANED)
    threading.Thread(target=watch, name="shardrun-driver-watch", daemon=True).start()


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shardrun.worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--driver", type=int, required=True)
    parser.add_argument("--slot", type=int, required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--name", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve the driver until it says stop or goes away."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    die_with_driver(args.driver)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _restore_pythonpath()

    from collections import deque
    from multiprocessing.connection import Connection

    from shardrun.engine.messages import STARTED_OPTIONAL_WITHIN, Started, Task, WorkerFailed
    from shardrun.worker.loop import Worker

    conn = Connection(args.fd)
    spec = conn.recv()
    worker = Worker(spec, args.slot, args.node, args.name)
    worker.redirect_output()
    worker.prepare_environment()
    first = worker.start()
    conn.send(first)
    if isinstance(first, WorkerFailed):
        os._exit(EXIT_INIT_FAILED if first.phase == "init" else EXIT_IMPORT_FAILED)
    queued: deque[Task | None] = deque()
    # Until when the next task may start run() without a Started (STARTED_OPTIONAL_WITHIN):
    # only a task already waiting here just before the previous result was sent.
    quiet_until = -1.0
    while True:
        if not queued:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            queued.extend(message if isinstance(message, list) else [message])
        task = queued.popleft()
        if task is None:
            worker.stop()
            break

        def started(at: float, task: Task = task, quiet_until: float = quiet_until) -> None:
            if time.monotonic() > quiet_until:
                conn.send(Started(args.slot, task.batch.index, task.attempt, at))

        result = worker.process(task, started)
        sent = time.monotonic()
        waiting = bool(queued) or conn.poll()
        quiet_until = sent + STARTED_OPTIONAL_WITHIN if waiting else -1.0
        conn.send(result)
    conn.close()


def _restore_pythonpath() -> None:
    """Give ``run()``'s own subprocesses the driver's ``PYTHONPATH``, not the worker's."""
    parent = os.environ.pop("SHARDRUN_PARENT_PYTHONPATH", None)
    if parent is None:
        return
    if parent:
        os.environ["PYTHONPATH"] = parent
    else:
        os.environ.pop("PYTHONPATH", None)


if __name__ == "__main__":
    main()
