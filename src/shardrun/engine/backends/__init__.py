"""Backends by name: ``local`` (spawned processes, the default) and ``ray`` (Ray actors).

Implementations are imported lazily, so that ``import shardrun`` never imports Ray.
"""

from __future__ import annotations

import importlib
from typing import Any

from shardrun.engine.backends.base import Backend
from shardrun.errors import BackendError

#: name -> (module, class, extra to install)
registry: dict[str, tuple[str, str, str | None]] = {
    "local": ("shardrun.engine.backends.local", "LocalBackend", None),
    "ray": ("shardrun.engine.backends.ray", "RayBackend", "ray"),
}


def get_backend(name: str, **options: Any) -> Backend:
    """Create the backend registered as ``name``.

    Raises:
        BackendError: The name is unknown (the message lists the choices) or its extra is
            not installed (the message says what to ``pip install``).
    """
    try:
        module_name, class_name, extra = registry[name]
    except KeyError:
        raise BackendError(
            f"unknown backend {name!r}; choose one of {', '.join(sorted(registry))}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        hint = f"; install it with: pip install 'shardrun[{extra}]'" if extra else ""
        raise BackendError(f"backend {name!r} cannot be loaded ({e}){hint}") from e
    backend: Backend = getattr(module, class_name)(**options)
    return backend


__all__ = ["Backend", "get_backend", "registry"]
