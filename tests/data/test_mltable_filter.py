"""MLTable's ``filter`` transformation and ``TabularDataset.filter``: simple expressions only.

Rows are filtered by each worker as it reads its mini-batch; a filtered-out row is not an
item. Unsupported expressions are one-line ConfigErrors before anything is read; a column
that does not exist is a DataError when a mini-batch is read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from shardrun import Dataset, ParallelRunConfig, TabularDataset, run_parallel
from shardrun.data.expressions import parse
from shardrun.errors import ConfigError, DataError

ROWS = 600
SPECIES = ("setosa", "versicolor", "virginica")


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(ROWS),
            "species": [SPECIES[i % 3] for i in range(ROWS)],
            "x": [(i % 10) / 2 for i in range(ROWS)],
        }
    )


def mltable(tmp_path: Path, *steps: str) -> TabularDataset:
    (tmp_path / "data").mkdir(exist_ok=True)
    frame().to_csv(tmp_path / "data" / "iris.csv", index=False)
    lines = "".join(f"  - {step}\n" for step in steps)
    (tmp_path / "MLTable").write_text(
        "paths:\n  - file: ./data/iris.csv\ntransformations:\n"
        f"  - read_delimited: {{delimiter: ','}}\n{lines}"
    )
    dataset = Dataset.Tabular.from_mltable(str(tmp_path))
    assert isinstance(dataset, TabularDataset)
    return dataset


def ids(dataset: TabularDataset) -> list[int]:
    return [int(i) for i in dataset.to_pandas_dataframe()["id"]]


def test_an_mltable_filter_keeps_exactly_the_matching_rows(tmp_path: Path) -> None:
    dataset = mltable(tmp_path, """filter: 'col("id") > 590'""")
    assert ids(dataset) == list(range(591, ROWS))
    assert dataset.filters == ['col("id") > 590']
    # JSON-safe, and kept through the spec a worker gets.
    again = TabularDataset.from_spec(json.loads(json.dumps(dataset.to_spec())))
    assert ids(again) == list(range(591, ROWS))


@pytest.mark.parametrize(
    ("expression", "keep"),
    [
        (
            'col("species") == "setosa" and col("x") <= 1.0',
            lambda r: r.species == "setosa" and r.x <= 1.0,
        ),
        ('col("species") == "setosa" or col("x") > 4', lambda r: r.species == "setosa" or r.x > 4),
        (
            'not (col("species") != "virginica") and col("id") >= 300',
            lambda r: r.species == "virginica" and r.id >= 300,
        ),
        (
            '(col("id") < 10 or col("id") >= 590) and not col("x") == 0',
            lambda r: (r.id < 10 or r.id >= 590) and r.x != 0,
        ),
        ('100 <= col("id") < 103', lambda r: 100 <= r.id < 103),
        ('col("x") > -1 and col("species") != None', lambda r: True),
        ("col('species') == 'nothing'", lambda r: False),
    ],
)
def test_and_or_not_combinations(tmp_path: Path, expression: str, keep: object) -> None:
    expected = [int(r.id) for r in frame().itertuples() if keep(r)]  # type: ignore[operator]
    dataset = mltable(tmp_path, f"filter: {json.dumps(expression)}")
    assert ids(dataset) == expected
    # The same through the Python API, on a dataset without an MLTable file.
    plain = Dataset.Tabular.from_delimited_files(str(tmp_path / "data" / "iris.csv"))
    assert ids(plain.filter(expression)) == expected


def test_filters_and_other_steps_compose_in_order(tmp_path: Path) -> None:
    dataset = mltable(
        tmp_path,
        "skip: 500",
        """filter: 'col("species") == "setosa"'""",
        """filter: 'col("x") >= 2'""",
        "drop_columns: [species]",
    )
    got = dataset.to_pandas_dataframe()
    assert list(got.columns) == ["id", "x"]
    expected = [i for i in range(500, ROWS) if i % 3 == 0 and (i % 10) / 2 >= 2]
    assert got["id"].tolist() == expected


def test_a_run_gets_only_the_kept_rows_as_its_items(tmp_path: Path) -> None:
    """Many small mini-batches; most are filtered to nothing and still complete."""
    dataset = mltable(
        tmp_path,
        """filter: 'col("id") < 20 or (col("id") >= 580 and col("species") == "setosa")'""",
    )
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(
        "def run(batch):\n    return [f'{i},{s}' for i, s in zip(batch['id'], batch['species'])]\n"
    )
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(tmp_path / "code"),
        mini_batch_size="1KB",
        error_threshold=0,
        output_action="append_row",
        process_count_per_node=2,
    )
    result = run_parallel(config, dataset, tmp_path / "out", workspace=tmp_path / "ws")
    assert result.status == "Completed", result.reason
    assert result.output_file is not None
    expected = [i for i in range(ROWS) if i < 20 or (i >= 580 and i % 3 == 0)]
    lines = result.output_file.read_text().splitlines()
    assert sorted(int(line.split(",")[0]) for line in lines) == expected
    assert all(line.split(",")[1] in ("setosa", "versicolor", "virginica") for line in lines)
    assert (result.succeeded_items, result.failed_items) == (len(expected), 0)


def test_a_missing_column_fails_at_read_naming_it(tmp_path: Path) -> None:
    """Checked when a mini-batch is read (the driver reads no data): a DataError."""
    dataset = mltable(tmp_path, """filter: 'col("Age") > 30'""")
    with pytest.raises(DataError, match=r"names columns \['Age'\]") as error:
        dataset.to_pandas_dataframe()
    assert "\n" not in str(error.value)
    # In a run, each mini-batch fails with that message and the run fails.
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text("def run(batch):\n    return list(batch['id'])\n")
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(tmp_path / "code"),
        error_threshold=0,
        run_max_try=1,
        output_action="append_row",
        process_count_per_node=1,
    )
    result = run_parallel(config, dataset, tmp_path / "out", workspace=tmp_path / "ws")
    assert result.status == "Failed"
    errors = (result.run_dir / "logs" / "job_error.txt").read_text()
    assert "filter 'col(\"Age\") > 30' names columns ['Age']" in errors


def test_a_column_already_dropped_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"names columns \['species'\] that keep_columns"):
        mltable(tmp_path, "drop_columns: [species]", """filter: 'col("species") == "a"'""")


def test_take_after_filter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="take/skip before filter"):
        mltable(tmp_path, """filter: 'col("id") > 1'""", "take: 3")


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os')",
        "__import__('os').system('true')",
        'col("x").real > 1',
        "open('f') == 1",
        'col("x") + 1 > 2',
        'col("x") in [1, 2]',
        "col(x) > 1",
        'col("x")[0] == 1',
        "lambda: 1",
        "x > 1",
        'col("x") > ',
        "",
        'col("x") > None',
        "None == None",
    ],
)
def test_an_unsupported_expression_is_a_one_line_config_error(
    tmp_path: Path, expression: str
) -> None:
    with pytest.raises(ConfigError) as error:
        mltable(tmp_path, f"filter: {json.dumps(expression)}")
    message = str(error.value)
    assert "\n" not in message
    assert "filter expression" in message
    assert repr(expression) in message or not expression
    with pytest.raises(ConfigError):
        parse(expression)


def test_the_python_api_refuses_bad_expressions_too(tmp_path: Path) -> None:
    mltable(tmp_path)
    plain = Dataset.Tabular.from_delimited_files(str(tmp_path / "data" / "iris.csv"))
    with pytest.raises(ConfigError, match="allowed: col"):
        plain.filter("__import__('os')")
    with pytest.raises(ConfigError, match="allowed: col"):
        TabularDataset.from_spec({**plain.to_spec(), "filters": ["getattr(1, 'x')"]})
