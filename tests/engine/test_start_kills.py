"""Workers killed while starting are restarted; only init()'s own failures count (issue 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shardrun import ParallelRunConfig, run_parallel
from shardrun.engine.policy import killed_from_outside
from tests.conftest import write_inputs

# init() is "killed from outside" (SIGKILL, as the OOM killer or an operator would) the first
# KILLS times any worker starts, or crashes on its own (SIGSEGV) every time.
SCRIPT = """
import os, signal

def init():
    how, kills, folder = os.environ["HOW"], int(os.environ["KILLS"]), os.environ["COUNTER"]
    done = len(os.listdir(folder))
    if how == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if done < kills:
        open(os.path.join(folder, str(os.getpid())), "w").close()
        os.kill(os.getpid(), signal.SIGKILL)

def run(mini_batch):
    return [os.path.basename(p) for p in mini_batch]
"""


def start(tmp_path: Path, how: str, kills: int) -> tuple[str, str, list[str]]:
    code, counter = tmp_path / "code", tmp_path / "counter"
    code.mkdir()
    counter.mkdir()
    (code / "starts.py").write_text(SCRIPT)
    write_inputs(tmp_path / "data", ["ok"] * 4)
    config = ParallelRunConfig(
        entry_script="starts.py",
        source_directory=str(code),
        mini_batch_size="1",
        process_count_per_node=1,
        environment_variables={"HOW": how, "KILLS": str(kills), "COUNTER": str(counter)},
    )
    result = run_parallel(
        config,
        tmp_path / "data",
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    out = result.output_file.read_text().splitlines() if result.output_file else []
    return result.status, result.reason, out


def test_a_burst_of_kills_during_start_up_does_not_fail_the_run(tmp_path: Path) -> None:
    # One worker: Azure's limit is 3 init() failures; 8 kills would have ended the run.
    status, reason, out = start(tmp_path, "kill", 8)
    assert (status, reason) == ("Completed", "")
    assert out == [f"item{n:05d}.txt" for n in range(4)]
    assert len(list((tmp_path / "counter").iterdir())) == 8


def test_init_crashing_on_its_own_still_counts_toward_the_limit(tmp_path: Path) -> None:
    status, reason, out = start(tmp_path, "segv", 0)
    assert status == "Failed"
    assert "init() failed 3 times" in reason
    assert "exited with code -11 during init()" in reason
    assert out == []


@pytest.mark.parametrize(
    ("exitcode", "outside"),
    [
        (-9, True),
        (-15, True),
        (-1, True),
        (-2, True),
        (-11, False),
        (-6, False),
        (9, False),
        (None, False),
    ],
)
def test_outside_signals_are_told_from_crashes(exitcode: int | None, outside: bool) -> None:
    assert killed_from_outside(exitcode) is outside
