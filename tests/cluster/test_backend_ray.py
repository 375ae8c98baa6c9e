"""The Ray backend passes the backend conformance suite, on the session's real cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shardrun.engine.backends import get_backend
from shardrun.engine.backends.base import Backend
from tests.cluster.conftest import Cluster
from tests.contracts.backend import BackendContract

pytestmark = pytest.mark.ray


class TestRayBackend(BackendContract):
    crash_exit_code = None

    @pytest.fixture
    def backend(self, ray_cluster: Cluster) -> Iterator[Backend]:
        backend = get_backend("ray", address=ray_cluster.address)
        yield backend
        backend.shutdown(graceful=False)
