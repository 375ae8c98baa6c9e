"""List the files that paths name, as ``(path, size)`` pairs, and sort them off the heap.

A path may be a file, a folder (listed recursively) or a glob (``**`` recurses), local or
any fsspec URL. Listing streams; :func:`sorted_unique` sorts a listing of up to
:data:`IN_MEMORY` files in memory and a longer one outside it (a temporary SQLite database
spills to disk), so that a million-file folder never sits in memory as a million Python
objects, and files come out in a deterministic order: by path.

Local file names are whatever the filesystem holds. A name that is not valid UTF-8 comes
back as Python spells it (undecodable bytes as lone surrogates, ``os.fsdecode``), is
sorted by its bytes, and opens like any other file. Symbolic links are followed; a link
that leads back into a folder being listed (a loop) is skipped with a warning naming it.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

from shardrun.data.pathkeys import canonical, root_of
from shardrun.errors import ConfigError
from shardrun.workspace.datastores import is_url, iter_remote

_log = logging.getLogger("shardrun")

#: Files below a listed folder whose name starts with one of these are skipped from tabular
#: data (Spark's ``_SUCCESS`` and ``_temporary/``, ``.crc`` checksums), as pyarrow's
#: datasets do.
HIDDEN_PREFIXES = ("_", ".")


def iter_files(paths: Iterable[str], sizes: bool = True) -> Iterator[tuple[str, int]]:
    """Stream ``(path, size)`` for every file that ``paths`` name, unsorted.

    Local results are absolute paths. With ``sizes=False`` a local file's size is not read
    (no ``stat`` per file: the folder entry's type says it is a file) and comes back as 0;
    remote listings give sizes for free and keep them.

    Raises:
        ConfigError: A path that is not a glob does not exist.
    """
    for path in paths:
        if is_url(path):
            try:
                yield from iter_remote(path)
            except FileNotFoundError:
                raise ConfigError(
                    f"input path {path!r} does not exist; give a file, a folder or a glob"
                ) from None
        else:
            yield from _iter_local(path.removeprefix("file://"), sizes)


def tabular_files(paths: Iterable[str]) -> Iterator[tuple[str, int]]:
    """``(path, size)`` of the data files ``paths`` name, hidden files left out, unsorted.

    A file below a listed folder is hidden when a part of its path below the root starts
    with one of :data:`HIDDEN_PREFIXES`; a file named explicitly never is.
    """
    for path in paths:
        root = canonical(root_of(path))
        for name, size in iter_files([path]):
            listed = canonical(name)
            if listed == canonical(path):  # named, not found by listing
                yield name, size
                continue
            below = listed[len(root) :] if listed.startswith(root) else os.path.basename(name)
            parts = below.replace("\\", "/").split("/")
            if not any(part.startswith(HIDDEN_PREFIXES) for part in parts if part):
                yield name, size


def _iter_local(path: str, sizes: bool = True) -> Iterator[tuple[str, int]]:
    path = os.path.abspath(os.path.expanduser(path))
    skip = _Skipped()
    if any(c in path for c in "*?["):
        loops = _Loops(path, skip)
        for match in glob.iglob(path, recursive=True):
            if loops.inside(os.path.dirname(match)):
                continue
            if _is_dir(match):
                if not loops.inside(match):
                    yield from _walk_local(match, skip, sizes)
            elif not sizes:
                if os.path.isfile(match):
                    yield match, 0
            elif (size := _size(match, skip)) is not None:
                yield match, size
    elif _is_dir(path):
        yield from _walk_local(path, skip, sizes)
    elif os.path.isfile(path):
        yield path, os.stat(path).st_size if sizes else 0
    else:
        raise ConfigError(f"input path {path!r} does not exist; give a file, a folder or a glob")


class _Skipped:
    """What one listing skipped: each path is named once, in a warning."""

    LOOP = "a symbolic link loop (it leads back to a folder above it)"

    def __init__(self) -> None:
        self.paths: set[str] = set()

    def __call__(self, path: str, why: str) -> None:
        if path not in self.paths:
            self.paths.add(path)
            _log.warning("skipping %s: %s", _printable(path), why)


def _walk_local(folder: str, skip: _Skipped, sizes: bool = True) -> Iterator[tuple[str, int]]:
    """Every file below ``folder``; a link back to a folder above it is skipped.

    Without ``sizes``, a file costs no ``stat`` (``DirEntry.is_file`` reads the entry's
    type; only a symbolic link is followed); folders are still stat'ed, for loops.
    """
    stack = [(folder, _ancestors(folder))]
    while stack:
        current, above = stack.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                try:
                    is_dir = entry.is_dir()
                    if not is_dir and not sizes:
                        if entry.is_file():
                            yield entry.path, 0
                        continue
                    info = entry.stat() if is_dir or entry.is_file() else None
                except OSError as e:
                    skip(entry.path, e.strerror or str(e))
                    continue
                if info is None:
                    continue  # a broken link, a socket, a device: not data
                if not is_dir:
                    yield entry.path, info.st_size
                elif (key := (info.st_dev, info.st_ino)) in above:
                    skip(entry.path, skip.LOOP)
                else:
                    stack.append((entry.path, above | {key}))


def _ancestors(folder: str) -> frozenset[tuple[int, int]]:
    """``(device, inode)`` of ``folder`` and of every folder above it (links resolved)."""
    found = set()
    current = os.path.realpath(folder)
    while True:
        info = os.stat(current)
        found.add((info.st_dev, info.st_ino))
        parent = os.path.dirname(current)
        if parent == current:
            return frozenset(found)
        current = parent


class _Loops:
    """Which matches of a glob lie below a link back to a folder above it.

    ``**`` follows links to folders, so a loop would match the same files again at every
    depth until the system refuses (about 40 levels); such matches are left out.
    """

    def __init__(self, pattern: str, skip: _Skipped) -> None:
        literal = re.split(r"[*?[]", pattern, maxsplit=1)[0]
        self.top = os.path.dirname(literal)
        self.skip = skip
        self.looped: dict[str, bool] = {}  # folders only: one lookup per file

    def inside(self, folder: str) -> bool:
        """True when ``folder`` is, or lies below, a folder link that loops."""
        if folder == self.top or not folder.startswith(self.top.rstrip("/") + "/"):
            return False
        known = self.looped.get(folder)
        if known is None:
            parent = os.path.dirname(folder)
            known = self.inside(parent) or self._loops(folder, parent)
            self.looped[folder] = known
        return known

    def _loops(self, path: str, parent: str) -> bool:
        if not os.path.islink(path):
            return False
        target, here = os.path.realpath(path), os.path.realpath(parent)
        if here == target or here.startswith(target.rstrip("/") + "/"):
            self.skip(path, self.skip.LOOP)
            return True
        return False


def _is_dir(path: str) -> bool:
    try:
        return os.path.isdir(path)
    except OSError:
        return False


def _size(path: str, skip: _Skipped) -> int | None:
    """The size of the file at ``path``; None (skipped) when it cannot be read."""
    try:
        return os.stat(path).st_size
    except OSError as e:
        skip(path, e.strerror or str(e))
        return None


def _printable(path: str) -> str:
    """``path`` with undecodable bytes shown as ``\\xNN``, so that any log handler writes it."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@contextmanager
def scratch_db(prefix: str) -> Iterator[sqlite3.Connection]:
    """A throwaway SQLite database on disk (no journal, no fsync), removed afterwards.

    Used to sort and group listings larger than memory. Inside a generator, the removal
    also runs when an abandoned generator is collected.
    """
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        db = sqlite3.connect(os.path.join(tmp, "scratch.sqlite"))
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            yield db
        finally:
            db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def path_bytes(path: str) -> bytes:
    """``path`` as the bytes it names: what SQLite stores and sorts (UTF-8 order for text).

    A name that is not valid UTF-8 (Python spells its bytes as lone surrogates) cannot be
    SQLite text; its bytes can.
    """
    return path.encode("utf-8", "surrogateescape")


def path_text(data: bytes) -> str:
    """The inverse of :func:`path_bytes`."""
    return data.decode("utf-8", "surrogateescape")


#: Listings of up to this many files are sorted in memory (about 60 MB of Python objects
#: at most); longer ones spill to a temporary SQLite file.
IN_MEMORY = 250_000


def sorted_unique(
    files: Iterable[tuple[str, int]], chunk: int = 10_000, in_memory: int = IN_MEMORY
) -> Iterator[tuple[str, int]]:
    """Sort ``(path, size)`` pairs by path (its bytes) and drop repeats (the first stays).

    Up to ``in_memory`` pairs are sorted in memory; a longer listing spills, ``chunk`` pairs
    at a time, to a temporary SQLite file that sorts it on disk, so that memory stays
    bounded whatever the number of files.
    """
    iterator = iter(files)
    head = list(islice(iterator, in_memory + 1))
    if len(head) <= in_memory:
        head.sort(key=lambda item: path_bytes(item[0]))  # stable: the first repeat stays
        previous = None
        for path, size in head:
            if path != previous:
                yield path, size
            previous = path
        return
    with scratch_db("shardrun-sort-") as db:
        # Appended in listing order, sorted once: far faster than inserting into an index.
        db.execute("CREATE TABLE f (path BLOB, size INTEGER)")
        rows = iter(head)
        del head
        for source in (rows, iterator):
            while batch := [(path_bytes(p), n) for p, n in islice(source, chunk)]:
                db.executemany("INSERT INTO f VALUES (?, ?)", batch)
        db.commit()
        ordered = db.execute(
            "SELECT path, size FROM f WHERE rowid IN (SELECT MIN(rowid) FROM f GROUP BY path) "
            "ORDER BY path"
        )
        for path, size in ordered:
            yield path_text(path), size
