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
