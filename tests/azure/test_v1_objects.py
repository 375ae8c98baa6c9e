"""What Azure's v1 notebooks read off their objects works on shardrun's."""

from __future__ import annotations

import json
from pathlib import Path

from shardrun import Workspace


def test_workspace_strings_default_to_local(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    line = "Azure region: " + ws.location + " " + ws.subscription_id + " " + ws.resource_group
    assert line == "Azure region: local local local"


def test_workspace_strings_come_from_azure_config_json(tmp_path: Path) -> None:
    config = {
        "subscription_id": "0000-1111",
        "resource_group": "rg-batch",
        "workspace_name": "my-ws",
        "location": "westeurope",
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    ws = Workspace.from_config(tmp_path)
    assert (ws.name, ws.location, ws.subscription_id, ws.resource_group) == (
        "my-ws",
        "westeurope",
        "0000-1111",
        "rg-batch",
    )
    created = Workspace.create(tmp_path / "other", location="eastus", sku="basic")
    assert (created.location, created.resource_group) == ("eastus", "local")


def test_partition_by_into_a_datastore_registers_and_can_run_twice(tmp_path: Path) -> None:
    """The tabular-dataset-partition-per-column notebook's call, outside any ``using(ws)``."""
    import pandas as pd

    from shardrun import Dataset

    ws = Workspace.create(tmp_path / "ws")
    datastore = ws.get_default_datastore()
    source = tmp_path / "oj.csv"
    pd.DataFrame({"Store": [1, 1, 2], "Brand": ["a", "b", "a"], "INCOME": [1.0, 2.0, 3.0]}).to_csv(
        source, index=False
    )
    datastore.upload_files([str(source)], str(tmp_path), "oj_sales_data", overwrite=True)
    dataset = Dataset.Tabular.from_delimited_files(path=(datastore, "oj_sales_data/*.csv"))
    for version in (1, 2):
        partitioned = dataset.partition_by(
            partition_keys=["Store", "Brand"],
            target=(datastore, "partition_by_key_res"),
            name="partitioned_oj_data",
        )
        registered = Dataset.get_by_name(ws, "partitioned_oj_data")
        assert registered.version == version
        assert registered.to_spec() == partitioned.to_spec()
        assert len(partitioned.to_pandas_dataframe()) == 3


def wav_tree(root: Path) -> Path:
    for user, season, genre in [
        ("user1", "winter", "disco"),
        ("user1", "fall", "orchestra"),
        ("user4", "spring", "piano"),
        ("user4", "fall", "piano"),
    ]:
        (root / user / season).mkdir(parents=True, exist_ok=True)
        (root / user / season / f"{genre}.wav").write_bytes(b"\0" * 10)
    return root


def test_partition_keys_are_lists_and_their_values_can_be_listed(tmp_path: Path) -> None:
    from shardrun import Dataset

    root = wav_tree(tmp_path / "dataset_partition_test")
    files = Dataset.File.from_files(
        path=str(root / "*/*/*.wav"),
        partition_format="dataset_partition_test/{user}/{season}/{genres}.wav",
    )
    assert files.partition_keys == ["user", "season", "genres"]
    assert files.get_partition_key_values(["user", "genres"]) == [  # in file order
        {"user": "user1", "genres": "orchestra"},
        {"user": "user1", "genres": "disco"},
        {"user": "user4", "genres": "piano"},
    ]
    assert Dataset.File.from_files(str(root)).partition_keys == []


ENTRY = """
def run(mini_batch, mini_batch_context):
    dataset = mini_batch_context.dataset
    names = sorted(p.rsplit("/", 1)[-1] for p in dataset.to_path())
    kind = type(dataset).__name__
    return [f"{kind} {dataset.name} {len(mini_batch)} {names}" for _ in mini_batch]
"""


def test_mini_batch_context_dataset_is_the_filtered_dataset(tmp_path: Path) -> None:
    from shardrun import Dataset, ParallelRunConfig, run_parallel

    root = wav_tree(tmp_path / "dataset_partition_test")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(ENTRY)
    files = Dataset.File.from_files(
        path=str(root / "*/*/*.wav"),
        partition_format="dataset_partition_test/{user}/{season}/{genres}.wav",
    )
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(tmp_path / "code"),
        partition_keys=["user", "genres"],
        error_threshold=0,
        output_action="append_row",
        process_count_per_node=1,
    )
    result = run_parallel(
        config,
        files.as_named_input("wavs"),
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert result.status == "Completed", result.reason
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == [
        "FileDataset wavs 1 ['orchestra.wav']",
        "FileDataset wavs 1 ['disco.wav']",
        "FileDataset wavs 2 ['piano.wav', 'piano.wav']",
        "FileDataset wavs 2 ['piano.wav', 'piano.wav']",
    ]


DATES_ENTRY = """
def run(mini_batch):
    weeks = mini_batch["WeekStarting"]
    return [f"{weeks.dtype.kind} {d:%Y-%m-%d}" for d in weeks]
"""


def test_date_columns_are_datetimes_as_in_azure(tmp_path: Path) -> None:
    from shardrun import Dataset, ParallelRunConfig, run_parallel

    (tmp_path / "a.csv").write_text("WeekStarting,Quantity\n1990-06-14,1\n1990-06-21,2\n")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(DATES_ENTRY)
    dataset = Dataset.Tabular.from_delimited_files(str(tmp_path / "a.csv"))
    assert str(dataset.to_pandas_dataframe()["WeekStarting"].dtype).startswith("datetime64")
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(tmp_path / "code"),
        error_threshold=0,
        output_action="append_row",
        process_count_per_node=1,
    )
    result = run_parallel(config, dataset, tmp_path / "out", workspace=tmp_path / "ws")
    assert result.status == "Completed", result.reason
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == ["M 1990-06-14", "M 1990-06-21"]


def test_an_unreachable_blob_account_fails_fast_in_one_line(tmp_path: Path) -> None:
    import socket
    import time

    import pytest

    from shardrun import Datastore
    from shardrun.errors import ConfigError

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ws = Workspace.create(tmp_path / "ws")
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        Datastore.register_azure_blob_container(
            ws,
            datastore_name="iris_datastore_data",
            container_name="sampledata",
            account_name="pipelinedata",
            account_key="a2V5",
            endpoint=f"http://127.0.0.1:{port}/pipelinedata",
            overwrite=True,
        )
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "\n" not in message
    assert f"127.0.0.1:{port} does not answer" in message
    assert "iris_datastore_data" in message
    assert "iris_datastore_data" not in ws.datastores
