"""A real ``shardrun ui`` subprocess and a real headless Chromium (Debian's, via Playwright).

Chromium is launched as ``shared/SERVICES.md`` says: the system binary, and flags that keep
it off the network (``--host-resolver-rules`` maps every name but the loopback to nothing).
``make test`` installs it; a missing Chromium fails these tests rather than skipping them.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".cache" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]


def free_port() -> int:
    """A TCP port nothing listens on now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, up to 5 s, then SIGKILL; by PID."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """A GET of ``path`` sent byte for byte (no normalisation of ``..``), read whole."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


class Dashboard:
    """A running ``shardrun ui``: its URL, port, PID and what it printed at start."""

    def __init__(self, process: subprocess.Popen[str], port: int, banner: list[str]) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.banner = banner


@contextmanager
def dashboard(cwd: Path, *args: str, host: str = "127.0.0.1") -> Iterator[Dashboard]:
    """``shardrun ui --workspace ws ARGS`` on a free port, stopped by PID afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "shardrun", "ui", "--workspace", "ws"),
            *("--port", str(port), "--host", host, *args),
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline()]
        if "token" in " ".join(args) or host != "127.0.0.1":
            banner += [process.stdout.readline(), process.stdout.readline()]
        _wait_listening(process, port)
        yield Dashboard(process, port, banner)
    finally:
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()


def _wait_listening(process: subprocess.Popen[str], port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "shardrun ui ended at start"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"shardrun ui did not listen on {port}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (the system's ``chromium``), one for the session."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Chromium is missing: apt-get install -y chromium (make test does it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (1280x900) that fails the test on a JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save a screenshot as ``.cache/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
