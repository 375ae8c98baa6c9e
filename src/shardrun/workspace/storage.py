"""The kinds of datastore: how each one's settings and secrets become an fsspec filesystem.

=============  ====================  ==========  ========================
kind           Azure datastore_type  fsspec      package (extra)
=============  ====================  ==========  ========================
``azure_blob`` ``AzureBlob``         ``abfs``    adlfs (``shardrun[azure]``)
``s3``         ``AmazonS3``          ``s3``      s3fs (``shardrun[s3]``)
``gcs``        ``GoogleCloudStorage`` ``gs``     gcsfs (``shardrun[gcs]``)
``local``      ``LocalDirectory``    ``file``    (none)
=============  ====================  ==========  ========================

Filesystems are opened once per process and kept (:func:`open_filesystem`); the key includes
the secrets' current values, so a datastore registered again with a new key opens anew.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shardrun.errors import ConfigError
from shardrun.workspace import credentials
from shardrun.workspace.catalogue import Record
from shardrun.workspace.folder import WorkspaceFolder

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_]{1,255}$")
_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,220}[a-z0-9]$")
_AZURE_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"

Options = Callable[[dict[str, Any], dict[str, str]], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """One kind of datastore: its Azure name, fsspec protocol and package, and its options."""

    datastore_type: str
    protocol: str
    package: str | None
    extra: str | None
    options: Options
    root_key: str


def _azure_options(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    # Azure's SDK logs every request at INFO: keep workers' logs for the user's messages.
    http_logger = logging.getLogger(_AZURE_HTTP_LOGGER)
    if http_logger.level == logging.NOTSET:
        http_logger.setLevel(logging.WARNING)
    account = settings["account_name"]
    parts = [f"BlobEndpoint={_blob_url(settings)}"]
    if secrets:
        parts.append(f"AccountName={account}")
    if "account_key" in secrets:
        parts.append(f"AccountKey={secrets['account_key']}")
    if "sas_token" in secrets:
        parts.append(f"SharedAccessSignature={secrets['sas_token'].lstrip('?')}")
    return {"connection_string": ";".join(parts) + ";"}


def _blob_url(settings: dict[str, Any]) -> str:
    endpoint, account = settings["endpoint"], settings["account_name"]
    return endpoint if "://" in endpoint else f"{settings['protocol']}://{account}.blob.{endpoint}"


def _probe(url: str, where: str, timeout: float = 5.0) -> None:
    """Raise a one-line ConfigError if ``url``'s host cannot be resolved or connected to."""
    parsed = urlsplit(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=timeout).close()
    except OSError as e:
        raise ConfigError(
            f"cannot reach {where}: {parsed.hostname}:{port} does not answer ({e}); check "
            "account_name and endpoint, or pass skip_validation=True"
        ) from None


def _s3_options(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {"anon": bool(settings.get("anon"))}
    for field, option in (("access_key_id", "key"), ("secret_access_key", "secret")):
        if field in secrets:
            options[option] = secrets[field]
    if "session_token" in secrets:
        options["token"] = secrets["session_token"]
    client = {k: settings[k] for k in ("endpoint_url", "region_name") if settings.get(k)}
    if client:
        options["client_kwargs"] = client
    return options


def _gcs_options(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    return {k: settings[k] for k in ("project", "token") if settings.get(k)}


def _local_options(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    return {"auto_mkdir": True}


KINDS: dict[str, Kind] = {
    "azure_blob": Kind("AzureBlob", "abfs", "adlfs", "azure", _azure_options, "container_name"),
    "s3": Kind("AmazonS3", "s3", "s3fs", "s3", _s3_options, "bucket_name"),
    "gcs": Kind("GoogleCloudStorage", "gs", "gcsfs", "gcs", _gcs_options, "bucket_name"),
    "local": Kind("LocalDirectory", "file", None, None, _local_options, "path"),
}

_filesystems: dict[tuple[str, ...], tuple[Any, str]] = {}


def kind(name: str) -> Kind:
    """The kind called ``name``.

    Raises:
        ConfigError: An unknown kind (a catalogue written by a newer shardrun).
    """
    try:
        return KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown datastore kind {name!r}; known: {sorted(KINDS)}") from None


def open_filesystem(record: Record, workspace_root: Path | None) -> tuple[Any, str]:
    """The filesystem of a registered datastore, with credentials, and its root path.

    Raises:
        ConfigError: The package it needs is missing, or a secret's variable is not set.
    """
    spec = kind(record.kind)
    values = credentials.resolve(record.name, record.secrets)
    key = (
        record.kind,
        json.dumps(record.settings, sort_keys=True),
        json.dumps(values, sort_keys=True),
        str(workspace_root),
    )
    if key not in _filesystems:
        if spec.package and importlib.util.find_spec(spec.package) is None:
            raise ConfigError(
                f"datastore {record.name!r} ({spec.datastore_type}) needs the package "
                f"{spec.package}: pip install 'shardrun[{spec.extra}]'"
            )
        import fsspec

        fs = fsspec.filesystem(spec.protocol, **spec.options(record.settings, values))
        root = str(record.settings[spec.root_key])
        if spec.protocol == "file" and workspace_root is not None:
            root = str(workspace_root / root)
        _filesystems[key] = (fs, root)
    return _filesystems[key]


def check_reachable(record: Record, workspace_root: Path, create: bool) -> None:
    """Check that a datastore's container, bucket or folder exists (create it if asked).

    Raises:
        ConfigError: It does not exist, or it cannot be reached (the message says why).
    """
    fs, root = open_filesystem(record, workspace_root)
    where = f"{kind(record.kind).datastore_type} {root!r} of datastore {record.name!r}"
    if record.kind == "azure_blob":
        # adlfs retries an unreachable account for minutes, then only warns: ask the
        # network first, once, briefly.
        _probe(_blob_url(record.settings), where)
    try:
        with warnings.catch_warnings():
            # adlfs, when a SAS token may not read container properties: it assumes the
            # container exists, and so does this check.
            warnings.filterwarnings("ignore", "Failed to fetch container properties")
            if fs.exists(root):
                return
        if create:
            fs.mkdir(root, create_parents=True)
            return
    except Exception as e:  # any client error: the message matters, not the class
        raise ConfigError(f"cannot reach {where}: {type(e).__name__}: {e}") from None
    raise ConfigError(
        f"{where} does not exist; pass create_if_not_exists=True, or skip_validation=True"
    )


def clear_cache() -> None:
    """Forget the filesystems opened so far."""
    _filesystems.clear()


def register(
    workspace: WorkspaceFolder,
    name: str,
    kind: str,
    settings: dict[str, Any],
    secrets: dict[str, tuple[str | None, str | None]],
    overwrite: bool,
    create: bool,
    skip_validation: bool,
    ignored: dict[str, Any] | None = None,
) -> None:
    """Record a datastore in the catalogue, its secrets as variable names.

    Args:
        workspace: Where to register it.
        name: The datastore's name.
        kind: A key of :data:`KINDS`.
        settings: What locates it (checked already).
        secrets: Field -> ``(literal value, environment variable name)``; see
            :func:`shardrun.workspace.credentials.store`.
        overwrite: Replace a datastore of that name (else only the same settings pass).
        create: Create its container, bucket or folder if missing.
        skip_validation: Do not check that it can be reached.
        ignored: Azure options that have no meaning here (logged).

    Raises:
        ConfigError: A bad name, other settings under that name without ``overwrite``,
            or an unreachable store.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"datastore_name must be letters, digits and '_' (up to 255); got {name!r}",
            "datastore_name",
        )
    if ignored:
        log.info("datastore %r: ignoring Azure options %s", name, sorted(ignored))
    names = {
        field: variable
        for field, (value, env) in secrets.items()
        if (variable := credentials.store(name, field, value, env)) is not None
    }
    record = Record(name, kind, settings, names, time.time())
    existing = workspace.catalogue.get_record("datastores", name)
    same = existing is not None and (existing.kind, existing.settings, existing.secrets) == (
        kind, settings, names,
    )  # fmt: skip
    if existing is not None and not same and not overwrite:
        raise ConfigError(
            f"a datastore named {name!r} is registered with other settings; pass "
            "overwrite=True to replace it, or pick another name",
            "datastore_name",
        )
    if create or not skip_validation:
        check_reachable(record, workspace.path, create)
    if not same:
        workspace.catalogue.put_record("datastores", record, overwrite=True)


def put_files(
    fs: Any, files: list[Path], relative_root: Path | None, target: str, overwrite: bool
) -> int:
    """Upload local ``files`` below ``target``, at their paths relative to ``relative_root``.

    Returns:
        How many were uploaded (existing ones are skipped unless ``overwrite``).

    Raises:
        ConfigError: A file does not exist, or is not inside ``relative_root``.
    """
    for path in files:
        if not path.is_file():
            raise ConfigError(f"files must be existing files; {str(path)!r} is not one")
    if not files:
        return 0
    root = relative_root or Path(os.path.commonpath([str(p.parent) for p in files]))
    pairs = [(str(path), f"{target.rstrip('/')}/{_relative(path, root)}") for path in files]
    if not overwrite:
        there = set(_find(fs, target))
        pairs = [(lp, rp) for lp, rp in pairs if rp not in there]
    if pairs:
        fs.put([lp for lp, _ in pairs], [rp for _, rp in pairs])
    return len(pairs)


def get_files(
    fs: Any, base: str, prefix: str, destination: Path, overwrite: bool
) -> tuple[int, int]:
    """Download the files below ``base`` whose path starts with ``prefix``.

    They keep their path below ``base`` inside ``destination``, as in Azure.

    Returns:
        ``(downloaded, matched)``: existing local files are skipped unless ``overwrite``.
    """
    start = f"{base.rstrip('/')}/{prefix}" if prefix else base
    folder = start if not prefix or prefix.endswith("/") else start.rsplit("/", 1)[0]
    remote = [p for p in _find(fs, folder) if p.startswith(start)]
    pairs = [(p, destination / p[len(base) :].lstrip("/")) for p in remote]
    if not overwrite:
        pairs = [(rp, lp) for rp, lp in pairs if not lp.exists()]
    for _, lp in pairs:
        lp.parent.mkdir(parents=True, exist_ok=True)
    if pairs:
        fs.get([rp for rp, _ in pairs], [str(lp) for _, lp in pairs])
    return len(pairs), len(remote)


def _find(fs: Any, folder: str) -> list[str]:
    try:
        return [str(p) for p in fs.find(folder)]
    except FileNotFoundError:
        return []


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        raise ConfigError(
            f"relative_root must hold every file; {str(path)!r} is not in {str(root)!r}"
        ) from None


# -- settings, checked ------------------------------------------------------------------


def azure_blob_settings(
    container_name: str, account_name: str, protocol: str | None, endpoint: str | None
) -> dict[str, Any]:
    """The settings of an Azure Blob datastore (see ``register_azure_blob_container``)."""
    _check(container_name, _CONTAINER, "container_name", "3-63 lowercase letters, digits, '-'")
    _check(account_name, _ACCOUNT, "account_name", "3-24 lowercase letters and digits")
    protocol = protocol or "https"
    if protocol not in ("http", "https"):
        raise ConfigError(f"protocol must be 'https' or 'http'; got {protocol!r}", "protocol")
    endpoint = endpoint or "core.windows.net"
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                "endpoint must be a suffix like 'core.windows.net' or a blob endpoint URL "
                f"like 'http://127.0.0.1:10000/devstoreaccount1'; got {endpoint!r}",
                "endpoint",
            )
        protocol = parts.scheme
        endpoint = endpoint.rstrip("/")
    return {
        "container_name": container_name,
        "account_name": account_name,
        "protocol": protocol,
        "endpoint": endpoint,
    }


def s3_settings(
    bucket_name: str, endpoint_url: str | None, region_name: str | None, anon: bool
) -> dict[str, Any]:
    """The settings of an S3 datastore (see ``register_s3``)."""
    _check(bucket_name, _BUCKET, "bucket_name", "3-222 lowercase letters, digits, '.', '-'")
    if endpoint_url is not None and urlsplit(endpoint_url).scheme not in ("http", "https"):
        raise ConfigError(
            f"endpoint_url must be an http(s) URL; got {endpoint_url!r}", "endpoint_url"
        )
    return {
        "bucket_name": bucket_name,
        "endpoint_url": endpoint_url,
        "region_name": region_name,
        "anon": bool(anon),
    }


def gcs_settings(bucket_name: str, project: str | None, token: str | None) -> dict[str, Any]:
    """The settings of a GCS datastore (see ``register_gcs``)."""
    _check(bucket_name, _BUCKET, "bucket_name", "3-222 lowercase letters, digits, '.', '-'")
    if token is not None and not isinstance(token, str):
        raise ConfigError(
            "token must be the path of a service-account JSON file, 'anon', "
            f"'google_default' or 'cloud'; got {type(token).__name__}",
            "token",
        )
    return {"bucket_name": bucket_name, "project": project, "token": token}


def local_settings(workspace_root: Path, path: Path) -> dict[str, Any]:
    """The settings of a local folder datastore: relative to the workspace when inside it."""
    folder = path.expanduser().resolve()
    try:
        return {"path": folder.relative_to(workspace_root).as_posix()}
    except ValueError:
        return {"path": str(folder)}


def _check(value: Any, pattern: re.Pattern[str], parameter: str, allowed: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise ConfigError(f"{parameter} must be {allowed}; got {value!r}", parameter)
