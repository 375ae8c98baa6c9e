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
"""

from __future__ import annotations

import logging
import os
import re

from shardrun.errors import ConfigError

log = logging.getLogger(__name__)

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_announced: set[tuple[str, str]] = set()


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
    return values


def environment(secrets: dict[str, str]) -> dict[str, str]:
    """Variable name -> value of the variables set in this process (to pass to other nodes)."""
    return {v: os.environ[v] for v in secrets.values() if v in os.environ}
