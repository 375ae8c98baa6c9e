"""Azure ML's ``azureml.*`` import names as a fallback, in every Python that has shardrun.

``shardrun_azureml.pth`` (installed with the wheel) calls :func:`install` when Python
starts. It puts :class:`FallbackFinder` at the **end** of ``sys.meta_path``: Python asks
it about a module only after every normal finder has failed to find it on ``sys.path``. So

* with no Azure package installed, ``import azureml.core`` gives shardrun's stand-ins
  (``shardrun/worker/shims/azureml/...``);
* with Microsoft's packages installed, theirs win, module by module: a real
  ``azureml.core`` or ``azureml.dataprep`` is found first and the fallback never answers
  for it; only names no installed package provides come from shardrun.

Why a finder rather than an ``azureml/`` folder in the wheel: Microsoft's wheels install
into ``site-packages/azureml/`` too, so the two would overwrite each other's files (and
uninstalling one would break the other). A path line in the ``.pth`` (adding the shims'
folder to ``sys.path``) would depend on the order of site folders: a real package in a
site folder added later would lose to the fallback. The finder is consulted last whatever
the order. This module uses only the standard library, so that Python's startup stays fast;
it looks for shardrun's shims folder only when an ``azureml`` name is first imported.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["MODULES", "FallbackFinder", "active", "install", "shims_folder", "which"]

_ROOTS = ("azureml", "azureml_user")

#: The modules Azure's v1 samples import, as ``shardrun doctor`` lists them.
MODULES = (
    "azureml.core",
    "azureml.core.workspace",
    "azureml.core.compute",
    "azureml.core.runconfig",
    "azureml.core.dataset",
    "azureml.core.datastore",
    "azureml.core.environment",
    "azureml.core.model",
    "azureml.core.run",
    "azureml.data",
    "azureml.data.dataset_consumption_config",
    "azureml.pipeline.core",
    "azureml.pipeline.steps",
    "azureml.widgets",
    "azureml_user.parallel_run",
)


def shims_folder() -> str | None:
    """The folder that holds shardrun's ``azureml`` and ``azureml_user`` stand-ins."""
    spec = importlib.util.find_spec("shardrun")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(next(iter(spec.submodule_search_locations)), "worker", "shims")


class FallbackFinder:
    """A meta path finder that answers only for ``azureml*`` names nothing else found."""

    def __init__(self) -> None:
        self._folder: str | None = None

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """Find ``fullname`` among shardrun's stand-ins (called after all normal finders)."""
        parts = fullname.split(".")
        if parts[0] not in _ROOTS:
            return None
        if self._folder is None:
            self._folder = shims_folder()
            if self._folder is None:
                return None
        where = os.path.join(self._folder, *parts[:-1])
        return importlib.machinery.PathFinder.find_spec(fullname, [where])


def install() -> None:
    """Append the fallback finder to ``sys.meta_path`` (once)."""
    if not active():
        sys.meta_path.append(FallbackFinder())


def active() -> bool:
    """Whether the fallback finder is installed in this process."""
    return any(isinstance(finder, FallbackFinder) for finder in sys.meta_path)


def which(name: str) -> tuple[str, str]:
    """Who provides module ``name``: ``("shardrun" | "azure" | "missing", where)``.

    Imports the module's parents (as ``import`` would) but not the module itself.
    """
    try:
        spec = importlib.util.find_spec(name)
    except ImportError as e:
        return "missing", str(e)
    if spec is None:
        return "missing", f"no module named {name!r}"
    where = spec.origin or next(iter(spec.submodule_search_locations or [""]), "")
    folder = shims_folder()
    if folder and os.path.abspath(where).startswith(os.path.abspath(folder) + os.sep):
        return "shardrun", where
    return "azure", where
