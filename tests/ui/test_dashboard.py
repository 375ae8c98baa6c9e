"""The dashboard in real headless Chromium, against a real ``shardrun ui`` and real runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shardrun import Workspace
from shardrun.pipelines.experiment import Experiment
from shardrun.pipelines.pipeline import ParallelRunStep, Pipeline, PipelineData
from tests.pipelines.test_pipeline import build
from tests.test_cli import project, shardrun
from tests.ui.conftest import dashboard, free_port, screenshot, stop_process
from tests.ui.test_history_cli import start_run, wait_running

pytestmark = pytest.mark.slow


def finished(page: Any) -> int:
    return int(page.get_attribute("#progress-text", "data-finished") or 0)


def until(page: Any, check: Callable[[], bool], timeout: float = 30) -> None:
    """Wait for ``check()`` while the page polls (the CSP forbids page.wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the page did not get there in time"
        time.sleep(0.2)


def test_a_running_job_shows_progress_advancing(tmp_path: Path, page: Any) -> None:
    driver = start_run(
        tmp_path, "live-run", ["sleep 0.25"] * 60, "--set", "resource_monitor_interval=1"
    )
    try:
        wait_running(tmp_path / "ws/runs/live-run")
        with dashboard(tmp_path) as ui:
            page.goto(f"{ui.url}/runs/live")  # a prefix of the id
            until(page, lambda: finished(page) > 0)
            first = finished(page)
            assert page.text_content("#run-id") == "live-run"
            assert page.text_content("#status") == "Running"
            # no reload: the page polls and the count grows
            until(page, lambda: finished(page) > first + 3)
            assert finished(page) > first + 3
            assert page.text_content("#eta") not in ("", "\u2013")
            assert page.locator("#throughput-line").count() == 1
            assert int(page.text_content("#state-total")) == 60
            # the workers: node, PID and the resource monitor's samples
            memory = page.locator("#workers tr.worker td:nth-child(6)")
            until(page, lambda: any(t.endswith("MiB") for t in memory.all_text_contents()))
            rows = page.locator("#workers tr.worker")
            assert rows.count() == 2
            assert rows.nth(0).locator("td").nth(1).text_content() == "node0"
            assert int(rows.nth(0).locator("td").nth(2).text_content()) > 0
            assert rows.nth(0).locator("td").nth(3).text_content() == "running"
            screenshot(page, "run-page-full")
            # docs/run-page.png is this one: what fits a screen (no config with local paths)
            screenshot(page, "run-page", full_page=False)
            page.goto(ui.url)
            page.wait_for_selector("tr[data-run-id='live-run']")
            assert "Running" in page.text_content("tr[data-run-id='live-run']")
            screenshot(page, "index-page")
    finally:
        driver.send_signal(signal.SIGTERM)
        try:
            driver.communicate(timeout=30)
        finally:
            stop_process(driver)


def test_a_failed_mini_batch_shows_its_traceback_and_inputs(tmp_path: Path, page: Any) -> None:
    job = project(tmp_path, ["ok", "ok", "ok", "raise", "ok"])
    done = shardrun("run", str(job), "--workspace", "ws", "--run-id", "broken", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with dashboard(tmp_path) as ui:
        page.goto(f"{ui.url}/runs/broken")
        traceback = page.locator("details.failure pre.traceback").first
        traceback.wait_for(state="visible")
        text = traceback.text_content()
        assert "Traceback (most recent call last)" in text
        assert "ValueError: bad input on purpose" in text
        assert "behave.py" in text
        summary = page.text_content("details.failure summary")
        assert "mini-batch 1" in summary
        assert "ValueError" in summary
        assert "item00003.txt" in page.text_content("details.failure")
        assert page.text_content("#items-failed") == "2"
        assert page.text_content("#status") == "Completed"
        states = page.locator("#workers tr.worker td:nth-child(4)").all_text_contents()
        assert states == ["stopped", "stopped"]
        # a log file opens from its link
        page.click("a.log-file >> text=logs/job_error.txt")
        page.wait_for_url("**/files/logs/job_error.txt")
        assert "== ValueError: 1 time(s)" in page.text_content("body")
        page.go_back()
        page.locator("details.failure pre.traceback").first.wait_for(state="visible")
        screenshot(page, "failed-run-page")


def test_a_pipeline_run_shows_its_steps_as_a_graph(
    tmp_path: Path, page: Any, pipeline_drivers: Path
) -> None:
    ws = Workspace.create(tmp_path / "ws")
    chain, _ = build(ws)
    prep = next(s for s in chain.steps if s.name == "prep")
    score = next(s for s in chain.steps if s.name == "score-docs")
    again = ParallelRunStep(
        "score-again", score.parallel_run_config, inputs=prep.outputs, output=PipelineData("more")
    )
    # a diamond: prep feeds score-docs and score-again; post reads score-docs only
    pipeline = Pipeline(ws, [*chain.steps, again])
    run = Experiment(ws, "docs").submit(pipeline)
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Completed"
    with dashboard(tmp_path) as ui:
        page.goto(ui.url)
        step_row = page.locator(f"tr[data-run-id='{run.id}_score-docs'] td")
        step_row.first.wait_for()
        assert step_row.nth(1).text_content() == "docs"  # the step run's experiment
        page.click(f"a >> text={run.id}")
        page.wait_for_selector("#graph g.node[data-step='post']")
        nodes = page.locator("#graph g.node")
        assert nodes.count() == 4
        for step in ("prep", "score-docs", "score-again", "post"):
            node = page.locator(f"#graph g.node[data-step='{step}']")
            assert node.get_attribute("data-status") == "Completed"
        edges = {
            (e.get_attribute("data-from"), e.get_attribute("data-to"))
            for e in page.locator("#graph line.edge").all()
        }
        assert edges == {("prep", "score-docs"), ("prep", "score-again"), ("score-docs", "post")}
        # score-docs and score-again are drawn side by side: one column, two rows
        boxes = {
            step: page.locator(f"#graph g.node[data-step='{step}'] rect").bounding_box()
            for step in ("prep", "score-docs", "score-again", "post")
        }
        assert boxes["score-docs"]["x"] == boxes["score-again"]["x"] > boxes["prep"]["x"]
        assert boxes["score-docs"]["y"] != boxes["score-again"]["y"]
        assert boxes["post"]["x"] > boxes["score-docs"]["x"]
        assert "5/5" not in page.text_content("#graph")  # 5 docs in batches of 2: 3/3
        assert "3/3" in page.text_content("g.node[data-step='score-docs']")
        screenshot(page, "pipeline-page")
        # the step's node links to its run
        page.click("#graph a g.node[data-step='score-docs']")
        page.wait_for_url(f"**/runs/{run.id}_score-docs")
        until(page, lambda: page.get_attribute("#progress-text", "data-total") == "3")


def test_the_dashboard_never_writes_into_the_workspace(tmp_path: Path, page: Any) -> None:
    job = project(tmp_path, ["ok", "raise", "ok", "ok"])
    assert (
        shardrun("run", str(job), "--workspace", "ws", "--run-id", "r", cwd=tmp_path).returncode
        == 0
    )
    before = _tree(tmp_path / "ws")
    with dashboard(tmp_path) as ui:
        for path in ("/", "/runs/r", "/runs/r/files/logs/job_result.txt"):
            page.goto(ui.url + path)
            page.wait_for_load_state("networkidle")
        metrics = page.request.get(ui.url + "/metrics")
        assert metrics.ok
        data = json.loads(page.request.get(ui.url + "/api/runs/r").text())
        assert data["summary"]["failed"] == 1
        time.sleep(1.5)  # a few polls
    assert _tree(tmp_path / "ws") == before


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_a_non_loopback_address_gets_a_token_printed_once(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    # In a private network namespace (root only; CI is root), 0.0.0.0 reaches no other machine.
    listener = subprocess.Popen(
        [
            *("unshare", "-n", "--", sys.executable, "-m", "shardrun", "ui"),
            *("--workspace", "ws", "--host", "0.0.0.0", "--port", str(free_port())),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert listener.stdout is not None
        lines = [listener.stdout.readline() for _ in range(3)]
    finally:
        stop_process(listener)
        listener.communicate()
    assert lines[0].startswith("shardrun ui: http://0.0.0.0:"), lines
    assert lines[1].startswith("token (made for this session): "), lines
    token = lines[1].split(": ", 1)[1].strip()
    assert len(token) >= 30
    assert f"?token={token}" in lines[2]
