"""The actors' logs reach the driver's run folder when their nodes do not see it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from shardrun import RayCompute, run_parallel
from shardrun.worker.shipped_logs import CHUNK, FORCE, PROBE
from tests.cluster.conftest import ADDRESS
from tests.conftest import write_inputs
from tests.engine.test_runs import config, lines

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SCRIPT = """
import os, sys, time
from azureml_user.parallel_run import EntryScript

def init():
    print("init on", os.environ["SHARDRUN_NODE_NAME"], os.environ["SHARDRUN_PROCESS_NAME"])

def run(mini_batch, context):
    where = os.environ["SHARDRUN_NODE_NAME"] + "/" + os.environ["SHARDRUN_PROCESS_NAME"]
    if context.minibatch_index == 5 and context.attempt == 1:
        print(f"last words of {where}", file=sys.stderr, flush=True)
        os._exit(3)  # never shipped by this actor: its successor on the node ships it
    print(f"marker batch {context.minibatch_index} on {where}")
    print(f"err batch {context.minibatch_index}", file=sys.stderr)
    EntryScript().logger.info("logged batch %d", context.minibatch_index)
    time.sleep(0.3)  # both nodes get work
    if context.minibatch_index == 3:
        for _ in range(BIG):
            print("y" * 99)
        print("end of the big one")
    return [os.path.basename(p) for p in mini_batch]

def shutdown():
    print("shutdown on", os.environ["SHARDRUN_NODE_NAME"], os.environ["SHARDRUN_PROCESS_NAME"])
"""


def test_logs_written_off_the_run_folder_are_shipped_to_the_driver_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One machine shares the run folder: force the path of a node that does not see it.
    monkeypatch.setenv(FORCE, "1")
    script = tmp_path / "logs_script.py"
    big = 3 * CHUNK // 100  # three chunks' worth in one mini-batch
    script.write_text(textwrap.dedent(SCRIPT.replace("BIG", str(big))))
    folder = tmp_path / "data"
    write_inputs(folder, ["ok"] * 12)
    result = run_parallel(
        config(
            entry_script=str(script),
            source_directory=str(tmp_path),
            compute_target=RayCompute(address=ADDRESS),
            node_count=2,
            process_count_per_node=1,
            mini_batch_size="1",
        ),
        folder,
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert result.status == "Completed", result.reason
    assert len(lines(result)) == 12
    logs = result.run_dir / "logs"
    stdouts = sorted((logs / "user" / "stdout").rglob("*.txt"))
    assert {p.parent.name for p in stdouts} == {"node0", "node1"}
    stderr = "".join(p.read_text() for p in (logs / "user" / "stderr").rglob("*.stderr.txt"))
    (crashed,) = re.findall(r"last words of (\S+)", stderr)
    markers: dict[int, str] = {}
    for path in stdouts:
        assert path.name.endswith(".stdout.txt")
        where = f"{path.parent.name}/{path.name.removesuffix('.stdout.txt')}"
        text = path.read_text()
        assert f"init on {where.replace('/', ' ')}" in text
        if where != crashed:
            assert f"shutdown on {where.replace('/', ' ')}" in text  # the final flush
        for index, on in re.findall(r"marker batch (\d+) on (\S+)", text):
            assert on == where, (path, on)
            assert int(index) not in markers, f"batch {index} shipped twice"
            markers[int(index)] = on
        if "end of the big one" in text:  # spread over several results, in order
            big_part = text[text.index("marker batch 3") :]
            assert big_part.count("y" * 99 + "\n") == big
    assert sorted(markers) == list(range(12))
    assert {on.split("/")[0] for on in markers.values()} == {"node0", "node1"}
    assert sorted(int(i) for i in re.findall(r"err batch (\d+)", stderr)) == list(range(12))
    entry = "".join(p.read_text() for p in (logs / "user" / "entry_script_log").rglob("*.txt"))
    assert sorted(int(i) for i in re.findall(r"logged batch (\d+)", entry)) == list(range(12))
    assert (
        (logs / "user" / "stderr" / f"{crashed}.stderr.txt")
        .read_text()
        .endswith(f"last words of {crashed}\n")
    )
    system = "".join(p.read_text() for p in (logs / "sys" / "worker").rglob("*.txt"))
    assert "stopped" in system
    folders = re.findall(r"logs written in (\S+) and shipped to the driver", system)
    assert len(folders) == 3  # two actors, and the one that replaced the crashed one
    for local in folders:  # each actor's node-local folder is gone at the end
        assert not Path(local).exists(), local
        assert not Path(local).parent.exists(), local
    assert not (result.run_dir / PROBE).exists()
