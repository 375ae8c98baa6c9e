"""Turn a mini-batch descriptor into what ``run()`` receives, inside the worker.

File mini-batches become a list of local paths: local files as they are, remote files
(``abfs://``, ``s3://``, …) downloaded into a private folder that is removed once ``run()``
returns. Tabular mini-batches become a pandas DataFrame (or a pyarrow Table).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shardrun.datastores import filesystem, is_url
from shardrun.errors import ShardrunError
from shardrun.types import MiniBatch, WorkerSpec


@contextmanager
def materialise(batch: MiniBatch, spec: WorkerSpec, process: str) -> Iterator[tuple[Any, int]]:
    """Yield ``(payload, items)`` for one mini-batch; clean up downloads afterwards."""
    if batch.kind != "files":
        raise ShardrunError(f"mini-batches of kind {batch.kind!r} cannot be read yet")
    if not any(is_url(f) for f in batch.files):
        yield list(batch.files), len(batch.files)
        return
    folder = Path(spec.run_dir) / "cache" / process / str(batch.index)
    try:
        yield _download(batch.files, folder), len(batch.files)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _download(files: tuple[str, ...], folder: Path) -> list[str]:
    local: list[str] = []
    for position, url in enumerate(files):
        if not is_url(url):
            local.append(url)
            continue
        fs, path = filesystem(url)
        target = folder / str(position) / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(target))
        local.append(str(target))
    return local
