"""The workspace's catalogue: one SQLite file naming its datastores, datasets, models, computes.

``<workspace>/catalogue.sqlite`` is shared by every process that uses the workspace (a
notebook, the CLI, a run's driver and its workers) at once. It follows the ledger's rules
(:mod:`shardrun.engine.ledger`): WAL, one ``BEGIN IMMEDIATE … COMMIT`` helper for every write, a
``CREATE TABLE IF NOT EXISTS`` DDL list and ``PRAGMA user_version``. A connection lives for
one operation, so that nothing holds a lock between calls and forked or spawned processes
never share one.

What the catalogue never holds: secrets. A datastore row names the *environment variables*
that hold its keys (see :mod:`shardrun.workspace.credentials`); model files stay in
``<workspace>/models/<name>/<version>/``.

Tables::

    datastores       name -> kind, settings (JSON), secret variable names (JSON)
    datasets         (name, version) -> spec (JSON), description, tags
    models           (name, version) -> file name in the version folder, tags, description
    compute_targets  name -> kind, config (JSON)
    meta             key -> value (the default datastore, ...)

Room is left for experiments and step-reuse fingerprints: a new table is one more DDL entry
and a bump of :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardrun.errors import ConfigError

SCHEMA_VERSION = 1
FILE_NAME = "catalogue.sqlite"

_DDL = (
    """CREATE TABLE IF NOT EXISTS datastores (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        settings TEXT NOT NULL,
        secrets TEXT NOT NULL,
        created REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS datasets (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        spec TEXT NOT NULL,
        description TEXT,
        tags TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS models (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        file TEXT NOT NULL,
        description TEXT,
        tags TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS compute_targets (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        config TEXT NOT NULL,
        created REAL NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


@dataclass(frozen=True)
class Entry:
    """One versioned row of the ``datasets`` or ``models`` table.

    ``body`` is a dataset's spec, or ``{"file": ...}`` for a model.
    """

    name: str
    version: int
    body: dict[str, Any]
    description: str | None
    tags: dict[str, str]
    created: float


@dataclass(frozen=True)
class Record:
    """One row of the ``datastores`` or ``compute_targets`` table."""

    name: str
    kind: str
    settings: dict[str, Any]
    secrets: dict[str, str]
    created: float


class Catalogue:
    """The catalogue of one workspace. Each method opens and closes its own connection."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / FILE_NAME

    def __repr__(self) -> str:
        return f"Catalogue({str(self.path)!r})"

    # -- connections ---------------------------------------------------------------------

    def exists(self) -> bool:
        """True once :meth:`create` has made the file."""
        return self.path.is_file()

    def create(self) -> None:
        """Make the file and its tables; harmless when they exist (any process may race)."""
        with closing(self._connect()) as db:
            if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                return
            with _transaction(db):
                fresh = db.execute("PRAGMA user_version").fetchone()[0] == 0
                for statement in _DDL:
                    db.execute(statement)
                if fresh:
                    _import_legacy_models(db, self.root / "models")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reading, closed afterwards."""
        if not self.exists():
            raise ConfigError(
                f"{self.root} is not a shardrun workspace (it has no {FILE_NAME}); "
                "create it with Workspace.create(path)"
            )
        with closing(self._connect()) as db:
            yield db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE … COMMIT`` on a fresh connection, ``ROLLBACK`` if the block raises."""
        with self.read() as db, _transaction(db):
            yield db

    # -- meta ----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table, or None."""
        with self.read() as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the ``meta`` table."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- datastores and compute targets: one row per name --------------------------------

    def put_record(self, table: str, record: Record, overwrite: bool) -> bool:
        """Store ``record`` in ``datastores`` or ``compute_targets``.

        Returns:
            False when a row of that name exists and ``overwrite`` is false (nothing changed).
        """
        columns = _record_columns(table)
        values: tuple[Any, ...] = (record.name, record.kind, json.dumps(record.settings))
        if table == "datastores":
            values += (json.dumps(record.secrets),)
        verb = "INSERT OR REPLACE" if overwrite else "INSERT OR IGNORE"
        marks = ",".join("?" * (len(values) + 1))
        with self.transaction() as db:
            cursor = db.execute(
                f"{verb} INTO {table} ({columns}, created) VALUES ({marks})",
                (*values, record.created),
            )
            return cursor.rowcount > 0

    def get_record(self, table: str, name: str) -> Record | None:
        """The row of ``name`` in ``datastores`` or ``compute_targets``, or None."""
        with self.read() as db:
            row = db.execute(
                f"SELECT {_record_columns(table)}, created FROM {table} WHERE name=?", (name,)
            ).fetchone()
        return None if row is None else _record(table, row)

    def list_records(self, table: str) -> list[Record]:
        """Every row of ``datastores`` or ``compute_targets``, by name."""
        with self.read() as db:
            rows = db.execute(
                f"SELECT {_record_columns(table)}, created FROM {table} ORDER BY name"
            ).fetchall()
        return [_record(table, row) for row in rows]

    def delete_record(self, table: str, name: str) -> bool:
        """Remove a row of ``datastores`` or ``compute_targets``; False if there was none."""
        _record_columns(table)
        with self.transaction() as db:
            return db.execute(f"DELETE FROM {table} WHERE name=?", (name,)).rowcount > 0

    # -- datasets ------------------------------------------------------------------------

    def register_dataset(
        self,
        name: str,
        spec: dict[str, Any],
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        create_new_version: bool = True,
    ) -> int:
        """Register ``spec`` under ``name``; returns its version (1, 2, …).

        As in Azure, registering the same spec as the latest version returns that version
        instead of adding one.

        Raises:
            ConfigError: ``name`` exists with another spec and ``create_new_version`` is
                false.
        """
        text = json.dumps(spec, sort_keys=True)
        with self.transaction() as db:
            row = db.execute(
                "SELECT version, spec FROM datasets WHERE name=? ORDER BY version DESC LIMIT 1",
                (name,),
            ).fetchone()
            if row is not None and json.dumps(json.loads(row[1]), sort_keys=True) == text:
                return int(row[0])
            if row is not None and not create_new_version:
                raise ConfigError(
                    f"a dataset named {name!r} is already registered (version {row[0]}); pass "
                    "create_new_version=True to add a version, or pick another name"
                )
            version = 1 if row is None else int(row[0]) + 1
            _insert_entry(db, "datasets", name, version, text, description, tags)
        return version

    def get_dataset(self, name: str, version: int | str = "latest") -> Entry:
        """One version of a registered dataset (``"latest"`` by default).

        Raises:
            ConfigError: No such name or version; the message lists what exists.
        """
        return self._get_entry("datasets", "dataset", name, version)

    def list_datasets(self, name: str | None = None) -> list[Entry]:
        """Every registered dataset version (of one name, if given), by name and version."""
        return self._list_entries("datasets", name)

    # -- models --------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        file: str,
        place: Callable[[int], None],
        description: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> int:
        """Allocate the next version of model ``name`` and record it.

        ``place(version)`` runs inside the transaction, after the version is chosen and
        before the row is written: it moves the model's files into their version folder.
        Two processes registering at once therefore get different versions, and a version
        that is in the catalogue always has its files.
        """
        with self.transaction() as db:
            row = db.execute("SELECT MAX(version) FROM models WHERE name=?", (name,)).fetchone()
            version = int(row[0] or 0) + 1
            place(version)
            _insert_entry(db, "models", name, version, file, description, tags)
        return version

    def get_model(self, name: str, version: int | str = "latest") -> Entry:
        """One version of a registered model; ``body["file"]`` names its file or folder.

        Raises:
            ConfigError: No such name or version; the message lists what exists.
        """
        return self._get_entry("models", "model", name, version)

    def list_models(self, name: str | None = None) -> list[Entry]:
        """Every registered model version (of one name, if given), by name and version."""
        return self._list_entries("models", name)

    # -- versioned tables ----------------------------------------------------------------

    def _get_entry(self, table: str, noun: str, name: str, version: int | str) -> Entry:
        with self.read() as db:
            versions = [
                int(v)
                for (v,) in db.execute(
                    f"SELECT version FROM {table} WHERE name=? ORDER BY version", (name,)
                )
            ]
            if not versions:
                raise ConfigError(f"no {noun} named {name!r} is registered in {self.root}")
            wanted = versions[-1] if version in ("latest", None) else _version(noun, version)
            if wanted not in versions:
                raise ConfigError(
                    f"{noun} {name!r} has no version {version!r}; it has versions {versions}"
                )
            row = db.execute(
                f"SELECT {_entry_columns(table)} FROM {table} WHERE name=? AND version=?",
                (name, wanted),
            ).fetchone()
        return _entry(table, row)

    def _list_entries(self, table: str, name: str | None) -> list[Entry]:
        query = f"SELECT {_entry_columns(table)} FROM {table}"
        args: tuple[str, ...] = ()
        if name is not None:
            query, args = query + " WHERE name=?", (name,)
        with self.read() as db:
            rows = db.execute(query + " ORDER BY name, version", args).fetchall()
        return [_entry(table, row) for row in rows]


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _version(noun: str, version: int | str) -> int:
    try:
        number = int(version)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or isinstance(version, bool):
        raise ConfigError(f"{noun} version must be a positive integer or 'latest'; got {version!r}")
    return number


def _insert_entry(
    db: sqlite3.Connection,
    table: str,
    name: str,
    version: int,
    body: str,
    description: str | None,
    tags: dict[str, Any] | None,
) -> None:
    column = "spec" if table == "datasets" else "file"
    tag_text = json.dumps({str(k): str(v) for k, v in (tags or {}).items()})
    db.execute(
        f"INSERT INTO {table} (name, version, {column}, description, tags, created) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, version, body, description, tag_text, time.time()),
    )


def _entry_columns(table: str) -> str:
    column = "spec" if table == "datasets" else "file"
    return f"name, version, {column}, description, tags, created"


def _entry(table: str, row: tuple[Any, ...]) -> Entry:
    body = json.loads(row[2]) if table == "datasets" else {"file": str(row[2])}
    return Entry(str(row[0]), int(row[1]), body, row[3], json.loads(row[4]), float(row[5]))


def _record_columns(table: str) -> str:
    if table == "datastores":
        return "name, kind, settings, secrets"
    if table == "compute_targets":
        return "name, kind, config"
    raise ValueError(f"no table of records named {table!r}")


def _record(table: str, row: tuple[Any, ...]) -> Record:
    secrets = json.loads(row[3]) if table == "datastores" else {}
    return Record(str(row[0]), str(row[1]), json.loads(row[2]), secrets, float(row[-1]))


def _import_legacy_models(db: sqlite3.Connection, models_dir: Path) -> None:
    """Adopt the ``model.json`` files that shardrun 0.1 wrote before the catalogue existed."""
    for meta_file in sorted(models_dir.glob("*/*/model.json")):
        try:
            meta = json.loads(meta_file.read_text())
            version = int(meta_file.parent.name)
        except (OSError, ValueError):
            continue
        db.execute(
            "INSERT OR IGNORE INTO models (name, version, file, description, tags, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                meta_file.parent.parent.name,
                version,
                str(meta.get("file", "")),
                meta.get("description"),
                json.dumps(meta.get("tags") or {}),
                float(meta.get("created") or time.time()),
            ),
        )
