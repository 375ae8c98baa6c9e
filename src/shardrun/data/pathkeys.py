"""Keys in paths: Hive folders (``store=1/brand=x/``) and Azure's ``partition_format``.

A partitioned dataset keeps key values in its folder names, so that the driver can group
files by key without reading a byte of them. Two spellings are understood:

* **Hive** folders, ``key=value`` (URL-escaped, as Spark and pyarrow write them), anywhere
  below the folder or glob the dataset names;
* Azure's ``partition_format``: a pattern matched against the end of each path, where
  ``{name}`` captures one path segment (or part of one) and ``{name:yyyy/MM/dd}`` a date;
  ``*`` matches anything within a segment. ``"/{store}/{brand}/{filename}.csv"`` gives the
  keys ``store``, ``brand`` and ``filename``.

Values are strings; a date key's value is written ``2024-01-31`` (or
``2024-01-31T08:00:00`` when the format has a time).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

from shardrun.errors import ConfigError

_GLOB_CHARS = frozenset("*?[")
_FIELD = re.compile(r"\{([^{}:]+)(?::([^{}]+))?\}")
_DATE_PART = re.compile(r"yyyy|MM|dd|HH|mm|ss")
_DATE_REGEX = {"yyyy": r"\d{4}", **dict.fromkeys(("MM", "dd", "HH", "mm", "ss"), r"\d{2}")}
_DATE_ARGS = ("yyyy", "MM", "dd", "HH", "mm", "ss")


@dataclass(frozen=True)
class PathFormat:
    """A compiled ``partition_format``.

    Attributes:
        text: The format as the user wrote it.
        keys: The key names, in the order they appear.
        dates: The keys that hold a date or time.
    """

    text: str
    keys: tuple[str, ...]
    dates: frozenset[str]
    _regex: re.Pattern[str] = field(repr=False, compare=False)
    # For each regex group: the key it belongs to and, for a date, which part it is.
    _groups: tuple[tuple[str, str], ...] = field(repr=False, compare=False)

    def match(self, path: str) -> dict[str, str] | None:
        """The key values in ``path``, or None if the path does not fit the format."""
        found = self._regex.search(path.replace("\\", "/"))
        if found is None:
            return None
        values: dict[str, str] = {}
        parts: dict[str, dict[str, int]] = {}
        for (key, part), text in zip(self._groups, found.groups(), strict=True):
            if part:
                parts.setdefault(key, {})[part] = int(text)
            else:
                values[key] = text
        for key, given in parts.items():
            year, month, day, hour, minute, second = (
                given.get(p, 1 if p in ("MM", "dd") else 0) for p in _DATE_ARGS
            )
            try:
                stamp = datetime(year, month, day, hour, minute, second)
            except ValueError:
                return None
            timed = any(p in given for p in ("HH", "mm", "ss"))
            values[key] = stamp.isoformat() if timed else stamp.date().isoformat()
        return {key: values[key] for key in self.keys}


def compile_format(text: str) -> PathFormat:
    """Compile Azure's ``partition_format`` (``"/{store}/{date:yyyy/MM/dd}/data.csv"``).

    Raises:
        ConfigError: The format names no key, repeats one, or has an unknown date part.
    """
    if not isinstance(text, str) or not _FIELD.search(text):
        raise ConfigError(
            f"partition_format must name at least one key in braces, such as "
            f"'{{store}}/{{brand}}/*.csv'; got {text!r}"
        )
    pattern: list[str] = []
    groups: list[tuple[str, str]] = []
    keys: list[str] = []
    dates: set[str] = set()
    position = 0
    body = text.replace("\\", "/").lstrip("/")
    for found in _FIELD.finditer(body):
        pattern.append(_literal(body[position : found.start()]))
        position = found.end()
        key, date = found.group(1).strip(), found.group(2)
        if key in keys:
            raise ConfigError(f"partition_format names key {key!r} twice: {text!r}")
        keys.append(key)
        if date is None:
            pattern.append(r"([^/]+?)")
            groups.append((key, ""))
            continue
        dates.add(key)
        pattern.append(_date_pattern(key, date, text, groups))
    pattern.append(_literal(body[position:]))
    regex = re.compile(r"(?:^|/)" + "".join(pattern) + "$")
    return PathFormat(text, tuple(keys), frozenset(dates), regex, tuple(groups))


def _literal(text: str) -> str:
    return "[^/]*?".join(re.escape(piece) for piece in text.split("*"))


def _date_pattern(key: str, date: str, text: str, groups: list[tuple[str, str]]) -> str:
    parts: list[str] = []
    separators: list[str] = []
    position = 0
    for found in _DATE_PART.finditer(date):
        separators.append(date[position : found.start()])
        parts.append(re.escape(separators[-1]))
        parts.append(f"({_DATE_REGEX[found.group()]})")
        groups.append((key, found.group()))
        position = found.end()
    rest = date[position:]
    if position == 0 or any(c.isalnum() for c in rest + "".join(separators)):
        raise ConfigError(
            f"partition_format key {key!r} has date format {date!r}; use yyyy, MM, dd, HH, mm "
            f"and ss with separators, such as {{{key}:yyyy/MM/dd}} (in {text!r})"
        )
    return "".join(parts) + re.escape(rest)


def root_of(path: str) -> str:
    """The folder below which Hive keys of ``path``'s files are read.

    For a glob, the folders before its first wildcard; otherwise the path itself (a file
    has no folders below it, so it carries no Hive keys).
    """
    path = path.replace("\\", "/")
    parts = path.split("/")
    for number, part in enumerate(parts):
        if _GLOB_CHARS.intersection(part):
            return "/".join(parts[:number])
    return path.rstrip("/")


def hive_keys(path: str, roots: Sequence[str]) -> dict[str, str]:
    """The ``key=value`` folders of ``path`` below the longest of ``roots`` that holds it."""
    path = canonical(path)
    roots = [canonical(r) for r in roots]
    below = [r for r in roots if path.startswith(r.rstrip("/") + "/")]
    if not below:
        return {}
    relative = path[len(max(below, key=len).rstrip("/")) + 1 :]
    keys: dict[str, str] = {}
    for folder in relative.split("/")[:-1]:
        name, equals, value = folder.partition("=")
        if equals and name:
            keys[unquote(name)] = unquote(value)
    return keys


def canonical(path: str) -> str:
    """``path`` with ``/`` separators; a URL's path without leading slashes (as listed)."""
    path = path.replace("\\", "/")
    scheme, sep, rest = path.partition("://")
    return f"{scheme}://{rest.lstrip('/')}" if sep else path


def path_keys(path: str, roots: Sequence[str], fmt: PathFormat | None) -> dict[str, str]:
    """Every key in ``path``: its Hive folders, then ``fmt``'s keys (which win)."""
    keys = hive_keys(path, roots)
    if fmt is not None:
        keys.update(fmt.match(path) or {})
    return keys
