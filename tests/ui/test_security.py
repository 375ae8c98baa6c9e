"""The token rules and the path rules, over real HTTP to a real ``shardrun ui``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import project, shardrun
from tests.ui.conftest import dashboard, get

TOKEN = "a-test-token-of-32-characters-xx"
SECRET = "the secret outside the workspace"


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    """A workspace ``ws`` with the run ``r``, and a secret file next to the workspace."""
    job = project(tmp_path, ["ok", "raise", "ok", "ok"])
    done = shardrun("run", str(job), "--workspace", "ws", "--run-id", "r", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "secret.txt").write_text(SECRET)
    return tmp_path


def test_with_a_token_every_request_needs_it(finished_run: Path) -> None:
    with dashboard(finished_run, "--token", TOKEN) as ui:
        assert ui.banner[1].strip() == f"token: {TOKEN}"
        for path in ("/", "/runs/r", "/api/overview", "/api/runs/r", "/metrics", "/static/run.js"):
            response = get(ui.port, path)
            assert response.status == 401, path
            assert b"run" not in response.body.split(b"\n", 1)[1], path
        wrong = get(ui.port, "/api/overview", {"Authorization": "Bearer not-the-token"})
        assert wrong.status == 401
        assert get(ui.port, "/api/overview?token=not-the-token").status == 401
        bearer = get(ui.port, "/api/runs/r", {"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status == 200
        assert b'"run_id":"r"' in bearer.body
        # ?token= once: a redirect without it, and an HttpOnly cookie
        once = get(ui.port, f"/runs/r?token={TOKEN}&x=1")
        assert once.status == 303
        assert once.getheader("location") == "/runs/r?x=1"
        cookie = once.getheader("set-cookie")
        assert cookie.startswith(f"shardrun_token={TOKEN};")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        # the redirect stays on this site
        assert get(ui.port, f"//evil.example/x?token={TOKEN}").getheader("location") == (
            "/evil.example/x"
        )
        with_cookie = get(ui.port, "/metrics", {"Cookie": f"shardrun_token={TOKEN}"})
        assert with_cookie.status == 200
        assert b"shardrun_run_status" in with_cookie.body
        forged = get(ui.port, "/metrics", {"Cookie": "shardrun_token=guess"})
        assert forged.status == 401


def test_without_a_token_only_a_loopback_host_is_served(finished_run: Path) -> None:
    with dashboard(finished_run) as ui:
        assert get(ui.port, "/api/overview").status == 200
        rebound = get(ui.port, "/api/overview", {"Host": f"attacker.example:{ui.port}"})
        assert rebound.status == 403


def test_a_short_token_is_refused(finished_run: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shardrun", "ui", "--workspace", "ws", "--token", "short"],
        cwd=finished_run,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --token must be at least 16 characters long; got a shorter one"
    )


ESCAPES = [
    "/runs/r/files/../../../secret.txt",
    "/runs/r/files/logs/../../../../secret.txt",
    "/runs/r/files/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/runs/r/files/%2E%2E%2F%2E%2E%2F%2E%2E%2Fsecret.txt",
    "/runs/r/files/..%5c..%5c..%5csecret.txt",
    "/runs/r/files//etc/passwd",
    "/runs/r/files/%2Fetc%2Fpasswd",
    "/runs/%2e%2e/files/secret.txt",
    "/runs/r/files/logs/escape/secret.txt",
    "/runs/r/files/logs/leak.txt",
    "/api/runs/outside",
    "/pipelines/%2e%2e/%2e%2e",
    "/api/pipelines/..%2f..%2f/x",
]


def test_paths_cannot_leave_the_workspace(finished_run: Path) -> None:
    run_dir = finished_run / "ws/runs/r"
    os.symlink(finished_run, run_dir / "logs/escape")  # a folder link out of the workspace
    os.symlink(finished_run / "secret.txt", run_dir / "logs/leak.txt")
    outside = finished_run / "elsewhere"
    outside.mkdir()
    (outside / "run.json").write_text('{"run_id": "outside", "status": "Completed"}')
    os.symlink(outside, finished_run / "ws/runs/outside")  # a run folder out of it
    with dashboard(finished_run) as ui:
        fine = get(ui.port, "/runs/r/files/logs/job_result.txt")
        assert fine.status == 200
        assert fine.body.startswith(b"Completed.")
        for path in ESCAPES:
            response = get(ui.port, path)
            assert response.status in (403, 404), (path, response.status)
            assert SECRET.encode() not in response.body, path
            assert b"root:" not in response.body, path
        # those that reach the file route are refused as escapes, not as missing files
        for path in ESCAPES[:7] + ESCAPES[8:11]:
            assert get(ui.port, path).status == 403, path


@pytest.mark.slow
def test_a_browser_opens_the_token_url_once_then_uses_the_cookie(
    finished_run: Path, browser: Any
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        with dashboard(finished_run, "--token", TOKEN) as ui:
            denied = page.goto(ui.url + "/")
            assert denied is not None
            assert denied.status == 401
            page.goto(f"{ui.url}/?token={TOKEN}")
            assert page.url == ui.url + "/"
            page.wait_for_selector("tr[data-run-id='r']")
            (cookie,) = context.cookies()
            assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
                "shardrun_token",
                True,
                "Strict",
            )
            page.goto(ui.url + "/runs/r")
            page.locator("details.failure pre.traceback").first.wait_for(state="visible")
    finally:
        context.close()
