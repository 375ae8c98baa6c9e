"""Secrets of datastores: kept in environment variables, never in files.

Azure keeps a datastore's account key or SAS token in the workspace's key vault. shardrun
has no vault: the catalogue stores, for each secret, only the *name* of the environment
variable that holds it.

* ``account_key_env="MY_KEY"`` names a variable the user sets (in every process that reads
  the datastore; a run's workers inherit the driver's environment).
* ``account_key="…"`` (a literal, as in Azure's tutorials) is put into this process's
  ``os.environ`` under :func:`variable_name` (``SHARDRUN_DATASTORE_<NAME>_ACCOUNT_KEY``),
  and that name is stored. Processes started from this one inherit it; any other process
  (another terminal, a Ray node) needs the variable set. This is logged once, at INFO,
  naming the variable and never the value.

Secrets also stay out of logs. Every secret value a process reads (:func:`resolve`,
:func:`store`), and the values of the variables that cloud clients read by themselves
(``AWS_ACCESS_KEY_ID``, ``AZURE_STORAGE_CONNECTION_STRING``, …), is masked as ``***`` in
every log record that process makes from then on (:func:`redact_logs`): at DEBUG level,
botocore prints the access key id of each S3 request, inside its ``Authorization`` header.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from shardrun.errors import ConfigError

log = logging.getLogger(__name__)

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_announced: set[tuple[str, str]] = set()
# Variables that cloud clients read credentials from without shardrun's help.
_CLIENT_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_APPLICATION_CREDENTIALS_JSON",
)
MASK = "***"
# Shorter values would mask ordinary words; no real key, token or key id is this short.
_MIN_SECRET = 4
_secrets: list[str] = []  # longest first, so a secret that holds another is masked whole
_factory_installed = False


def variable_name(datastore: str, field: str) -> str:
    """The variable that holds a literal secret: ``SHARDRUN_DATASTORE_BLOB_ACCOUNT_KEY``."""
    stem = re.sub(r"[^A-Za-z0-9]", "_", datastore).upper()
    return f"SHARDRUN_DATASTORE_{stem}_{field.upper()}"


def store(datastore: str, field: str, value: str | None, variable: str | None) -> str | None:
    """Decide where secret ``field`` of ``datastore`` lives; returns the variable's name.

    Args:
        datastore: The datastore's name.
        field: The secret's parameter name (``account_key``, ``sas_token``, …).
        value: A literal secret, put into ``os.environ`` of this process.
        variable: The name of a variable that holds the secret (``<field>_env=``).

    Raises:
        ConfigError: Both or an invalid variable name were given.
    """
    if value is not None and variable is not None:
        raise ConfigError(
            f"give {field} or {field}_env for datastore {datastore!r}, not both", field
        )
    if variable is not None:
        if not _VARIABLE.match(variable):
            raise ConfigError(
                f"{field}_env must name an environment variable (letters, digits, '_'); "
                f"got {variable!r}",
                f"{field}_env",
            )
        if variable not in os.environ:
            log.warning(
                "datastore %r: environment variable %s (its %s) is not set in this process",
                datastore,
                variable,
                field,
            )
        return variable
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field} must be a non-empty string; got {type(value).__name__}", field)
    name = variable_name(datastore, field)
    os.environ[name] = value
    remember(value)
    announce(datastore, field, name)
    return name


def announce(datastore: str, field: str, variable: str) -> None:
    """Log once per process which variable other processes need for this secret."""
    if (datastore, variable) in _announced:
        return
    _announced.add((datastore, variable))
    log.info(
        "datastore %r reads its %s from $%s; processes started from this one inherit it, "
        "any other process (another shell, a Ray node) must have it set",
        datastore,
        field,
        variable,
    )


def resolve(datastore: str, secrets: dict[str, str]) -> dict[str, str]:
    """The values of a datastore's secrets, read from the environment.

    Args:
        datastore: The datastore's name (for the error message).
        secrets: Field name -> variable name, as the catalogue stores them.

    Raises:
        ConfigError: A variable is not set; the message names it, never a value.
    """
    values = {}
    for field, variable in secrets.items():
        value = os.environ.get(variable)
        if value is None:
            raise ConfigError(
                f"datastore {datastore!r} needs environment variable {variable} (its {field}), "
                "which is not set in this process; set it, or register the datastore again "
                f"with {field}=... in this process",
                field,
            )
        values[field] = value
        remember(value)
    return values


def environment(secrets: dict[str, str]) -> dict[str, str]:
    """Variable name -> value of the variables set in this process (to pass to other nodes)."""
    return {v: os.environ[v] for v in secrets.values() if v in os.environ}


# -- keeping secrets out of logs ----------------------------------------------------------


def remember(value: str) -> None:
    """Mask ``value`` (and its URL-quoted forms) in this process's log records from now on."""
    _add(value)
    redact_logs()


def redact(text: str) -> str:
    """``text`` with every secret this process knows replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_logs() -> None:
    """Mask known secrets in every log record this process makes.

    The masking happens when a record is made, so it holds for every handler: the worker's
    log files, its stdout, and handlers an entry script adds. The values of the variables
    cloud clients read on their own (``AWS_ACCESS_KEY_ID``, …) and of shardrun's
    ``SHARDRUN_DATASTORE_*`` variables are remembered too. Calling it again is harmless.
    """
    global _factory_installed
    if not _factory_installed:
        _factory_installed = True
        logging.setLogRecordFactory(_masking(logging.getLogRecordFactory()))
    for name, value in os.environ.items():
        if name in _CLIENT_VARIABLES or name.startswith("SHARDRUN_DATASTORE_"):
            _add(value)


def _add(value: str) -> None:
    forms = {value, quote(value, safe=""), quote(value, safe="=&")}
    new = [form for form in forms if len(form) >= _MIN_SECRET and form not in _secrets]
    if new:
        _secrets.extend(new)
        _secrets.sort(key=len, reverse=True)


def _masking(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if not _secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is reported by the handler, as usual
            return record
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return record

    return factory
