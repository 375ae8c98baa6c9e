"""Inside a worker process: host the entry script and process one attempt at a time.

:class:`Worker` is backend-neutral: the local backend drives it from a spawned process over a
pipe, the Ray backend from an actor. For each task it materialises the mini-batch itself
(local paths, downloaded files or a slice of a table), calls ``run()``, counts, encodes the
result and writes the output part durably, then reports a
:class:`~shardrun.engine.messages.BatchResult`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from shardrun.engine.messages import (
    BatchResult,
    ErrorInfo,
    Part,
    Task,
    WorkerFailed,
    WorkerReady,
    WorkerSpec,
)
from shardrun.errors import EntryScriptError
from shardrun.worker import entry_script, readers, results
from shardrun.workspace import credentials

_LOG_FORMAT = "%(asctime)s|%(levelname)s|%(name)s|%(message)s"


def error_info(exc: BaseException) -> ErrorInfo:
    """Reduce an exception to text that always pickles and is valid UTF-8 for the ledger."""
    text = "".join(traceback.format_exception(exc))
    return ErrorInfo(type(exc).__name__, _utf8(str(exc)), _utf8(text))


def _utf8(text: str) -> str:
    """``text`` with the bytes of a file name that is not UTF-8 shown as ``\\xNN``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no file name produced
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def log_paths(run_dir: str, node: str, process: str) -> dict[str, Path]:
    """The per-worker log files of DESIGN.md §5."""
    logs = Path(run_dir) / "logs"
    return {
        "stdout": logs / "user" / "stdout" / node / f"{process}.stdout.txt",
        "stderr": logs / "user" / "stderr" / node / f"{process}.stderr.txt",
        "entry_script_log": logs / "user" / "entry_script_log" / node / f"{process}.log.txt",
        "sys": logs / "sys" / "worker" / node / f"{process}.txt",
    }


class PartSink(Protocol):
    """Where a worker puts each successful attempt's encoded output."""

    def append(self, data: bytes) -> Part:
        """Keep ``data``; return where it is."""

    def close(self) -> None:
        """Release what the sink holds open."""


class Worker:
    """One host of the entry script (one per worker process).

    Output parts go to ``sink``: by default the worker's own spill file under the run
    folder; the Ray backend passes a sink that hands the bytes back to the driver instead.
    """

    def __init__(
        self, spec: WorkerSpec, slot: int, node: str, process: str, sink: PartSink | None = None
    ) -> None:
        self.spec = spec
        self.slot = slot
        self.node = node
        self.name = process
        self._token = uuid.uuid4().hex[:8]
        self._run: Callable[[Any, entry_script.MiniBatchContext], Any] | None = None
        self._module: Any = None
        self._log = logging.getLogger("shardrun.worker.loop")
        self._parts = Path(spec.run_dir) / "parts"
        self._spill: PartSink = sink or results.SpillFile(
            self._parts / f"{node}-{process}-{self._token}.spill"
        )

    # -- life cycle ----------------------------------------------------------------------

    def redirect_output(self, log_root: str | None = None) -> None:
        """Send this process's stdout, stderr and loggers to its own files.

        Args:
            log_root: The folder whose ``logs/`` holds them; by default the run folder.
        """
        paths = log_paths(log_root or self.spec.run_dir, self.node, self.name)
        for path in paths.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            target = os.open(paths[name], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(target, fd)
            os.close(target)
        for stream in (sys.stdout, sys.stderr):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(line_buffering=True)
        level = getattr(logging, self.spec.logging_level, logging.INFO)
        logging.basicConfig(level=level, format=_LOG_FORMAT, stream=sys.stdout, force=True)
        user = logging.getLogger("shardrun.worker.entry_script")
        user.setLevel(level)
        user.addHandler(_file_handler(paths["entry_script_log"]))
        self._log.setLevel(logging.INFO)
        self._log.addHandler(_file_handler(paths["sys"]))
        self._log.propagate = False
        credentials.redact_logs()  # DEBUG logs of storage clients print key ids

    def prepare_environment(self) -> None:
        """Set ``sys.argv``, ``sys.path`` and the environment the entry script expects."""
        script = Path(self.spec.entry_script)
        user_logs = Path(self.spec.run_dir) / "logs" / "user"
        os.environ.update(self.spec.environment)
        os.environ.update(
            {
                "AZUREML_BI_OUTPUT_PATH": self.spec.output_dir,
                "SHARDRUN_PROCESS_NAME": self.name,
                "SHARDRUN_NODE_NAME": self.node,
                "SHARDRUN_USER_LOG_DIR": str(user_logs),
                "SHARDRUN_WORKING_DIR": os.getcwd(),
                "SHARDRUN_ENTRY_SCRIPT_DIR": str(script.parent),
                "SHARDRUN_RUN_DIR": self.spec.run_dir,
            }
        )
        if self.spec.workspace:
            os.environ["SHARDRUN_WORKSPACE"] = self.spec.workspace
        sys.argv = [str(script), *self.spec.arguments]
        for folder in dict.fromkeys([self.spec.source_directory, str(script.parent)]):
            if folder not in sys.path:
                sys.path.insert(0, folder)
        entry_script.install_shims()  # a fallback: installed azureml packages win
        os.makedirs(self.spec.output_dir, exist_ok=True)
        self._parts.mkdir(parents=True, exist_ok=True)

    def start(self) -> WorkerReady | WorkerFailed:
        """Import the entry script and call its ``init()``."""
        self._log.info("%s on %s: pid %d starting", self.name, self.node, os.getpid())
        try:
            self._module = entry_script.import_entry_script(Path(self.spec.entry_script))
            self._run = entry_script.runner(self._module)
        except BaseException as e:
            self._log.error("entry script did not import:\n%s", traceback.format_exc())
            return WorkerFailed(self.slot, "import", error_info(e))
        init = getattr(self._module, "init", None)
        started = time.monotonic()
        try:
            if callable(init):
                init()
        except BaseException as e:
            self._log.error("init() failed:\n%s", traceback.format_exc())
            return WorkerFailed(self.slot, "init", error_info(e))
        self._log.info("init() took %.3f s", time.monotonic() - started)
        return WorkerReady(self.slot, os.getpid(), self.name, self.node)

    def stop(self) -> None:
        """Call the script's ``shutdown()`` (a normal end of this worker)."""
        shutdown = getattr(self._module, "shutdown", None)
        if callable(shutdown):
            try:
                shutdown()
            except Exception:
                self._log.error("shutdown() failed:\n%s", traceback.format_exc())
        self._spill.close()
        self._log.info("%s stopped", self.name)
        sys.stdout.flush()
        sys.stderr.flush()

    # -- one attempt ---------------------------------------------------------------------

    def process(self, task: Task, on_started: Callable[[float], None]) -> BatchResult:
        """Run one attempt; ``on_started`` is called just before ``run()`` is."""
        for step in self.attempt(task):
            if isinstance(step, BatchResult):
                return step
            on_started(step)
        raise EntryScriptError(f"mini-batch {task.batch.index} ended without a result")

    def attempt(self, task: Task) -> Iterator[float | BatchResult]:
        """Run one attempt, as steps: the time ``run()`` starts, then the result.

        A generator so that a host that cannot take a callback (a Ray actor streams what
        it yields) reports the start of ``run()`` at the moment it happens.
        """
        if self._run is None:
            raise EntryScriptError("Worker.process() called before a successful start()")
        batch = task.batch
        started = time.time()
        cpu = time.process_time()
        total = max(batch.items, 0)
        self._log.info("mini-batch %d attempt %d picked", batch.index, task.attempt)
        try:
            with readers.materialise(batch, self.spec, self.name) as (payload, total):
                context = entry_script.MiniBatchContext(
                    batch.index,
                    task.attempt,
                    dict(batch.partition_key_value),
                    batch.input_name,
                    batch.files,
                    batch.kind,
                )
                yield time.time()
                run_started = time.monotonic()
                result = self._run(payload, context)
                run_seconds = time.monotonic() - run_started
            rows = results.result_length(result)
            part, columns = self._write(result, rows)
        except Exception as e:
            self._log.info("mini-batch %d attempt %d failed: %r", batch.index, task.attempt, e)
            yield BatchResult(
                self.slot,
                batch.index,
                task.attempt,
                total,
                0,
                error=error_info(e),
                started=started,
                ended=time.time(),
                cpu_seconds=time.process_time() - cpu,
            )
            return
        if rows > total:
            self._log.warning("run() returned %d rows for %d items; %d counted", rows, total, total)
        self._log.info("mini-batch %d attempt %d done: %d rows", batch.index, task.attempt, rows)
        yield BatchResult(
            self.slot,
            batch.index,
            task.attempt,
            total,
            min(rows, total),
            rows,
            part,
            columns=columns,
            started=started,
            ended=time.time(),
            run_seconds=run_seconds,
            cpu_seconds=time.process_time() - cpu,
        )

    def _write(self, result: Any, rows: int) -> tuple[Part | None, tuple[str, ...] | None]:
        if self.spec.output_action != "append_row" or rows == 0:
            return None, None
        data, columns = results.encode(result, self.spec.append_row_format)
        return self._spill.append(data), columns


def _file_handler(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    return handler
