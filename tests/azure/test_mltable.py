"""MLTable files as Azure writes them: paths only (files), take/skip, unknown steps named.

The ``filter`` transformation: tests/data/test_mltable_filter.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shardrun import Dataset, FileDataset, TabularDataset
from shardrun.errors import ConfigError


def table(tmp_path: Path, transformations: str) -> Path:
    (tmp_path / "data").mkdir()
    rows = "\n".join(f"{i},{i * 2}" for i in range(10))
    (tmp_path / "data" / "a.csv").write_text(f"x,y\n{rows}\n")
    (tmp_path / "MLTable").write_text(
        "paths:\n  - file: ./data/a.csv\ntransformations:\n" + transformations
    )
    return tmp_path


def test_paths_without_a_read_step_are_a_file_input(tmp_path: Path) -> None:
    """What Azure's dump_mltable.py writes: folder:/file: entries, no transformations."""
    (tmp_path / "images").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "images" / name).write_bytes(b"x")
    (tmp_path / "extra.txt").write_text("x")
    (tmp_path / "MLTable").write_text("paths:\n  - folder: ./images\n  - file: ./extra.txt\n")
    dataset = Dataset.Tabular.from_mltable(str(tmp_path))
    assert isinstance(dataset, FileDataset)
    assert sorted(Path(p).name for p in dataset.to_path()) == ["a.png", "b.png", "extra.txt"]


def test_take_and_skip(tmp_path: Path) -> None:
    folder = table(tmp_path, "  - read_delimited: {delimiter: ','}\n  - skip: 2\n  - take: 3\n")
    dataset = Dataset.Tabular.from_mltable(str(folder))
    assert isinstance(dataset, TabularDataset)
    assert dataset.to_pandas_dataframe()["x"].tolist() == [2, 3, 4]


def test_keep_and_drop_columns(tmp_path: Path) -> None:
    folder = table(tmp_path, "  - read_delimited: {delimiter: ','}\n  - drop_columns: [y]\n")
    dataset = Dataset.Tabular.from_mltable(str(folder))
    assert isinstance(dataset, TabularDataset)
    assert list(dataset.to_pandas_dataframe().columns) == ["x"]
    assert list(dataset.keep_columns(["y"]).to_pandas_dataframe().columns) == ["y"]
    kept = Dataset.Tabular.from_delimited_files(str(tmp_path / "data")).keep_columns("y")
    assert kept.to_pandas_dataframe()["y"].tolist()[:3] == [0, 2, 4]


def test_an_unsupported_transformation_is_named_in_one_line(tmp_path: Path) -> None:
    folder = table(tmp_path, "  - read_delimited: {delimiter: ','}\n  - shuffle: {}\n")
    with pytest.raises(ConfigError, match="transformation 'shuffle' is not supported"):
        Dataset.Tabular.from_mltable(str(folder))


def test_a_run_reads_only_the_kept_columns(tmp_path: Path) -> None:
    from shardrun import ParallelRunConfig, run_parallel

    folder = table(tmp_path, "  - read_delimited: {delimiter: ','}\n  - drop_columns: x\n")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(
        "def run(batch):\n    return [','.join(batch.columns)] * len(batch)\n"
    )
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(tmp_path / "code"),
        error_threshold=0,
        output_action="append_row",
        process_count_per_node=1,
    )
    dataset = Dataset.Tabular.from_mltable(str(folder))
    result = run_parallel(config, dataset, tmp_path / "out", workspace=tmp_path / "ws")
    assert result.status == "Completed", result.reason
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == ["y"] * 10
