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
