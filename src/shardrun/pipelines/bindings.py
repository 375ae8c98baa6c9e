"""The ``${{...}}`` expressions and ``azureml:`` strings of Azure ML v2 pipeline job files.

Expressions (Azure's names):

* ``${{parent.inputs.<name>}}``, ``${{parent.outputs.<name>}}``: the pipeline's own inputs
  and outputs;
* ``${{parent.jobs.<job>.outputs.<name>}}``: an output of another job of the pipeline;
* ``${{inputs.<name>}}``, ``${{outputs.<name>}}``: the job's own inputs and outputs (in
  ``command``, ``program_arguments``, ``input_data`` and ``append_row_to``);
* ``${{name}}`` and ``${{default_datastore}}``: runtime values usable inside paths: the job's
  name and the workspace's default datastore.

``azureml:`` strings: ``azureml://datastores/<name>/paths/<path>`` (a path on a datastore of
the workspace) and ``azureml:<name>:<version>`` / ``azureml:<name>@latest`` (a registered
data asset). Any other ``azureml:`` string is a one-line error, never a folder name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from shardrun.errors import ConfigError

__all__ = [
    "Reference",
    "asset",
    "datastore_path",
    "references",
    "substitute",
    "whole",
]

_EXPR = re.compile(r"\$\{\{\s*(?P<body>[^{}]*?)\s*\}\}")
_WORD = r"[A-Za-z_][A-Za-z0-9_\-]*"
_FORMS = [
    re.compile(rf"^parent\.jobs\.(?P<job>{_WORD})\.(?P<kind>outputs)\.(?P<name>{_WORD})$"),
    re.compile(rf"^parent\.(?P<kind>inputs|outputs)\.(?P<name>{_WORD})$"),
    re.compile(rf"^(?P<kind>inputs|outputs)\.(?P<name>{_WORD})$"),
    re.compile(r"^(?P<kind>name|default_datastore)$"),
]
_DATASTORE = re.compile(r"^azureml://(?:.*/)?datastores/(?P<store>[^/]+)/paths/(?P<path>.*)$")
_ASSET = re.compile(r"^azureml:(?P<name>[A-Za-z0-9_.\-]+)(?:@(?P<label>latest)|:(?P<version>\d+))$")


@dataclass(frozen=True)
class Reference:
    """One ``${{...}}`` expression.

    Attributes:
        scope: ``"parent"`` (the pipeline), ``"job"`` (the job itself), ``"sibling"``
            (another job) or ``"runtime"`` (``name``, ``default_datastore``).
        kind: ``"inputs"`` or ``"outputs"``, or for ``runtime`` the value's name.
        name: The input's or output's name (empty for ``runtime``).
        job: The other job's name (``sibling`` only).
    """

    scope: str
    kind: str
    name: str = ""
    job: str = ""

    def __str__(self) -> str:
        if self.scope == "runtime":
            return f"${{{{{self.kind}}}}}"
        prefix = {"parent": "parent.", "sibling": f"parent.jobs.{self.job}.", "job": ""}
        return f"${{{{{prefix[self.scope]}{self.kind}.{self.name}}}}}"


def _parse(body: str) -> Reference:
    for number, form in enumerate(_FORMS):
        match = form.match(body)
        if match is None:
            continue
        groups = match.groupdict()
        scope = ("sibling", "parent", "job", "runtime")[number]
        return Reference(scope, groups["kind"], groups.get("name") or "", groups.get("job") or "")
    raise ConfigError(
        f"${{{{{body}}}}} is not an expression shardrun knows; allowed: ${{{{inputs.<name>}}}}, "
        "${{outputs.<name>}}, ${{parent.inputs.<name>}}, ${{parent.outputs.<name>}}, "
        "${{parent.jobs.<job>.outputs.<name>}}, ${{name}}, ${{default_datastore}}"
    )


def whole(value: Any) -> Reference | None:
    """The expression ``value`` consists of, if it is exactly one ``${{...}}``."""
    if not isinstance(value, str):
        return None
    match = _EXPR.fullmatch(value.strip())
    return _parse(match["body"]) if match else None


def references(value: Any) -> Iterator[Reference]:
    """Every expression anywhere in ``value`` (strings, lists and mappings, nested)."""
    if isinstance(value, str):
        for match in _EXPR.finditer(value):
            yield _parse(match["body"])
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def substitute(text: str, value: Callable[[Reference], str]) -> str:
    """``text`` with each expression replaced by ``value(reference)``."""
    return _EXPR.sub(lambda match: value(_parse(match["body"])), text)


def datastore_path(text: str) -> tuple[str, str] | None:
    """``(datastore, path)`` of an ``azureml://datastores/<name>/paths/<path>`` URI.

    Raises:
        ConfigError: ``text`` is another ``azureml://`` URI.
    """
    if not text.startswith("azureml://"):
        return None
    match = _DATASTORE.match(text)
    if match is None:
        raise ConfigError(
            f"{text!r} is not a datastore URI shardrun can resolve; write "
            "azureml://datastores/<name>/paths/<path>"
        )
    return match["store"], match["path"]


def asset(text: str) -> tuple[str, str] | None:
    """``(name, version)`` of a data asset ``azureml:<name>:<version>`` or ``@latest``.

    Raises:
        ConfigError: ``text`` starts with ``azureml:`` but is neither form (nor a URI).
    """
    if not text.startswith("azureml:") or text.startswith("azureml://"):
        return None
    match = _ASSET.match(text)
    if match is None:
        raise ConfigError(
            f"{text!r} is not an azureml: reference shardrun can resolve; write "
            "azureml:<name>:<version>, azureml:<name>@latest or "
            "azureml://datastores/<name>/paths/<path>"
        )
    return match["name"], match["version"] or "latest"
