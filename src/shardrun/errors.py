"""The exceptions shardrun raises.

Every message names the offending value, what is allowed, and how to fix it.  A mistake in
a user's config is a :class:`ConfigError` (also a :class:`ValueError`), raised before any
worker starts.
"""

from __future__ import annotations


class ShardrunError(Exception):
    """Base class of every error shardrun raises on purpose."""


class ConfigError(ShardrunError, ValueError):
    """A parameter, a job file or an input is invalid; nothing has started.

    ``parameter`` names the offending parameter when there is one (a job file's error
    message then names its YAML key).
    """

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class EntryScriptError(ShardrunError):
    """The entry script is missing, does not import, has no ``run`` or its ``init`` failed."""


class DataError(ShardrunError):
    """A mini-batch's data cannot be read: the message names the file, the range and why."""


class RemoteError(ShardrunError):
    """Stands for an exception raised inside a worker; its text is the remote traceback."""


class ErrorThresholdExceeded(ShardrunError):
    """Failed items or mini-batches went past ``error_threshold`` / ``allowed_failed_*``."""


class WorkerLost(ShardrunError):
    """A worker process died (crash, kill, out of memory) while it ran a mini-batch."""


class RunTimeout(ShardrunError):
    """``run()`` took longer than ``run_invocation_timeout``; its worker was stopped."""


class NoProgress(ShardrunError):
    """Nothing finished within ``progress_update_timeout``: the run was stopped."""


class NoResultToAppend(ShardrunError):
    """An ``append_row`` run ended without a single succeeded item."""


class RunNotFound(ShardrunError, LookupError):
    """No run with this id exists in the workspace."""


class BackendError(ShardrunError):
    """A backend could not be loaded or started (an unknown name, a missing extra)."""


class StorageError(ShardrunError, OSError):
    """The workspace's disk is full, or a folder a run needs cannot be written."""
