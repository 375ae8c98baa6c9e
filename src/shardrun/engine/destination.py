"""The output folder's pre-flight check: can the driver create it and write into it?

Workers create the output folder in their ``init()``; when they cannot (the path is a
file, the file system is read-only, permission is denied) every worker fails the same way
and the cause is only in a worker log. The driver checks first, so the mistake is one
:class:`~shardrun.errors.ConfigError` before any worker starts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from shardrun.errors import ConfigError

_RULE = "a folder that can be created and written"


def check_output_location(output_dir: Path) -> None:
    """Check that ``output_dir`` is, or can be made, a folder this process can write into.

    Nothing is created: a probe file is written in the folder, or in its nearest existing
    parent when the folder is missing, and removed at once.

    Raises:
        ConfigError: A part of the path is a file, or the folder (or the parent it would
            be made in) cannot be written: a read-only file system, no permission.
    """
    existing = output_dir
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == output_dir else f"cannot be made: {existing} is a file"
        raise ConfigError(
            f"output must be {_RULE}; got {str(output_dir)!r}, which {what}", "output"
        )
    try:
        handle, probe = tempfile.mkstemp(prefix=".shardrun-probe-", dir=existing)
    except OSError as e:
        where = "it" if existing == output_dir else f"its parent {existing}"
        raise ConfigError(
            f"output must be {_RULE}; got {str(output_dir)!r}, and {where} cannot be written "
            f"({e.strerror or e})",
            "output",
        ) from None
    os.close(handle)
    os.unlink(probe)
