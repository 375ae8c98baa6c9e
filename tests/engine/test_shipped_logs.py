"""A Ray actor's node-local logs: chunks, the final flush, landing, the probe, the sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shardrun.worker import shipped_logs
from shardrun.worker.shipped_logs import CHUNK, FORCE, LogShipper, land


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    node_temp = tmp_path / "node-tmp"
    node_temp.mkdir()
    monkeypatch.setattr(shipped_logs.tempfile, "tempdir", str(node_temp))
    return node_temp


def test_new_bytes_go_in_bounded_chunks_then_all_at_close(temp: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "run-1"
    shipper = LogShipper(str(run_dir), "process000")
    stdout = shipper.root / "logs" / "user" / "stdout" / "node0" / "process000.stdout.txt"
    stdout.parent.mkdir(parents=True)
    text = b"".join(b"line %06d\n" % i for i in range(20_000))  # 220 KB
    stdout.write_bytes(text)
    first = shipper.take()
    assert sum(len(d) for _, d in first) == CHUNK
    land(str(run_dir), first)
    with open(stdout, "ab") as handle:
        handle.write(b"after\n")
    land(str(run_dir), shipper.take())
    land(str(run_dir), shipper.close())
    landed = run_dir / "logs" / "user" / "stdout" / "node0" / "process000.stdout.txt"
    assert landed.read_bytes() == text + b"after\n"
    assert not shipper.root.exists()
    assert not (temp / shipped_logs.LOCAL / "run-1").exists()  # the run's last actor here


def test_land_writes_only_under_the_run_logs_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    land(str(run_dir), (("../evil.txt", b"x"), ("/abs.txt", b"x"), ("ledger.sqlite", b"x")))
    land(str(run_dir), (("logs/user/stderr/node1/p.stderr.txt", b"ok"),))
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [
        "run/logs/user/stderr/node1/p.stderr.txt"
    ]


def test_a_killed_actor_folder_is_shipped_from_its_offset_by_the_next_actor(
    temp: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run-2"
    dead = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        killed = LogShipper(str(run_dir), "process000")
        killed.root = killed.root.rename(killed.root.with_name(f"process000-{dead.pid}"))
        stderr = killed.root / "logs" / "user" / "stderr" / "node0" / "process000.stderr.txt"
        stderr.parent.mkdir(parents=True)
        stderr.write_bytes(b"shipped\n")
        land(str(run_dir), killed.take())
        with open(stderr, "ab") as handle:
            handle.write(b"Traceback: the crash\n")
        alive_meanwhile = LogShipper(str(run_dir), "process001")
        assert alive_meanwhile.take() == ()  # its actor still runs: not claimed
    finally:
        dead.kill()
        dead.wait()
    successor = LogShipper(str(run_dir), "process002")
    land(str(run_dir), successor.take())
    landed = run_dir / "logs" / "user" / "stderr" / "node0" / "process000.stderr.txt"
    assert landed.read_bytes() == b"shipped\nTraceback: the crash\n"
    assert sorted(p.name for p in (temp / shipped_logs.LOCAL / "run-2").iterdir()) == [
        alive_meanwhile.root.name,
        successor.root.name,
    ]
    assert LogShipper(str(run_dir), "process003").take() == ()  # claimed once only


def test_the_probe_says_whether_the_node_sees_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FORCE, raising=False)
    token = shipped_logs.write_probe(str(tmp_path))
    assert shipped_logs.shares_run_folder(str(tmp_path), token)
    assert not shipped_logs.shares_run_folder(str(tmp_path), "another-driver")
    assert not shipped_logs.shares_run_folder(str(tmp_path / "elsewhere"), token)
    monkeypatch.setenv(FORCE, "1")
    assert not shipped_logs.shares_run_folder(str(tmp_path), token)
    shipped_logs.remove_probe(str(tmp_path))
    assert not (tmp_path / shipped_logs.PROBE).exists()


def test_a_shipped_csv_keeps_one_header_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    relative = "logs/perf/node0/processes_resource_usage.csv"
    header = b"time,node,pid,cpu_percent,rss_bytes,num_threads,process\n"
    first = header + b"2026-01-01T00:00:00,node0,11,0.0,100,3,process000\n"
    second = header + b"2026-01-01T00:00:01,node0,12,0.0,200,3,process001\n"
    land(str(run_dir), ((relative, first),))
    land(str(run_dir), ((relative, second),))  # another actor's file, from its start
    land(str(run_dir), ((relative, b"2026-01-01T00:00:02,node0,11,5.0,300,3,process000\n"),))
    assert (run_dir / relative).read_bytes() == (
        header
        + b"2026-01-01T00:00:00,node0,11,0.0,100,3,process000\n"
        + b"2026-01-01T00:00:01,node0,12,0.0,200,3,process001\n"
        + b"2026-01-01T00:00:02,node0,11,5.0,300,3,process000\n"
    )
    log = "logs/user/stdout/node0/process000.stdout.txt"  # other files land as they are
    land(str(run_dir), ((log, b"same\n"),))
    land(str(run_dir), ((log, b"same\n"),))
    assert (run_dir / log).read_bytes() == b"same\nsame\n"
