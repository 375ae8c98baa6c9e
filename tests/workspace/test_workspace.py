"""Workspaces: creation, config files, the default datastore, which workspace is in use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shardrun.errors import ConfigError
from shardrun.workspace.workspace import (
    DEFAULT_DATASTORE,
    ENV_VAR,
    Workspace,
    current,
    resolve_workspace,
    using,
)


def test_create_makes_folders_catalogue_and_default_datastore(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", subscription_id="ignored")
    assert (ws.path / "catalogue.sqlite").is_file()
    assert ws.runs_dir.is_dir()
    assert ws.models_dir.is_dir()
    store = ws.get_default_datastore()
    assert (store.name, store.datastore_type) == (DEFAULT_DATASTORE, "LocalDirectory")
    assert store.settings == {"path": f"datastores/{DEFAULT_DATASTORE}"}
    assert (ws.path / "datastores" / DEFAULT_DATASTORE).is_dir()
    assert list(ws.datastores) == [DEFAULT_DATASTORE]
    assert ws.compute_targets == {}
    assert Workspace.create(ws.path) == ws
    assert ws.name == "ws"
    with pytest.raises(FileExistsError):
        Workspace.create(ws.path, exist_ok=False)


def test_set_default_datastore_needs_a_registered_one(tmp_path: Path) -> None:
    from shardrun.workspace.datastores import Datastore

    ws = Workspace.create(tmp_path / "ws")
    Datastore.register_local_directory(ws, "other", tmp_path / "elsewhere")
    ws.set_default_datastore("other")
    assert ws.get_default_datastore().name == "other"
    with pytest.raises(ConfigError, match=r"no datastore named 'nope'.*registered: \['other'"):
        ws.set_default_datastore("nope")


def test_write_config_then_from_config_in_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.create(tmp_path / "build" / "ws")
    written = ws.write_config(tmp_path / "project")
    assert written == tmp_path / "project" / ".azureml" / "config.json"
    assert json.loads(written.read_text())["workspace_path"] == "../build/ws"
    deep = tmp_path / "project" / "notebooks" / "deeper"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Workspace.from_config() == ws
    assert Workspace.from_config(written) == ws


def test_from_config_reads_shardrun_and_azure_forms(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.json").write_text(json.dumps({"workspace_path": "data/ws"}))
    assert Workspace.from_config(tmp_path / "a").path == (tmp_path / "a" / "data" / "ws")
    azure = {"subscription_id": "sub", "resource_group": "rg", "workspace_name": "my-ws"}
    (tmp_path / "b" / ".azureml").mkdir(parents=True)
    (tmp_path / "b" / ".azureml" / "config.json").write_text(json.dumps(azure))
    ws = Workspace.from_config(tmp_path / "b")
    assert ws.path == tmp_path / "b" / "my-ws"
    assert (ws.subscription_id, ws.resource_group) == ("sub", "rg")
    assert (ws.path / "catalogue.sqlite").is_file()


def test_from_config_errors_say_what_to_write(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no config.json or .azureml/config.json"):
        Workspace.from_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a readable JSON file"):
        Workspace.from_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"subscription_id": "s"}))
    with pytest.raises(ConfigError, match="names no workspace"):
        Workspace.from_config(tmp_path)
    (tmp_path / "other.json").write_text(json.dumps({"workspace_path": "w"}))
    assert Workspace.from_config(tmp_path, _file_name="other.json").path == tmp_path / "w"


def test_current_prefers_using_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert current().path == tmp_path / "shardrun-workspace"
    assert not (tmp_path / "shardrun-workspace").exists()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert current().path == tmp_path / "from-env"
    chosen = Workspace(tmp_path / "chosen")
    with using(chosen):
        assert current() is chosen
        assert resolve_workspace(None).path == chosen.path
    assert current().path == tmp_path / "from-env"
    assert resolve_workspace(tmp_path / "x").path == tmp_path / "x"


def test_an_old_workspace_gets_a_catalogue(tmp_path: Path) -> None:
    (tmp_path / "ws" / "runs").mkdir(parents=True)
    ws = Workspace.create(tmp_path / "ws")
    assert ws.get_default_datastore().name == DEFAULT_DATASTORE
