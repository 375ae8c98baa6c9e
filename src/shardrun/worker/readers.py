"""Turn a mini-batch descriptor into what ``run()`` receives, inside the worker.

File mini-batches become a list of local paths: local files as they are, files on a local
folder datastore (``azureml://`` URIs whose filesystem is local) at their local path, with
no copy, and remote files (``abfs://``, ``s3://``, …) downloaded into a private folder that
is removed once ``run()`` returns. Tabular mini-batches become a pandas DataFrame
(``mini_batch_format="arrow"``: a ``pyarrow.Table``) read by
:func:`shardrun.data.formats.read_table`: the worker reads only its own byte range or row
groups, remote files through :func:`shardrun.workspace.datastores.filesystem`. Their item count is
the number of records.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shardrun.data.downloads import is_local_filesystem
from shardrun.data.minibatch import MiniBatch
from shardrun.engine.messages import WorkerSpec
from shardrun.errors import DataError
from shardrun.workspace.datastores import filesystem, is_url


@contextmanager
def materialise(batch: MiniBatch, spec: WorkerSpec, process: str) -> Iterator[tuple[Any, int]]:
    """Yield ``(payload, items)`` for one mini-batch; clean up downloads afterwards.

    Raises:
        DataError: A tabular mini-batch cannot be read (the message names the file, the
            range and the reason): the attempt fails like any error in ``run()``.
    """
    if batch.kind != "files":
        yield read_records(batch, spec)
        return
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
        if is_local_filesystem(fs):
            local.append(path)
            continue
        target = folder / str(position) / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(target))
        local.append(str(target))
    return local


def read_records(batch: MiniBatch, spec: WorkerSpec) -> tuple[Any, int]:
    """A tabular mini-batch as ``(DataFrame or pyarrow.Table, number of records)``."""
    from shardrun.data.columns import to_pandas
    from shardrun.data.formats import read_table

    table = read_table(batch, spec.input_options.get(batch.input_name, {}))
    if spec.mini_batch_format == "arrow":
        return table, table.num_rows
    try:
        return to_pandas(table), table.num_rows
    except (ValueError, TypeError) as e:  # pyarrow's conversion errors derive from these
        raise DataError(f"mini-batch {batch.index} of {batch.files[0]}: to pandas: {e}") from e
