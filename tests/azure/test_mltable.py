"""MLTable files as Azure writes them: paths only (files), take/skip, unknown steps named."""

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


def test_an_unsupported_transformation_is_named_in_one_line(tmp_path: Path) -> None:
    folder = table(tmp_path, "  - read_delimited: {delimiter: ','}\n  - drop_columns: [y]\n")
    with pytest.raises(ConfigError, match="transformation 'drop_columns' is not supported"):
        Dataset.Tabular.from_mltable(str(folder))
