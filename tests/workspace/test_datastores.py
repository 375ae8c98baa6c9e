"""Datastores on a local folder, Azurite (Azure Blob) and moto (S3): registration, secrets,
uploads and downloads, ``azureml://`` listing, resolution in workers, and a real run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shardrun import ParallelRunConfig, run_parallel
from shardrun.errors import ConfigError
from shardrun.workspace import credentials, storage
from shardrun.workspace.datastores import DataPath, Datastore, filesystem, iter_remote, to_url
from shardrun.workspace.urls import clear_cache, secret_variables
from shardrun.workspace.workspace import ENV_VAR, Workspace, using

if TYPE_CHECKING:
    from shardrun.engine.runs import RunResult
    from tests.services import Server

pytest_plugins = ["tests.services"]

BLOB_KEY_VAR = "SHARDRUN_DATASTORE_BLOB_ACCOUNT_KEY"
S3_KEY = "testing"
S3_SECRET = "testing-secret-value"


def unique(prefix: str) -> str:
    """A container or bucket name no other test uses: ``<prefix>-<8 hex>``."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_tree(folder: Path) -> Path:
    """``a.txt``, ``b.txt`` and ``sub/c.txt`` in ``folder``."""
    (folder / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (folder / name).write_text(f"content of {name}")
    return folder


def listing(url: str) -> list[str]:
    """The URLs ``iter_remote`` yields, sorted."""
    return sorted(u for u, _ in iter_remote(url))


def round_trip(store: Datastore, tmp_path: Path) -> None:
    """The upload/download contract, the same on every kind of datastore."""
    with using(store.workspace):
        _round_trip(store, tmp_path)


def _round_trip(store: Datastore, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    where = store.upload(source, "data/", show_progress=False)
    assert str(where) == f"azureml://datastores/{store.name}/paths/data/"
    prefix = f"azureml://datastores/{store.name}/paths/data"
    assert listing(where.url) == [f"{prefix}/a.txt", f"{prefix}/b.txt", f"{prefix}/sub/c.txt"]
    assert listing(f"{prefix}/*.txt") == [f"{prefix}/a.txt", f"{prefix}/b.txt"]
    assert dict(iter_remote(f"{prefix}/a.txt")) == {f"{prefix}/a.txt": 16}
    with pytest.raises(FileNotFoundError):
        listing(f"{prefix}/missing/")

    # Existing files are skipped unless overwrite=True.
    (source / "a.txt").write_text("changed")
    store.upload(source, "data", show_progress=False)
    fs, path = filesystem(f"{prefix}/a.txt")
    assert fs.cat_file(path) == b"content of a.txt"
    store.upload(source, "data", overwrite=True, show_progress=False)
    fs, path = filesystem(f"{prefix}/a.txt")
    assert fs.cat_file(path) == b"changed"

    store.upload_files([source / "sub" / "c.txt", source / "b.txt"], target_path="flat")
    assert listing(f"azureml://datastores/{store.name}/paths/flat/") == [
        f"azureml://datastores/{store.name}/paths/flat/b.txt",
        f"azureml://datastores/{store.name}/paths/flat/sub/c.txt",
    ]
    with pytest.raises(ConfigError, match="relative_root must hold every file"):
        store.upload_files([source / "a.txt"], relative_root=source / "sub")

    out = tmp_path / "out"
    assert store.download(out, prefix="data/", show_progress=False) == 3
    assert (out / "data" / "sub" / "c.txt").read_text() == "content of sub/c.txt"
    assert store.download(out, prefix="data/", show_progress=False) == 0
    assert store.download(out, prefix="data/a", overwrite=True, show_progress=False) == 1
    assert store.download(tmp_path / "all", show_progress=False) == 5


# -- local folders ---------------------------------------------------------------------


def test_local_datastore_round_trip(ws: Workspace, tmp_path: Path) -> None:
    round_trip(ws.get_default_datastore(), tmp_path)
    assert (ws.path / "datastores" / "workspaceblobstore" / "data" / "a.txt").is_file()


def test_registration_overwrite_semantics(ws: Workspace, tmp_path: Path) -> None:
    first = Datastore.register_local_directory(ws, "shared", tmp_path / "one")
    assert first.settings == {"path": str(tmp_path / "one")}
    again = Datastore.register_local_directory(ws, "shared", tmp_path / "one")
    assert again.settings == first.settings
    with pytest.raises(ConfigError, match="other settings; pass overwrite=True"):
        Datastore.register_local_directory(ws, "shared", tmp_path / "two")
    Datastore.register_local_directory(ws, "shared", tmp_path / "two", overwrite=True)
    assert Datastore(ws, "shared").settings == {"path": str(tmp_path / "two")}
    assert sorted(ws.datastores) == ["shared", "workspaceblobstore"]
    Datastore.get(ws, "shared").unregister()
    with pytest.raises(ConfigError, match=r"no datastore named 'shared'"):
        Datastore.get(ws, "shared")
    with pytest.raises(ConfigError, match="is the workspace's default"):
        ws.get_default_datastore().unregister()


def test_paths_and_urls(ws: Workspace) -> None:
    store = ws.get_default_datastore()
    assert str(store.path("/mnist/")) == "azureml://datastores/workspaceblobstore/paths/mnist/"
    data_path = store.path("x.csv", data_reference_name="ref")
    assert isinstance(data_path, DataPath)
    assert (data_path.datastore_name, data_path.name) == ("workspaceblobstore", "ref")
    assert data_path.as_mount() is data_path
    assert data_path.as_download() is data_path
    assert to_url((store, "mnist/")) == "azureml://datastores/workspaceblobstore/paths/mnist/"
    assert to_url(store) == "azureml://datastores/workspaceblobstore/paths/"
    assert str(pickle.loads(pickle.dumps(data_path))) == str(data_path)
    assert to_url(Path("/a/b")) == "/a/b"
    assert to_url("s3://bucket/x") == "s3://bucket/x"
    with pytest.raises(ConfigError, match=r"\(datastore, path\) tuple needs a path string"):
        to_url((store, 3))
    with pytest.raises(ConfigError, match="a path must be a string, a DataPath"):
        to_url(42)


def test_azureml_urls_resolve_in_the_workspace_in_use(ws: Workspace, tmp_path: Path) -> None:
    other = Workspace.create(tmp_path / "other")
    Datastore.register_local_directory(other, "only_there", tmp_path / "there")
    with pytest.raises(ConfigError, match="no datastore named 'only_there'"):
        filesystem("azureml://datastores/only_there/paths/x", ws)
    with using(other):
        _, path = filesystem("azureml://datastores/only_there/paths/x")
    assert path == str(tmp_path / "there" / "x")
    long = "azureml://subscriptions/s/resourcegroups/r/workspaces/w/datastores/only_there/paths/y"
    assert filesystem(long, other)[1] == str(tmp_path / "there" / "y")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ws: Datastore.register_local_directory(ws, "bad-name", "x"), "datastore_name"),
        (
            lambda ws: Datastore.register_azure_blob_container(ws, "b", "A_B", "acct"),
            "container_name must be",
        ),
        (
            lambda ws: Datastore.register_azure_blob_container(ws, "b", "cont", "Acct!"),
            "account_name must be",
        ),
        (
            lambda ws: Datastore.register_azure_blob_container(
                ws, "b", "cont", "acct", endpoint="ftp://x"
            ),
            "endpoint must be",
        ),
        (
            lambda ws: Datastore.register_azure_blob_container(
                ws, "b", "cont", "acct", account_key="k", account_key_env="K"
            ),
            "not both",
        ),
        (
            lambda ws: Datastore.register_azure_blob_container(
                ws, "b", "cont", "acct", account_key_env="1X"
            ),
            "must name an environment variable",
        ),
        (lambda ws: Datastore.register_s3(ws, "s", "Bucket_Upper"), "bucket_name must be"),
        (
            lambda ws: Datastore.register_s3(ws, "s", "bucket", endpoint_url="localhost:9"),
            "endpoint_url must be",
        ),
    ],
)
def test_registration_is_checked(ws: Workspace, call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call(ws)  # type: ignore[operator]


def test_gcs_registration_and_a_missing_package(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Datastore.register_gcs(
        ws, "gcs", "my-bucket", project="p", token="anon", skip_validation=True
    )
    assert (store.datastore_type, store.bucket_name, store.project) == (
        "GoogleCloudStorage", "my-bucket", "p",
    )  # fmt: skip
    missing = dataclasses.replace(storage.KINDS["gcs"], package="not_an_installed_package")
    monkeypatch.setitem(storage.KINDS, "gcs", missing)
    with pytest.raises(ConfigError, match=r"pip install 'shardrun\[gcs\]'"):
        filesystem("azureml://datastores/gcs/paths/x", ws)


def test_secrets_are_stored_as_variable_names(
    ws: Workspace, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with caplog.at_level(logging.INFO, logger="shardrun.workspace.credentials"):
        store = Datastore.register_azure_blob_container(
            ws, "blob", "cont", "acct", account_key="s3cr3t-value", skip_validation=True
        )
        Datastore.register_azure_blob_container(
            ws, "blob", "cont", "acct", account_key="s3cr3t-value", skip_validation=True
        )
    assert os.environ[BLOB_KEY_VAR] == "s3cr3t-value"
    assert store.variables() == {BLOB_KEY_VAR: "s3cr3t-value"}
    urls = ["azureml://datastores/blob/paths/x", "s3://b/y", "/local"]
    assert secret_variables(urls, ws) == {BLOB_KEY_VAR: "s3cr3t-value"}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert f"${BLOB_KEY_VAR}" in messages[0]
    assert "s3cr3t-value" not in messages[0]
    assert b"s3cr3t-value" not in catalogue_bytes(ws)
    record = ws.catalogue.get_record("datastores", "blob")
    assert record is not None
    assert record.secrets == {"account_key": BLOB_KEY_VAR}

    monkeypatch.delenv(BLOB_KEY_VAR)
    clear_cache()
    with pytest.raises(ConfigError, match=f"needs environment variable {BLOB_KEY_VAR}"):
        filesystem("azureml://datastores/blob/paths/x", ws)
    with caplog.at_level(logging.WARNING, logger="shardrun.workspace.credentials"):
        Datastore.register_azure_blob_container(
            ws, "env", "cont", "acct", sas_token_env="MY_SAS", skip_validation=True
        )
    assert "MY_SAS (its sas_token) is not set" in caplog.text
    assert ws.catalogue.get_record("datastores", "env").secrets == {"sas_token": "MY_SAS"}  # type: ignore[union-attr]


def catalogue_bytes(ws: Workspace) -> bytes:
    """The catalogue's file and its WAL, as bytes."""
    return b"".join(p.read_bytes() for p in ws.path.glob("catalogue.sqlite*"))


# -- Azurite ---------------------------------------------------------------------------


def register_blob(ws: Workspace, azurite: Server, container: str, **kwargs: object) -> Datastore:
    """Register an Azurite container as datastore ``blob`` (key given literally)."""
    options: dict[str, object] = {"account_key": azurite.account_key, "create_if_not_exists": True}
    options.update(kwargs)
    return Datastore.register_azure_blob_container(
        workspace=ws,
        datastore_name="blob",
        container_name=container,
        account_name=azurite.account_name,
        endpoint=azurite.blob_endpoint,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.service
def test_azure_blob_round_trip(ws: Workspace, azurite: Server, tmp_path: Path) -> None:
    store = register_blob(ws, azurite, unique("round"))
    assert (store.datastore_type, store.protocol) == ("AzureBlob", "http")
    round_trip(store, tmp_path)


@pytest.mark.service
def test_azure_blob_validation_and_sas_tokens(
    ws: Workspace, azurite: Server, tmp_path: Path
) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    container = unique("sas")
    with pytest.raises(ConfigError, match="does not exist; pass create_if_not_exists=True"):
        register_blob(ws, azurite, container, create_if_not_exists=False)
    register_blob(ws, azurite, container).upload(make_tree(tmp_path / "src"), "x")
    sas = generate_container_sas(
        azurite.account_name,
        container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    reader = Datastore.register_azure_blob_container(
        ws, "reader", container, azurite.account_name, sas_token=sas, endpoint=azurite.blob_endpoint
    )
    assert reader.download(tmp_path / "out", "x/sub/", show_progress=False) == 1
    assert sas.encode() not in catalogue_bytes(ws)


@pytest.mark.service
def test_a_fresh_process_resolves_with_only_the_workspace_and_the_key(
    ws: Workspace, azurite: Server, tmp_path: Path
) -> None:
    register_blob(ws, azurite, unique("fresh")).upload(make_tree(tmp_path / "src"), "d")
    code = (
        "from shardrun.workspace.datastores import filesystem, iter_remote\n"
        "urls = sorted(u for u, _ in iter_remote('azureml://datastores/blob/paths/d/sub/'))\n"
        "fs, path = filesystem(urls[0])\n"
        "print(urls[0], fs.cat_file(path).decode())\n"
    )
    env = {ENV_VAR: str(ws.path), BLOB_KEY_VAR: azurite.account_key}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "azureml://datastores/blob/paths/d/sub/c.txt content of sub/c.txt"
    without_key = subprocess.run(
        [sys.executable, "-c", code], env={ENV_VAR: str(ws.path)}, capture_output=True, text=True
    )  # fmt: skip
    assert without_key.returncode != 0
    assert f"needs environment variable {BLOB_KEY_VAR}" in without_key.stderr


SCRIPT = """
import os

def run(mini_batch):
    rows = []
    for path in mini_batch:
        assert os.path.isfile(path), path
        with open(path) as handle:
            rows.append(f"{os.path.basename(path)} {handle.read()} local={os.path.isabs(path)}")
    return rows
"""


def debug_run_over(store: Datastore, ws: Workspace, tmp_path: Path, count: int) -> RunResult:
    """Upload ``count`` small files to ``store`` and run SCRIPT over them with DEBUG logging."""
    images = tmp_path / "images"
    images.mkdir()
    for index in range(count):
        (images / f"img{index}.txt").write_text(f"pixels{index}")
    store.upload(images, "images", show_progress=False)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(SCRIPT)
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(tmp_path / "code"),
        mini_batch_size="2",
        process_count_per_node=2,
        logging_level="DEBUG",
    )
    with using(ws):
        result = run_parallel(config, str(store.path("images/")), workspace=ws, show_progress=False)
    assert result.status == "Completed", result.reason
    return result


@pytest.mark.service
def test_a_run_reads_an_azureml_input_as_local_files_and_writes_no_secret(
    ws: Workspace, azurite: Server, tmp_path: Path
) -> None:
    store = register_blob(ws, azurite, unique("run"))
    result = debug_run_over(store, ws, tmp_path, 6)
    assert result.output_file is not None
    lines = sorted(result.output_file.read_text().splitlines())
    assert lines == [f"img{i}.txt pixels{i} local=True" for i in range(6)]
    files = [ws.path / "catalogue.sqlite", *result.run_dir.rglob("*")]
    for path in files:
        if path.is_file():
            assert azurite.account_key.encode() not in path.read_bytes(), path


@pytest.mark.service
def test_a_run_on_s3_with_debug_logging_writes_no_key_id_nor_secret(
    ws: Workspace, moto_s3: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The access key id is a credential too: botocore's DEBUG logs print it in the
    # request headers (Authorization: ... Credential=<key id>/...), 30 lines per worker log.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    key_id, secret = "AKIASHARDRUNKEYID0042", "shardrun-s3-secret-0042"
    store = Datastore.register_s3(
        ws,
        "bucket",
        unique("secrets"),
        access_key_id=key_id,
        secret_access_key=secret,
        endpoint_url=moto_s3.url,
        create_if_not_exists=True,
    )
    result = debug_run_over(store, ws, tmp_path, 4)
    logs = [p for p in result.run_dir.rglob("*") if p.is_file() and p.suffix in (".txt", ".log")]
    # The logs did record S3 requests, with the key id masked.
    assert any(b"Credential=***" in path.read_bytes() for path in logs)
    for path in [ws.path / "catalogue.sqlite", *result.run_dir.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert key_id.encode() not in data, path
            assert secret.encode() not in data, path


# -- moto S3 ---------------------------------------------------------------------------


@pytest.mark.service
def test_s3_round_trip(
    ws: Workspace, moto_s3: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore must never ask an instance-metadata address for anything.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = Datastore.register_s3(
        ws,
        "bucket",
        unique("round"),
        access_key_id=S3_KEY,
        secret_access_key=S3_SECRET,
        endpoint_url=moto_s3.url,
        create_if_not_exists=True,
    )
    assert store.datastore_type == "AmazonS3"
    round_trip(store, tmp_path)
    assert S3_SECRET.encode() not in catalogue_bytes(ws)
    with pytest.raises(ConfigError, match="does not exist"):
        Datastore.register_s3(
            ws, "missing", unique("none"), access_key_id=S3_KEY,
            secret_access_key=S3_SECRET, endpoint_url=moto_s3.url,
        )  # fmt: skip


def test_secrets_are_masked_in_log_records(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Values that cloud clients read from the environment by themselves are masked too.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHEENVIRON77")
    credentials.redact_logs()
    credentials.remember("sv=2024&sig=a/b+c=")
    log = logging.getLogger("tests.secrets")
    with caplog.at_level(logging.DEBUG, logger="tests.secrets"):
        log.debug("headers %s", {"Authorization": b"Credential=AKIAFROMTHEENVIRON77/2026"})
        log.debug("url https://x/c?sv=2024&sig=a%2Fb%2Bc= and ?sv=2024&sig=a/b+c=")
        log.debug("quoted whole: sv%3D2024%26sig%3Da%2Fb%2Bc%3D")
        log.debug("nothing secret here: %d", 7)
    assert [r.getMessage() for r in caplog.records] == [
        "headers {'Authorization': b'Credential=***/2026'}",
        "url https://x/c?*** and ?***",
        "quoted whole: ***",
        "nothing secret here: 7",
    ]
