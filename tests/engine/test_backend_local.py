"""The local backend passes the backend conformance suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shardrun.engine.backends import get_backend
from shardrun.engine.backends.base import Backend
from shardrun.errors import BackendError
from tests.contracts.backend import BackendContract


class TestLocalBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        backend = get_backend("local")
        yield backend
        backend.shutdown(graceful=False)


def test_unknown_backend_lists_the_choices() -> None:
    with pytest.raises(BackendError, match="unknown backend 'dask'; choose one of local"):
        get_backend("dask")
