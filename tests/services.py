"""Real servers for service tests, on 127.0.0.1: Azurite (Azure Blob) and moto's S3 server.

Use them from a test module with ``pytest_plugins = ["tests.services"]`` and the fixtures
:func:`azurite` and :func:`moto_s3` (import this module only under ``TYPE_CHECKING``: pytest
loads it as a plugin, and a plain import first would stop it rewriting its asserts).

Each server is started once per test session on a free port, as the project's service
recipes say (Azurite always with ``--disableTelemetry``: without it, it calls a cloud
metadata address), and stopped by its PID in a finalizer, even when tests fail: SIGTERM, up
to 5 s, then SIGKILL.

Azurite comes from npm; ``make test`` installs it into ``.cache/azurite``. Without it the
fixture fails (a skipped service test would hide a missing check).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AZURITE_MAIN = ROOT / ".cache/azurite/node_modules/azurite/dist/src/blob/main.js"
#: Azurite's documented development account (public, not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class Server:
    """A running server: its process and where it listens."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def blob_endpoint(self) -> str:
        """Azurite's blob endpoint for the development account."""
        return f"{self.url}/{AZURITE_ACCOUNT}"

    @property
    def account_name(self) -> str:
        """Azurite's development account."""
        return AZURITE_ACCOUNT

    @property
    def account_key(self) -> str:
        """Azurite's development account key."""
        return AZURITE_KEY


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait up to 5 s, then SIGKILL: by PID, only this process."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def _start(command: list[str], port: int, log: Path, cwd: Path) -> Server:
    """Start ``command`` (its first word is the server itself, so the PID is the server's)."""
    handle = open(log, "wb")  # noqa: SIM115 - the server writes to it until it stops
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd)
    handle.close()
    server = Server(process, port, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            if time.monotonic() > deadline:
                stop(process)
                message = f"{command[0]} did not listen in time:\n{log.read_text()}"
                raise RuntimeError(message) from None
            time.sleep(0.05)


def _serve(
    command: list[str], port: int, name: str, factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder = factory.mktemp(name)
    server = _start(command, port, folder / f"{name}.log", folder)
    try:
        yield server
    finally:
        stop(server.process)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Azurite's blob service on a free port of 127.0.0.1, in memory, telemetry off."""
    node = shutil.which("node")
    if not AZURITE_MAIN.is_file() or node is None:
        pytest.fail(
            f"Azurite is not installed ({AZURITE_MAIN.relative_to(ROOT)} is missing, or node "
            "is not on PATH): run `make test`, which installs it with npm",
            pytrace=False,
        )
    port = free_port()
    command = [
        node, str(AZURITE_MAIN), "--blobHost", "127.0.0.1", "--blobPort", str(port),
        "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
        "--silent",
    ]  # fmt: skip
    yield from _serve(command, port, "azurite", tmp_path_factory)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """moto's S3 server on a free port of 127.0.0.1."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    yield from _serve(command, port, "moto", tmp_path_factory)
