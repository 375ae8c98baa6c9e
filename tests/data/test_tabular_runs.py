"""Tabular inputs end to end: ``run_parallel`` on real worker processes, no mocks.

Every test checks the output's row count against the input's, exactly.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shardrun import Dataset, ParallelRunConfig, RunResult, resume, run_parallel
from shardrun.data.formats import read_table
from shardrun.data.splits import plan_tabular
from tests.conftest import SCRIPTS

ROWS = 1500


def config(**overrides: Any) -> ParallelRunConfig:
    settings: dict[str, Any] = {
        "entry_script": "tabular.py",
        "source_directory": str(SCRIPTS),
        "process_count_per_node": 2,
        "mini_batch_size": "8KB",
    }
    settings.update(overrides)
    return ParallelRunConfig(**settings)


def start(inputs: Any, tmp_path: Path, **overrides: Any) -> RunResult:
    return run_parallel(
        config(**overrides),
        inputs,
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )


def write_table_csv(path: Path, rows: int = ROWS) -> list[dict[str, Any]]:
    """A CSV with quoted commas and quotes, numbers, booleans and missing values."""
    records = [
        {
            "id": i,
            "name": f'item "{i}", size {i % 7}',
            "price": round(i * 0.25, 2),
            "flag": i % 3 == 0,
            "count": "" if i % 11 == 0 else i % 5,
        }
        for i in range(rows)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    return records


def error_text(result: RunResult) -> str:
    return (result.run_dir / "logs" / "job_error.txt").read_text()


def output_frame(result: RunResult, fmt: str) -> pd.DataFrame:
    assert result.output_file is not None, result.reason
    if fmt == "parquet":
        return pq.read_table(result.output_file).to_pandas()
    if fmt == "csv":
        return pd.read_csv(result.output_file)
    if fmt == "jsonl":
        return pd.read_json(result.output_file, lines=True)
    names = ["id", "name", "price", "flag", "count", "batch", "keys", "dtypes"]
    text = result.output_file.read_text()
    return pd.read_csv(io.StringIO(text), sep=" ", header=None, names=names)


@pytest.mark.parametrize("fmt", ["text", "csv", "jsonl", "parquet"])
def test_every_row_comes_out_once_in_order_in_each_format(tmp_path: Path, fmt: str) -> None:
    records = write_table_csv(tmp_path / "data" / "table.csv")
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path / "data"))
    result = start(dataset, tmp_path, append_row_format=fmt)
    assert result.status == "Completed", result.reason
    assert result.total_mini_batches >= 8
    assert (result.succeeded_items, result.failed_items) == (ROWS, 0)
    frame = output_frame(result, fmt)
    assert len(frame) == ROWS
    assert frame["id"].tolist() == list(range(ROWS))
    assert frame["batch"].is_monotonic_increasing
    assert frame["name"].tolist() == [r["name"] for r in records]
    assert set(frame["dtypes"]) == {"Int64 str float64 boolean Int64"}
    if fmt == "csv":
        assert result.output_file is not None
        header = result.output_file.read_text().splitlines()[0]
        assert header == "id,name,price,flag,count,batch,keys,dtypes"


def test_quoted_line_breaks_cut_at_records_or_a_loud_failure(tmp_path: Path) -> None:
    rows = [[i, f'first line {i}\nsecond, "quoted" line'] for i in range(400)]
    for number in range(3):
        path = tmp_path / "data" / f"part-{number}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id", "text"])
        writer.writerows(rows)
        path.write_text(buffer.getvalue().rstrip("\n"))  # and no trailing newline
    whole = Dataset.Tabular.from_delimited_files(str(tmp_path / "data"), support_multi_line=True)
    result = start(whole, tmp_path, append_row_format="parquet", mini_batch_size="1KB")
    assert result.status == "Completed", result.reason
    assert result.total_mini_batches > 3 * 10  # cut at record starts, about 1 KB apart
    frame = output_frame(result, "parquet")
    assert frame["text"].tolist() == [text for _, text in rows] * 3

    split = Dataset.Tabular.from_delimited_files(str(tmp_path / "data"))
    failed = run_parallel(
        config(mini_batch_size="1KB", run_max_try=1),
        split,
        tmp_path / "out2",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert failed.failed_mini_batches > 0
    errors = error_text(failed)
    assert "DataError" in errors
    assert "part-0.csv: the line at byte" in errors
    assert "support_multi_line=True" in errors


def test_json_lines_as_arrow_tables(tmp_path: Path) -> None:
    path = tmp_path / "data" / "events.jsonl"
    path.parent.mkdir(parents=True)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(ROWS):
            handle.write(json.dumps({"id": i, "text": f"é {i}\n", "tags": [i % 2]}) + "\n")
    dataset = Dataset.Tabular.from_json_lines_files(str(path))
    result = start(
        dataset,
        tmp_path,
        mini_batch_format="arrow",
        append_row_format="parquet",
        environment_variables={"TABULAR_MODE": "arrow"},
    )
    assert result.status == "Completed", result.reason
    table = pq.read_table(result.output_file)
    assert table.num_rows == ROWS
    assert table.column("id").to_pylist() == list(range(ROWS))
    assert table.column("tags").to_pylist()[:2] == [[0], [1]]


def test_a_parquet_file_with_one_huge_row_group_is_split(tmp_path: Path) -> None:
    rows = 60_000
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "x": pa.array([0.5] * rows)})
    path = tmp_path / "data" / "one-group.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path, row_group_size=rows)
    assert pq.ParquetFile(path).num_row_groups == 1
    dataset = Dataset.Tabular.from_parquet_files(str(path))
    result = start(dataset, tmp_path, mini_batch_size="64KB", append_row_format="parquet")
    assert result.status == "Completed", result.reason
    assert result.total_mini_batches > 3
    assert result.succeeded_items == rows
    assert pq.read_table(result.output_file).column("id").to_pylist() == list(range(rows))


def test_bad_data_fails_only_its_mini_batch(tmp_path: Path) -> None:
    good = "id,name\n" + "".join(f"{i},n{i}\n" for i in range(300))
    middle = good.index("\n", len(good) // 2) + 1
    broken = good[:middle] + "7,too,many\n" + good[middle:]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a-broken.csv").write_text(broken)
    (tmp_path / "data" / "b-good.csv").write_text(good)
    (tmp_path / "data" / "c-latin1.csv").write_bytes(b"id,name\n1,caf\xe9\n")
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path / "data"), validate=False)
    result = start(dataset, tmp_path, mini_batch_size="1KB", run_max_try=2)
    assert result.status == "Completed", result.reason
    assert result.failed_mini_batches == 2
    readable = 0
    for batch in plan_tabular(dataset, 1024, "input"):
        try:
            readable += read_table(batch, dataset.read_options()).num_rows
        except Exception:
            continue
    assert readable < 600
    assert result.succeeded_items == readable
    assert result.output_file is not None
    assert len(result.output_file.read_text().splitlines()) == readable
    # job_error.txt groups the errors: count, inputs, first traceback (file, range, reason).
    errors = error_text(result)
    assert "== DataError: 4 time(s)" in errors  # two mini-batches, two tries each
    assert "a-broken.csv" in errors
    assert "c-latin1.csv" in errors
    assert "DataError: cannot read " in errors
    report = result.run_dir / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    with open(report, newline="") as handle:
        messages = {row["error_message"] for row in csv.DictReader(handle)} - {""}
    assert len(messages) == 2
    assert any(
        re.search(r"a-broken\.csv, bytes \d+-\d+: .*Expected 2 columns, got 3: 7,too,many", m)
        for m in messages
    )
    assert any(
        "c-latin1.csv, bytes 0-15: column(s) ['name'] hold bytes that are not valid utf8" in m
        for m in messages
    )


def test_partition_keys_make_one_mini_batch_per_key_combination(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expected = 0
    for store in (1, 2, 3):
        for brand in ("tropicana", "dominicks"):
            rows = [[store * 100 + i, brand] for i in range(store * 10)]
            for part in range(2):
                path = tmp_path / "data" / f"store={store}" / f"brand={brand}" / f"p{part}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "w", newline="") as handle:
                    csv.writer(handle, lineterminator="\n").writerows([["sku", "label"], *rows])
                expected += len(rows)
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path / "data"))
    with caplog.at_level(logging.WARNING, logger="shardrun"):
        result = start(
            dataset, tmp_path, partition_keys=["store", "brand"], append_row_format="parquet"
        )
    assert "partition_keys win" in caplog.text
    assert result.status == "Completed", result.reason
    assert result.total_mini_batches == 6
    frame = output_frame(result, "parquet")
    assert len(frame) == expected
    for _, row in frame.iterrows():
        assert json.loads(row["keys"]) == {"brand": row["brand"], "store": row["store"]}
    assert frame.groupby("batch")["keys"].nunique().eq(1).all()


def test_partition_keys_for_file_inputs(tmp_path: Path) -> None:
    for store, brand, name in [(1, "a", "x"), (1, "a", "y"), (2, "b", "z"), (1, "b", "w")]:
        path = tmp_path / "data" / str(store) / brand / f"{name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    script = tmp_path / "keys.py"
    script.write_text(
        "import os\n"
        "def run(mini_batch, context):\n"
        "    keys = ','.join(f'{k}={v}' for k, v in sorted(context.partition_key_value.items()))\n"
        "    return [f'{keys} {os.path.basename(p)}' for p in mini_batch]\n"
    )
    dataset = Dataset.File.from_files(
        str(tmp_path / "data"), partition_format="{store}/{brand}/{name}.txt"
    )
    result = run_parallel(
        ParallelRunConfig(
            entry_script=str(script), partition_keys=["store", "brand"], process_count_per_node=2
        ),
        dataset,
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert result.status == "Completed", result.reason
    assert result.total_mini_batches == 3
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == [
        "brand=a,store=1 x.txt",
        "brand=a,store=1 y.txt",
        "brand=b,store=1 w.txt",
        "brand=b,store=2 z.txt",
    ]


def test_mismatched_columns_are_a_clear_error_not_a_corrupt_file(tmp_path: Path) -> None:
    write_table_csv(tmp_path / "data" / "table.csv", rows=400)
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path / "data"))
    result = start(
        dataset,
        tmp_path,
        mini_batch_size="4KB",
        append_row_format="csv",
        environment_variables={"TABULAR_MODE": "mismatch"},
    )
    assert result.failed_mini_batches > 0
    errors = error_text(result)
    assert "ColumnMismatch" in errors
    assert "returned columns ['id_renamed'" in errors
    frame = output_frame(result, "csv")
    assert list(frame.columns) == [
        "id",
        "name",
        "price",
        "flag",
        "count",
        "batch",
        "keys",
        "dtypes",
    ]
    assert set(frame["batch"]) <= set(range(0, result.total_mini_batches, 2))
    assert len(frame) == result.succeeded_items


def test_a_failed_tabular_run_resumes_from_its_record(tmp_path: Path) -> None:
    write_table_csv(tmp_path / "data" / "table.csv", rows=600)
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path / "data"))
    gate = tmp_path / "gate"
    first = start(
        dataset,
        tmp_path,
        run_max_try=1,
        error_threshold=0,
        append_row_format="jsonl",
        environment_variables={"TABULAR_MODE": "gate", "TABULAR_GATE": str(gate)},
    )
    assert first.status == "Failed"
    gate.touch()
    again = resume(first.run_id, workspace=tmp_path / "ws", show_progress=False)
    assert again.status == "Completed", again.reason
    frame = output_frame(again, "jsonl")
    assert frame["id"].tolist() == list(range(600))


JOB = """\
type: parallel
inputs:
  table: {{type: mltable, path: ./data}}
outputs:
  scores: {{type: uri_folder, path: ./out}}
input_data: ${{{{inputs.table}}}}
mini_batch_size: "2kb"
max_concurrency_per_instance: 2
task:
  type: run_function
  code: {code}
  entry_script: tabular.py
  append_row_to: ${{{{outputs.scores}}}}
"""


def test_cli_reads_an_mltable_input(tmp_path: Path) -> None:
    write_table_csv(tmp_path / "data" / "table.csv", rows=300)
    (tmp_path / "job.yaml").write_text(JOB.format(code=SCRIPTS))
    done = subprocess.run(
        [sys.executable, "-m", "shardrun", "run", "job.yaml", "--workspace", "ws", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = Path(done.stdout.strip().splitlines()[-1])
    lines = output.read_text().splitlines()
    assert len(lines) == 300
    assert [int(line.split(" ", 1)[0]) for line in lines] == list(range(300))
