"""The model registry: versions, lookups, atomic and concurrent registration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from shardrun.errors import ConfigError
from shardrun.workspace.models import Model, model_dir
from shardrun.workspace.workspace import ENV_VAR, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A fresh workspace."""
    return Workspace.create(tmp_path / "ws")


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A small model file."""
    path = tmp_path / "src" / "net.onnx"
    path.parent.mkdir()
    path.write_bytes(b"weights-1")
    return path


def test_register_a_file_then_a_folder_as_versions(
    ws: Workspace, model_file: Path, tmp_path: Path
) -> None:
    first = Model.register(ws, model_file, "net", tags={"epochs": 3}, description="first")
    assert (first.version, first.id, first.tags) == (1, "net:1", {"epochs": "3"})
    assert first.path == ws.models_dir / "net" / "1" / "net.onnx"
    assert first.path.read_bytes() == b"weights-1"
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.bin").write_bytes(b"w")
    second = Model.register(workspace=ws, model_path=folder, model_name="net", model_framework="x")
    assert second.version == 2
    assert (second.path / "sub" / "w.bin").read_bytes() == b"w"
    assert Model(ws, "net").version == 2
    assert Model(ws, "net", 1).description == "first"
    assert Model(ws, id="net:1").path == first.path
    assert model_dir(ws, "net") == ws.models_dir / "net" / "2"
    assert model_dir(ws.path, "net", 1) == ws.models_dir / "net" / "1"
    assert not list(ws.models_dir.glob(".partial-*"))


def test_list_filters_by_name_tags_and_latest(ws: Workspace, model_file: Path) -> None:
    Model.register(ws, model_file, "a", tags={"stage": "dev"})
    Model.register(ws, model_file, "a", tags={"stage": "prod"})
    Model.register(ws, model_file, "b")
    assert [m.id for m in Model.list(ws)] == ["a:1", "a:2", "b:1"]
    assert [m.id for m in Model.list(ws, "a")] == ["a:1", "a:2"]
    assert [m.id for m in Model.list(ws, latest=True)] == ["a:2", "b:1"]
    assert [m.id for m in Model.list(ws, tags=[["stage", "prod"]])] == ["a:2"]
    assert [m.id for m in Model.list(ws, tags=["stage"])] == ["a:1", "a:2"]


def test_unknown_models_and_bad_input_raise_config_errors(
    ws: Workspace, model_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="no model named 'nope'"):
        Model(ws, "nope")
    Model.register(ws, model_file, "net")
    with pytest.raises(ConfigError, match=r"has no version 4; it has versions \[1\]"):
        Model(ws, "net", 4)
    with pytest.raises(ConfigError, match="model_name must be"):
        Model.register(ws, model_file, "bad name")
    with pytest.raises(ConfigError, match="does not exist"):
        Model.register(ws, tmp_path / "missing.onnx", "net")
    with pytest.raises(ConfigError, match="no model named"):
        model_dir(ws, "nope")


def test_get_model_path_uses_the_workspace_of_the_environment(
    ws: Workspace, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered = Model.register(ws, model_file, "net")
    assert Model.get_model_path("net", _workspace=ws) == str(registered.path)
    monkeypatch.setenv(ENV_VAR, str(ws.path))
    assert Model.get_model_path("net") == str(registered.path)
    assert Model.get_model_path("net", version=1) == str(registered.path)


def test_download_copies_the_model(ws: Workspace, model_file: Path, tmp_path: Path) -> None:
    model = Model.register(ws, model_file, "net")
    copy = Path(model.download(tmp_path / "out"))
    assert copy.read_bytes() == b"weights-1"
    with pytest.raises(FileExistsError):
        model.download(tmp_path / "out")
    assert model.download(tmp_path / "out", exist_ok=True) == str(copy)


def test_an_interrupted_copy_leaves_nothing_registered(
    ws: Workspace, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_copy(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copy2", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        Model.register(ws, model_file, "net")
    monkeypatch.undo()
    assert Model.list(ws) == []
    assert [p.name for p in ws.models_dir.iterdir()] == []
    assert Model.register(ws, model_file, "net").version == 1


def test_leftovers_of_a_killed_registration_are_cleaned(ws: Workspace, model_file: Path) -> None:
    # A process killed between rename and commit leaves a version folder the catalogue lacks.
    orphan = ws.models_dir / "net" / "1"
    orphan.mkdir(parents=True)
    (orphan / "half.bin").write_bytes(b"junk")
    code = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    stale = ws.models_dir / f".partial-{dead.stdout.strip()}-abc"
    stale.mkdir()
    mine = ws.models_dir / f".partial-{os.getpid()}-abc"
    mine.mkdir()
    model = Model.register(ws, model_file, "net")
    assert model.version == 1
    assert sorted(p.name for p in (ws.models_dir / "net" / "1").iterdir()) == ["net.onnx"]
    assert not stale.exists()
    assert mine.exists()  # a live process (this one) may still be copying


def test_old_model_json_registrations_are_read(tmp_path: Path) -> None:
    folder = tmp_path / "ws" / "models" / "mnist-digits" / "1"
    folder.mkdir(parents=True)
    (folder / "mnist.onnx").write_bytes(b"m")
    (folder / "model.json").write_text('{"file": "mnist.onnx", "tags": {"a": "b"}}')
    ws = Workspace.create(tmp_path / "ws")
    assert Model(ws, "mnist-digits").path == folder / "mnist.onnx"
    assert Model.register(ws, folder / "mnist.onnx", "mnist-digits").version == 2


def _register(args: tuple[str, str]) -> list[int]:
    workspace, source = args
    ws = Workspace.create(workspace)
    return [Model.register(ws, source, "shared").version for _ in range(3)]


def test_processes_registering_at_once_get_distinct_complete_versions(
    ws: Workspace, model_file: Path
) -> None:
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_register, [(str(ws.path), str(model_file))] * 4))
    versions = sorted(v for batch in results for v in batch)
    assert versions == list(range(1, 13))
    for version in versions:
        assert Model(ws, "shared", version).path.read_bytes() == b"weights-1"
    assert not list(ws.models_dir.glob(".partial-*"))
