"""End-to-end behaviour of run_parallel on real worker processes (no mocks of the engine)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from shardrun import ConfigError, EntryScriptError, ParallelRunConfig, RunResult, run_parallel
from tests.conftest import SCRIPTS

MakeInputs = Callable[[Sequence[str]], Path]


def config(**overrides: Any) -> ParallelRunConfig:
    settings: dict[str, Any] = {
        "entry_script": "behave.py",
        "source_directory": str(SCRIPTS),
        "mini_batch_size": "1",
        "output_action": "append_row",
        "process_count_per_node": 2,
    }
    settings.update(overrides)
    return ParallelRunConfig(**settings)


def start(folder: Path, tmp_path: Path, **overrides: Any) -> RunResult:
    return run_parallel(
        config(**overrides),
        folder,
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )


def lines(result: RunResult) -> list[str]:
    assert result.output_file is not None, result.reason
    return result.output_file.read_text().splitlines()


def attempts(result: RunResult) -> list[dict[str, str]]:
    path = result.run_dir / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def expected(directives: Sequence[str], keep: Callable[[str], bool] = lambda d: True) -> list[str]:
    return [f"item{n:05d}.txt: {d.split()[0]}" for n, d in enumerate(directives) if keep(d)]


def test_output_lists_every_item_once_in_dataset_order(inputs: MakeInputs, tmp_path: Path) -> None:
    directives = ["ok"] * 35
    result = start(inputs(directives), tmp_path, mini_batch_size="10")
    assert result.status == "Completed"
    assert lines(result) == expected(directives)
    assert (result.total_mini_batches, result.succeeded_items, result.failed_items) == (4, 35, 0)
    assert result.output_file == tmp_path / "out" / "parallel_run_step.txt"
    assert not (result.run_dir / "parts").exists()
    logs = result.run_dir / "logs"
    assert "Completed. 4 of 4 mini-batches" in (logs / "job_result.txt").read_text()
    assert (logs / "job_error.txt").read_text().strip() == "No errors."
    assert "4 done" in (logs / "job_progress_overview.txt").read_text()
    assert [int(row["total_items"]) for row in attempts(result)] == [10, 10, 10, 5]


def test_worker_logs_capture_prints_and_arguments(inputs: MakeInputs, tmp_path: Path) -> None:
    folder = inputs(["ok"] * 4)
    result = run_parallel(
        config(),
        folder,
        tmp_path / "out",
        workspace=tmp_path / "ws",
        arguments=["--model_name", "digits"],
        show_progress=False,
    )
    stdout = "".join(p.read_text() for p in (result.run_dir / "logs/user/stdout/node0").iterdir())
    assert "argv=['--model_name', 'digits']" in stdout
    assert "batch 3 attempt 1: 1 rows" in stdout


@pytest.mark.parametrize(("failed", "passes"), [(2, True), (3, False)])
def test_error_threshold_boundary(
    inputs: MakeInputs, tmp_path: Path, failed: int, passes: bool
) -> None:
    directives = ["ok"] * 6 + ["skip"] * failed
    result = start(inputs(directives), tmp_path, mini_batch_size="4", error_threshold=2)
    assert result.status == ("Completed" if passes else "Failed")
    assert result.failed_items == failed
    if passes:
        assert lines(result) == expected(directives, lambda d: d == "ok")
    else:
        assert "3 failed items exceed error_threshold=2" in result.reason
        assert result.output_file is None


@pytest.mark.parametrize(("failing", "passes"), [(2, True), (3, False)])
def test_allowed_failed_count_boundary(
    inputs: MakeInputs, tmp_path: Path, failing: int, passes: bool
) -> None:
    directives = ["ok"] * 4 + ["raise"] * failing
    result = start(inputs(directives), tmp_path, run_max_try=1, allowed_failed_count=2)
    assert result.status == ("Completed" if passes else "Failed")
    if passes:
        assert result.failed_mini_batches == 2
        assert lines(result) == expected(directives, lambda d: d == "ok")
    else:
        assert "exceed allowed_failed_count=2" in result.reason
        assert "ValueError: bad input on purpose" in result.reason


@pytest.mark.parametrize(("percent", "passes"), [(20, True), (19.9, False)])
def test_allowed_failed_percent_boundary(
    inputs: MakeInputs, tmp_path: Path, percent: float, passes: bool
) -> None:
    directives = ["ok"] * 8 + ["raise"] * 2
    result = start(inputs(directives), tmp_path, run_max_try=1, allowed_failed_percent=percent)
    assert result.status == ("Completed" if passes else "Failed")
    if not passes:
        assert "2 of 10 mini-batches failed (20.0 %)" in result.reason


def test_exception_is_retried_then_counted(inputs: MakeInputs, tmp_path: Path) -> None:
    directives = ["ok", "raise_once", "raise", "ok"]
    result = start(inputs(directives), tmp_path, run_max_try=3)
    assert result.status == "Completed"
    assert lines(result) == expected(directives, lambda d: d != "raise")
    rows = attempts(result)
    statuses = [(r["mini_batch_id"], r["attempt"], r["status"]) for r in rows]
    assert ("1", "1", "RUN_EXCEPTION") in statuses
    assert ("1", "2", "SUCCEEDED") in statuses
    assert [s for s in statuses if s[0] == "2"] == [
        ("2", str(a), "RUN_EXCEPTION") for a in (1, 2, 3)
    ]
    errors = (result.run_dir / "logs" / "job_error.txt").read_text()
    assert "== ValueError: 4 time(s)" in errors
    assert "item00001.txt" in errors
    assert "item00002.txt" in errors
    assert 'raise ValueError("bad input on purpose")' in errors


def test_timeout_kills_worker_and_retries(inputs: MakeInputs, tmp_path: Path) -> None:
    directives = ["ok", "sleep_once 30", "ok", "ok"]
    result = start(inputs(directives), tmp_path, run_invocation_timeout=2, run_max_try=2)
    assert result.status == "Completed"
    assert lines(result) == expected(directives)
    rows = [(r["mini_batch_id"], r["status"]) for r in attempts(result)]
    assert rows.count(("1", "RUN_TIMEOUT")) == 1
    assert rows.count(("1", "SUCCEEDED")) == 1
    # The killed worker was replaced: a third process ran init().
    assert len(list((result.run_dir / "logs/sys/worker/node0").iterdir())) >= 3


def test_timeout_kills_a_task_that_was_queued_behind_another(
    inputs: MakeInputs, tmp_path: Path
) -> None:
    # One worker: "sleep 30" is prefetched behind "ok", so it may start without a Started
    # message; the scheduler's clock for it starts with the result of "ok".
    result = start(
        inputs(["ok", "sleep 30", "ok"]),
        tmp_path,
        process_count_per_node=1,
        run_invocation_timeout=2,
        run_max_try=1,
    )
    assert result.status == "Completed"
    assert result.failed_mini_batches == 1
    assert lines(result) == ["item00000.txt: ok", "item00002.txt: ok"]
    rows = [(r["mini_batch_id"], r["status"]) for r in attempts(result)]
    assert ("1", "RUN_TIMEOUT") in rows


def test_timeout_every_time_fails_the_mini_batch(inputs: MakeInputs, tmp_path: Path) -> None:
    result = start(inputs(["sleep 30", "ok"]), tmp_path, run_invocation_timeout=1, run_max_try=2)
    assert result.status == "Completed"
    assert result.failed_mini_batches == 1
    assert result.failed_items == 1
    assert lines(result) == ["item00001.txt: ok"]


@pytest.mark.parametrize("death", ["exit_once", "kill_once", "segv_once"])
def test_dead_worker_mini_batch_is_retried(inputs: MakeInputs, tmp_path: Path, death: str) -> None:
    directives = ["ok", "ok", death, "ok", "ok"]
    result = start(inputs(directives), tmp_path, run_max_try=2)
    assert result.status == "Completed"
    assert lines(result) == expected(directives)
    rows = [(r["mini_batch_id"], r["status"]) for r in attempts(result)]
    assert rows.count(("2", "WORKER_LOST")) == 1
    assert rows.count(("2", "SUCCEEDED")) == 1


def test_partial_results_count_failed_items(inputs: MakeInputs, tmp_path: Path) -> None:
    directives = ["ok", "skip", "ok", "skip", "ok"]
    result = start(inputs(directives), tmp_path, mini_batch_size="5")
    assert result.status == "Completed"
    assert (result.succeeded_items, result.failed_items, result.failed_mini_batches) == (3, 2, 1)
    assert lines(result) == expected(directives, lambda d: d == "ok")
    assert attempts(result)[0]["status"] == "PARTIAL"


def test_no_succeeded_item_fails_with_the_real_error(inputs: MakeInputs, tmp_path: Path) -> None:
    result = start(inputs(["raise", "raise"]), tmp_path, run_max_try=1)
    assert result.status == "Failed"
    assert "no succeeded mini-batch item" in result.reason
    assert "ValueError: bad input on purpose" in result.reason


def test_init_failure_fails_run_after_limited_restarts(inputs: MakeInputs, tmp_path: Path) -> None:
    result = start(
        inputs(["ok"] * 3),
        tmp_path,
        process_count_per_node=1,
        environment_variables={"BEHAVE_INIT": "raise"},
    )
    assert result.status == "Failed"
    assert "init() failed 3 times" in result.reason
    assert "RuntimeError: init failed on purpose" in result.reason
    assert len(list((result.run_dir / "logs/sys/worker/node0").iterdir())) == 3


def test_process_dying_in_init_counts_as_init_failure(inputs: MakeInputs, tmp_path: Path) -> None:
    result = start(
        inputs(["ok"]),
        tmp_path,
        process_count_per_node=1,
        environment_variables={"BEHAVE_INIT": "exit"},
    )
    assert result.status == "Failed"
    assert "exited with code 9 during init()" in result.reason


def test_watchdog_stops_a_run_without_progress(inputs: MakeInputs, tmp_path: Path) -> None:
    result = start(
        inputs(["sleep 30"]),
        tmp_path,
        process_count_per_node=1,
        run_invocation_timeout=60,
        progress_update_timeout=2,
    )
    assert result.status == "Failed"
    assert "progress_update_timeout" in result.reason


def test_entry_script_problems_are_reported_before_start(
    tmp_path: Path, inputs: MakeInputs
) -> None:
    folder = inputs(["ok"])
    code = tmp_path / "code"
    code.mkdir()
    (code / "norun.py").write_text("def init():\n    pass\n")
    (code / "broken.py").write_text("def run(x):\n    return [\n")
    (code / "badimport.py").write_text("import no_such_module_here\n\ndef run(x):\n    return x\n")
    ws = tmp_path / "ws"
    with pytest.raises(EntryScriptError, match=r"defines no run\(\) function"):
        run_parallel(
            config(entry_script="norun.py", source_directory=str(code)), folder, workspace=ws
        )
    with pytest.raises(EntryScriptError, match="does not compile"):
        run_parallel(
            config(entry_script="broken.py", source_directory=str(code)), folder, workspace=ws
        )
    with pytest.raises(ConfigError, match="entry_script"):
        config(entry_script="missing.py", source_directory=str(code))
    result = run_parallel(
        config(entry_script="badimport.py", source_directory=str(code)),
        folder,
        workspace=ws,
        show_progress=False,
    )
    assert result.status == "Failed"
    assert "did not import" in result.reason
    assert "No module named 'no_such_module_here'" in result.reason
    assert not (ws / "runs").exists() or len(list((ws / "runs").iterdir())) == 1


def test_empty_input_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="matched no data"):
        run_parallel(config(), tmp_path / "empty", workspace=tmp_path / "ws")
    assert list((tmp_path / "ws" / "runs").iterdir()) == []


def test_node_count_groups_local_workers_into_simulated_nodes(
    inputs: MakeInputs, tmp_path: Path
) -> None:
    directives = ["sleep 0.2"] * 8
    result = start(inputs(directives), tmp_path, node_count=2, process_count_per_node=1)
    assert result.status == "Completed"
    assert lines(result) == expected(directives)
    assert sorted(p.name for p in (result.run_dir / "logs/sys/worker").iterdir()) == [
        "node0",
        "node1",
    ]
    assert {r["node"] for r in attempts(result)} == {"node0", "node1"}


def test_mixed_failures_never_duplicate_or_lose_rows(inputs: MakeInputs, tmp_path: Path) -> None:
    directives = ["ok", "raise_once", "exit_once", "sleep_once 30", "kill_once", "ok"] * 3
    result = start(inputs(directives), tmp_path, run_invocation_timeout=2)
    assert result.status == "Completed"
    assert lines(result) == expected(directives)
    assert result.failed_items == 0


def test_output_env_and_entry_script_helper(tmp_path: Path, inputs: MakeInputs) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "azure_style.py").write_text(
        "import os\n"
        "from azureml_user.parallel_run import EntryScript\n"
        "from azureml.core import Run\n"
        "def init():\n"
        "    EntryScript().logger.info('hello from init')\n"
        "def run(mini_batch):\n"
        "    es = EntryScript()\n"
        "    Run.get_context().log('batch', len(mini_batch))\n"
        "    with open(os.path.join(es.output_dir, es.agent_name + '.txt'), 'a') as f:\n"
        "        f.write(os.environ['AZUREML_BI_OUTPUT_PATH'] + '\\n')\n"
        "    return [len(mini_batch)]\n"
    )
    result = run_parallel(
        config(
            entry_script="azure_style.py",
            source_directory=str(code),
            output_action="summary_only",
            process_count_per_node=1,
        ),
        inputs(["ok"] * 3),
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert result.status == "Completed"
    assert result.output_file is None
    written = (tmp_path / "out" / "process000.txt").read_text().splitlines()
    assert written == [str(tmp_path / "out")] * 3
    log = (result.run_dir / "logs/user/entry_script_log/node0/process000.log.txt").read_text()
    assert "hello from init" in log
    metrics = (result.run_dir / "logs/user/metrics/node0/process000.jsonl").read_text()
    assert metrics.count('"name": "batch"') == 3


def test_dataframe_results_use_azure_text_format(tmp_path: Path, inputs: MakeInputs) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "frames.py").write_text(
        "import os\nimport pandas as pd\n"
        "def run(mini_batch):\n"
        "    return pd.DataFrame({'file': [os.path.basename(p) for p in mini_batch],\n"
        "                         'score': [0.5] * len(mini_batch)})\n"
    )
    result = run_parallel(
        config(entry_script="frames.py", source_directory=str(code), mini_batch_size=2),
        inputs(["ok"] * 3),
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert lines(result) == ["item00000.txt 0.5", "item00001.txt 0.5", "item00002.txt 0.5"]


def test_many_files(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(50_000):
        (folder / f"f{n:06d}.txt").write_bytes(b"")
    script = tmp_path / "names.py"
    script.write_text(
        "import os\ndef run(mini_batch):\n    return [os.path.basename(p) for p in mini_batch]\n"
    )
    cfg = ParallelRunConfig(
        entry_script=str(script), mini_batch_size="500", process_count_per_node=2
    )
    result = run_parallel(
        cfg, folder, tmp_path / "out", workspace=tmp_path / "ws", show_progress=False
    )
    assert result.status == "Completed"
    assert result.total_mini_batches == 100
    names = lines(result)
    assert len(names) == 50_000
    assert names == sorted(names)
    assert len(set(names)) == 50_000
    assert os.path.getsize(result.run_dir / "ledger.sqlite") < 20_000_000


def test_one_gpu_per_worker_while_gpus_last(
    tmp_path: Path, inputs: MakeInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "gpu.py").write_text(
        "import os\n"
        "from azureml_user.parallel_run import EntryScript\n"
        "def init():\n"
        "    es = EntryScript()\n"
        "    with open(os.path.join(es.output_dir, es.agent_name), 'w') as f:\n"
        "        f.write(repr(os.environ.get('CUDA_VISIBLE_DEVICES')))\n"
        "def run(mini_batch):\n"
        "    return mini_batch\n"
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7,3")
    config_ = config(
        entry_script="gpu.py",
        source_directory=str(code),
        process_count_per_node=3,
        output_action="summary_only",
    )
    result = run_parallel(
        config_,
        inputs(["ok"] * 3),
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert result.status == "Completed"
    seen = {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}
    assert seen == {"process000": "'7'", "process001": "'3'", "process002": "''"}


def test_every_failure_is_in_job_error_and_the_reason(tmp_path: Path, inputs: MakeInputs) -> None:
    folder = inputs(["ok"])
    code = tmp_path / "code"
    code.mkdir()
    (code / "badimport.py").write_text("import no_such_module_here\n\ndef run(x):\n    return x\n")
    result = run_parallel(
        config(entry_script="badimport.py", source_directory=str(code)),
        folder,
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert result.status == "Failed"
    job_error = (result.run_dir / "logs/job_error.txt").read_text()
    assert job_error.startswith("== the run failed: EntryScriptError\n")
    assert "No module named 'no_such_module_here'" in job_error
    assert "No errors." not in job_error


def test_a_run_failed_by_short_returns_names_them(tmp_path: Path, inputs: MakeInputs) -> None:
    directives = ["ok"] * 3 + ["skip"] * 7
    result = start(inputs(directives), tmp_path, mini_batch_size="10", error_threshold=0)
    assert result.status == "Failed"
    assert "first error: ShortResult: run() returned 3 results for 10 inputs" in result.reason
    assert "none recorded" not in result.reason
    job_error = (result.run_dir / "logs/job_error.txt").read_text()
    assert "== ShortResult: 1 time(s)" in job_error
    assert "run() returned 3 results for 10 inputs" in job_error
    assert attempts(result)[0]["error_category"] == "ShortResult"


def test_a_huge_error_message_is_shortened_except_in_job_error(
    tmp_path: Path, inputs: MakeInputs
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "loud.py").write_text("def run(mini_batch):\n    raise ValueError('x' * 5_000_000)\n")
    result = run_parallel(
        config(entry_script="loud.py", source_directory=str(code), error_threshold=0),
        inputs(["ok"]),
        tmp_path / "out",
        workspace=tmp_path / "ws",
        show_progress=False,
    )
    assert result.status == "Failed"
    assert result.reason.startswith("1 failed items exceed error_threshold=0; first error: Val")
    assert len(result.reason) < 2100
    assert "more characters in logs/job_error.txt" in result.reason
    assert (result.run_dir / "run.json").stat().st_size < 20_000
    assert (result.run_dir / "logs/job_result.txt").stat().st_size < 3_000
    assert len(str(result)) < 3_000
    assert (
        result.run_dir / "logs/sys/job_report/processed_mini-batches.csv"
    ).stat().st_size < 5_000
    assert "x" * 5_000_000 in (result.run_dir / "logs/job_error.txt").read_text()


@pytest.mark.parametrize(("error_threshold", "status"), [(-1, "Completed"), (100, "Failed")])
def test_empty_returns_are_failed_mini_batches_only_when_items_count(
    inputs: MakeInputs, tmp_path: Path, error_threshold: int, status: str
) -> None:
    """Azure's 1a: run() returns [] everywhere, error_threshold -1, mini_batch_error_threshold 5."""
    result = start(
        inputs(["skip"] * 6),
        tmp_path,
        output_action="summary_only",
        error_threshold=error_threshold,
        allowed_failed_count=5,
    )
    assert result.status == status, result.reason
    assert result.failed_items == 6
    if status == "Failed":
        assert "6 failed mini-batches exceed allowed_failed_count=5" in result.reason
