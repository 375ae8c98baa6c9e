"""Datastores: named places that hold data (Azure's ``Datastore``), and paths on them.

A datastore is registered once in a workspace's catalogue (container, bucket or folder, and
the *names* of the environment variables that hold its secrets) and read through fsspec:
adlfs for Azure Blob, s3fs for S3, gcsfs for GCS, the local filesystem for folders. A path on
one is Azure ML's URI ``azureml://datastores/<name>/paths/<path>``
(:meth:`Datastore.path`), which every input of a run accepts.

How URLs are opened (with credentials) is in :mod:`shardrun.workspace.urls`; :func:`is_url`,
:func:`filesystem` and :func:`iter_remote` are re-exported here. The kinds of datastore are
in :mod:`shardrun.workspace.storage`, secrets in :mod:`shardrun.workspace.credentials`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardrun.errors import ConfigError
from shardrun.workspace import credentials, storage
from shardrun.workspace.folder import DEFAULT_DATASTORE, WorkspaceFolder
from shardrun.workspace.urls import (
    clean,
    datastore_record,
    datastore_url,
    filesystem,
    forget,
    is_url,
    iter_remote,
    join,
)

__all__ = ["DataPath", "Datastore", "filesystem", "is_url", "iter_remote", "to_url"]


class Datastore:
    """A registered place that holds data (Azure's ``Datastore``).

    Register one with ``Datastore.register_azure_blob_container``, ``register_s3``,
    ``register_gcs`` or ``register_local_directory``; get it again with
    ``Datastore.get(ws, name)`` or ``Datastore(ws, name)``. The registration lives in the
    workspace's catalogue without its secrets (see :mod:`shardrun.workspace.credentials`).

    Attributes:
        workspace: The workspace it is registered in.
        name: Its name.
        datastore_type: Azure's word for its kind: ``AzureBlob``, ``AmazonS3``,
            ``GoogleCloudStorage`` or ``LocalDirectory``.
        settings: What locates it (container, account, bucket, endpoint, folder); its
            entries are also attributes (``container_name``, ``account_name``, …).
    """

    def __init__(self, workspace: WorkspaceFolder, name: str | None = None) -> None:
        if name is None:
            name = default_datastore_name(workspace)
        record = datastore_record(workspace, name)
        self.workspace = workspace
        self.name: str = name
        self.datastore_type = storage.kind(record.kind).datastore_type
        self.settings = dict(record.settings)
        self._record = record

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, datastore_type={self.datastore_type!r})"

    def __getattr__(self, key: str) -> Any:
        settings = self.__dict__.get("settings", {})
        if key in settings:
            return settings[key]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    # -- getting and registering ---------------------------------------------------------

    @staticmethod
    def get(workspace: WorkspaceFolder, datastore_name: str) -> Datastore:
        """The datastore registered as ``datastore_name``.

        Raises:
            ConfigError: No such datastore; the message lists the registered ones.
        """
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: WorkspaceFolder) -> Datastore:
        """The workspace's default datastore (see ``Workspace.get_default_datastore``)."""
        return Datastore.get(workspace, default_datastore_name(workspace))

    @staticmethod
    def list(workspace: WorkspaceFolder) -> list[Datastore]:
        """Every datastore registered in ``workspace``, by name."""
        return [
            Datastore(workspace, r.name) for r in workspace.catalogue.list_records("datastores")
        ]

    @staticmethod
    def register_azure_blob_container(
        workspace: WorkspaceFolder,
        datastore_name: str,
        container_name: str,
        account_name: str,
        sas_token: str | None = None,
        account_key: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
        *,
        account_key_env: str | None = None,
        sas_token_env: str | None = None,
        **azure_options: Any,
    ) -> Datastore:
        """Register an Azure Blob container (read and written through adlfs).

        Args:
            workspace: Where to register it.
            datastore_name: Letters, digits and ``_``.
            container_name: The container (3-63 lowercase letters, digits, ``-``).
            account_name: The storage account.
            sas_token: A SAS token (a secret: see :mod:`shardrun.workspace.credentials`).
            account_key: The account key (a secret).
            protocol: ``https`` (default) or ``http``.
            endpoint: Azure's meaning, the endpoint suffix (``core.windows.net``); or, in
                shardrun, a whole blob endpoint URL such as Azurite's
                ``http://127.0.0.1:10000/devstoreaccount1``.
            overwrite: Replace a datastore of that name. Without it, registering the same
                settings again returns the datastore, and other settings raise ConfigError.
            create_if_not_exists: Create the container if it does not exist.
            skip_validation: Do not check now that the container can be reached.
            account_key_env: The name of an environment variable holding the account key,
                instead of ``account_key``.
            sas_token_env: The same for the SAS token.
            **azure_options: Azure's other options (``blob_cache_timeout``,
                ``grant_workspace_access``, ``subscription_id``, …): accepted, ignored.
        """
        settings = storage.azure_blob_settings(container_name, account_name, protocol, endpoint)
        secrets = {
            "account_key": (account_key, account_key_env),
            "sas_token": (sas_token, sas_token_env),
        }
        storage.register(
            workspace, datastore_name, "azure_blob", settings, secrets, overwrite,
            create_if_not_exists, skip_validation, azure_options,
        )  # fmt: skip
        return _registered(workspace, datastore_name)

    @staticmethod
    def register_s3(
        workspace: WorkspaceFolder,
        datastore_name: str,
        bucket_name: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        anon: bool = False,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
        *,
        access_key_id_env: str | None = None,
        secret_access_key_env: str | None = None,
        session_token_env: str | None = None,
    ) -> Datastore:
        """Register an S3 bucket (or an S3-compatible store) read through s3fs.

        Azure has no S3 datastore; this one takes s3fs's settings with Azure's register
        options. Keys are secrets (see :mod:`shardrun.workspace.credentials`); without any, boto's
        own chain is used (``AWS_*`` variables, ``~/.aws``, instance metadata).

        Args:
            workspace: Where to register it.
            datastore_name: Letters, digits and ``_``.
            bucket_name: The bucket.
            access_key_id, secret_access_key, session_token: Credentials (secrets).
            endpoint_url: Another S3 endpoint (MinIO, moto, …).
            region_name: The bucket's region.
            anon: Read a public bucket without credentials.
            overwrite, create_if_not_exists, skip_validation: As for Azure Blob.
            access_key_id_env, secret_access_key_env, session_token_env: Names of
                environment variables holding the credentials instead.
        """
        settings = storage.s3_settings(bucket_name, endpoint_url, region_name, anon)
        secrets = {
            "access_key_id": (access_key_id, access_key_id_env),
            "secret_access_key": (secret_access_key, secret_access_key_env),
            "session_token": (session_token, session_token_env),
        }
        storage.register(
            workspace, datastore_name, "s3", settings, secrets, overwrite,
            create_if_not_exists, skip_validation,
        )  # fmt: skip
        return _registered(workspace, datastore_name)

    @staticmethod
    def register_gcs(
        workspace: WorkspaceFolder,
        datastore_name: str,
        bucket_name: str,
        project: str | None = None,
        token: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
    ) -> Datastore:
        """Register a Google Cloud Storage bucket read through gcsfs.

        Args:
            workspace: Where to register it.
            datastore_name: Letters, digits and ``_``.
            bucket_name: The bucket.
            project: The Google Cloud project.
            token: gcsfs's ``token``: the path of a service-account JSON file (the file is
                the secret, its path is stored), ``"anon"``, ``"google_default"`` or
                ``"cloud"``. None means gcsfs's default.
            overwrite, create_if_not_exists, skip_validation: As for Azure Blob.
        """
        settings = storage.gcs_settings(bucket_name, project, token)
        storage.register(
            workspace, datastore_name, "gcs", settings, {}, overwrite,
            create_if_not_exists, skip_validation,
        )  # fmt: skip
        return _registered(workspace, datastore_name)

    @staticmethod
    def register_local_directory(
        workspace: WorkspaceFolder,
        datastore_name: str,
        path: str | os.PathLike[str],
        overwrite: bool = False,
    ) -> Datastore:
        """Register a local (or network-mounted) folder; it is created if missing.

        A folder inside the workspace is stored relative to it, so the workspace can move.
        """
        settings = storage.local_settings(workspace.path, Path(path))
        storage.register(workspace, datastore_name, "local", settings, {}, overwrite, True, True)
        return _registered(workspace, datastore_name)

    def unregister(self) -> None:
        """Remove the registration (the data stays where it is)."""
        if self.workspace.catalogue.get_meta("default_datastore") == self.name:
            raise ConfigError(
                f"datastore {self.name!r} is the workspace's default; make another one the "
                "default with ws.set_default_datastore(name) first"
            )
        self.workspace.catalogue.delete_record("datastores", self.name)
        forget(self.workspace, self.name)

    # -- paths ---------------------------------------------------------------------------

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataPath:
        """A path on this datastore; ``str()`` of it is its ``azureml://`` URI."""
        return DataPath(self, clean(path or ""), data_reference_name)

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem of this datastore, with credentials, and its root path."""
        return storage.open_filesystem(self._record, self.workspace.path)

    def variables(self) -> dict[str, str]:
        """The environment variables (name -> value) that hold its secrets in this process.

        A backend that starts processes elsewhere (Ray) passes them on; never write them to
        a file.
        """
        return credentials.environment(self._record.secrets)

    # -- moving files --------------------------------------------------------------------

    def upload(
        self,
        src_dir: str | os.PathLike[str],
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataPath:
        """Upload the files of ``src_dir`` (recursively) under ``target_path``.

        As in Azure, existing files are skipped unless ``overwrite`` is true.

        Returns:
            The path of ``target_path`` on the datastore.
        """
        source = Path(src_dir)
        if not source.is_dir():
            raise ConfigError(f"src_dir must be a folder; {str(source)!r} is not one")
        files = sorted(p for p in source.rglob("*") if p.is_file())
        return self.upload_files(files, source, target_path, overwrite, show_progress)

    def upload_files(
        self,
        files: Sequence[str | os.PathLike[str]],
        relative_root: str | os.PathLike[str] | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataPath:
        """Upload ``files``, keeping their paths relative to ``relative_root``.

        Args:
            files: Local files.
            relative_root: The folder the remote paths are relative to (default: the
                files' common folder); it must hold every file.
            target_path: The folder on the datastore (default: its root).
            overwrite: Replace existing files (else they are skipped, as in Azure).
            show_progress: Print what was uploaded.
        """
        local = [Path(f).resolve() for f in files]
        fs, base = self.filesystem()
        target = join(base, clean(target_path or ""))
        root = Path(relative_root).resolve() if relative_root else None
        moved = storage.put_files(fs, local, root, target, overwrite)
        _report(show_progress, "uploaded", moved, len(local), self.path(target_path))
        return self.path(target_path)

    def download(
        self,
        target_path: str | os.PathLike[str],
        prefix: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """Download the files whose path starts with ``prefix`` into ``target_path``.

        Files keep their whole path on the datastore below ``target_path``, as in Azure;
        existing local files are skipped unless ``overwrite`` is true.

        Returns:
            How many files were downloaded.
        """
        fs, base = self.filesystem()
        moved, total = storage.get_files(
            fs, base, clean(prefix or ""), Path(target_path), overwrite
        )
        _report(show_progress, "downloaded", moved, total, self.path(prefix))
        return moved


@dataclass(frozen=True)
class DataPath:
    """A path on a datastore (Azure's ``DataPath`` / ``DataReference``).

    ``str(data_path)`` and :attr:`url` give ``azureml://datastores/<name>/paths/<path>``,
    which ``Dataset.File.from_files`` and job inputs accept.
    """

    datastore: Datastore
    path_on_datastore: str
    name: str | None = None

    def __str__(self) -> str:
        return self.url

    @property
    def url(self) -> str:
        """The ``azureml://datastores/<name>/paths/<path>`` URI."""
        return datastore_url(self.datastore.name, self.path_on_datastore)

    @property
    def datastore_name(self) -> str:
        """The datastore's name."""
        return self.datastore.name

    def as_mount(self) -> DataPath:
        """Azure compatibility: files reach ``run()`` as local paths in every mode."""
        return self

    def as_download(self, path_on_compute: str | None = None) -> DataPath:
        """Azure compatibility: files reach ``run()`` as local paths in every mode."""
        del path_on_compute
        return self


def to_url(obj: Any) -> str:
    """A URL string from a DataPath, a ``(datastore, "path")`` tuple, a datastore or a path.

    Raises:
        ConfigError: ``obj`` is none of these.
    """
    if isinstance(obj, DataPath):
        return obj.url
    if isinstance(obj, Datastore):
        return obj.path().url
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], Datastore):
        if not isinstance(obj[1], str):
            raise ConfigError(f"a (datastore, path) tuple needs a path string; got {obj[1]!r}")
        return obj[0].path(obj[1]).url
    if isinstance(obj, str | os.PathLike):
        return os.fspath(obj)
    raise ConfigError(
        "a path must be a string, a DataPath (datastore.path(...)) or a (datastore, 'path') "
        f"tuple; got {type(obj).__name__} {obj!r}"
    )


def _report(show: bool, verb: str, moved: int, total: int, where: DataPath) -> None:
    if show:
        skipped = f" ({total - moved} already there, skipped)" if total > moved else ""
        print(f"{verb} {moved} files, {where}{skipped}")


def default_datastore_name(workspace: WorkspaceFolder) -> str:
    """The name of the workspace's default datastore, registering ``workspaceblobstore``
    (a folder inside the workspace) the first time."""
    name = workspace.catalogue.get_meta("default_datastore")
    if name is not None:
        return name
    if workspace.catalogue.get_record("datastores", DEFAULT_DATASTORE) is None:
        folder = workspace.path / "datastores" / DEFAULT_DATASTORE
        Datastore.register_local_directory(workspace, DEFAULT_DATASTORE, folder)
    workspace.catalogue.set_meta("default_datastore", DEFAULT_DATASTORE)
    return DEFAULT_DATASTORE


def _registered(workspace: WorkspaceFolder, name: str) -> Datastore:
    forget(workspace, name)
    return Datastore(workspace, name)
