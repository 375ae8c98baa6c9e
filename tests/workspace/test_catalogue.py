"""The workspace catalogue: schema, versioned datasets and models, records, concurrency."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from shardrun.errors import ConfigError
from shardrun.workspace.catalogue import SCHEMA_VERSION, Catalogue, Record


@pytest.fixture
def catalogue(tmp_path: Path) -> Catalogue:
    """A fresh catalogue in ``tmp_path``."""
    cat = Catalogue(tmp_path)
    cat.create()
    return cat


def test_create_is_idempotent_and_sets_wal_and_version(catalogue: Catalogue) -> None:
    catalogue.create()
    db = sqlite3.connect(catalogue.path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()
    assert {"datastores", "datasets", "models", "compute_targets", "meta"} <= tables


def test_reading_a_folder_that_is_not_a_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a shardrun workspace.*Workspace.create"):
        Catalogue(tmp_path).get_meta("x")


def test_datasets_get_versions_and_identical_specs_are_not_duplicated(
    catalogue: Catalogue,
) -> None:
    first = {"kind": "file", "paths": ["/data/a"]}
    second = {"kind": "file", "paths": ["/data/b"]}
    assert catalogue.register_dataset("digits", first, "v1", {"stage": 1}) == 1
    assert catalogue.register_dataset("digits", dict(reversed(first.items()))) == 1
    assert catalogue.register_dataset("digits", second) == 2
    latest = catalogue.get_dataset("digits")
    assert (latest.version, latest.body) == (2, second)
    old = catalogue.get_dataset("digits", 1)
    assert (old.body, old.description, old.tags) == (first, "v1", {"stage": "1"})
    assert [e.version for e in catalogue.list_datasets("digits")] == [1, 2]
    assert [e.name for e in catalogue.list_datasets()] == ["digits", "digits"]


def test_dataset_errors_name_what_exists(catalogue: Catalogue) -> None:
    catalogue.register_dataset("digits", {"kind": "file", "paths": ["/a"]})
    with pytest.raises(ConfigError, match="create_new_version=True"):
        catalogue.register_dataset("digits", {"kind": "file", "paths": ["/b"]}, None, None, False)
    with pytest.raises(ConfigError, match=r"no dataset named 'nope'"):
        catalogue.get_dataset("nope")
    with pytest.raises(ConfigError, match=r"has no version 7; it has versions \[1\]"):
        catalogue.get_dataset("digits", 7)
    with pytest.raises(ConfigError, match="positive integer or 'latest'"):
        catalogue.get_dataset("digits", "newest")


def test_records_insert_ignore_or_replace(catalogue: Catalogue) -> None:
    record = Record("blob", "azure_blob", {"container_name": "c"}, {"account_key": "VAR"}, 1.0)
    assert catalogue.put_record("datastores", record, overwrite=False)
    changed = Record("blob", "azure_blob", {"container_name": "d"}, {}, 2.0)
    assert not catalogue.put_record("datastores", changed, overwrite=False)
    assert catalogue.get_record("datastores", "blob") == record
    assert catalogue.put_record("datastores", changed, overwrite=True)
    assert catalogue.get_record("datastores", "blob") == changed
    assert [r.name for r in catalogue.list_records("datastores")] == ["blob"]
    assert catalogue.delete_record("datastores", "blob")
    assert catalogue.get_record("datastores", "blob") is None
    with pytest.raises(ValueError, match="no table of records"):
        catalogue.get_record("models", "x")


def test_compute_records_keep_no_secrets_column(catalogue: Catalogue) -> None:
    record = Record("cpu", "local", {"process_count": 2}, {}, 1.0)
    catalogue.put_record("compute_targets", record, overwrite=False)
    assert catalogue.get_record("compute_targets", "cpu") == record


def test_a_failing_place_rolls_the_model_version_back(catalogue: Catalogue) -> None:
    def broken(version: int) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        catalogue.register_model("m", "m.onnx", broken)
    assert catalogue.list_models() == []
    placed: list[int] = []
    assert catalogue.register_model("m", "m.onnx", placed.append, "d", {"a": 1}) == 1
    assert placed == [1]
    assert catalogue.get_model("m").body == {"file": "m.onnx"}


def test_legacy_model_json_files_are_adopted(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "old" / "3"
    folder.mkdir(parents=True)
    meta = {"file": "w.bin", "tags": {"k": "v"}, "description": "legacy", "created": 5.0}
    (folder / "model.json").write_text(json.dumps(meta))
    cat = Catalogue(tmp_path)
    cat.create()
    entry = cat.get_model("old")
    assert (entry.version, entry.body, entry.tags, entry.created) == (
        3,
        {"file": "w.bin"},
        {"k": "v"},
        5.0,
    )


def _register_many(root: str) -> list[int]:
    cat = Catalogue(root)
    cat.create()
    return [cat.register_dataset("d", {"n": f"{root}-{i}-{id(cat)}"}) for i in range(10)]


def test_processes_registering_at_once_get_distinct_versions(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_register_many, [str(tmp_path)] * 4))
    versions = sorted(v for batch in results for v in batch)
    assert versions == list(range(1, 41))
