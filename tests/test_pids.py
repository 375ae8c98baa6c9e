"""``shardrun.pids.alive``: the one check, in every wing, that a process runs."""

from __future__ import annotations

import os
import subprocess
import sys

from shardrun.pids import alive


def test_this_process_is_alive_and_no_pid_below_one_is() -> None:
    assert alive(os.getpid())
    assert not alive(0)
    assert not alive(-1)


def test_a_child_is_alive_until_it_ends_and_not_as_a_zombie_nor_once_reaped() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert alive(child.pid)
        assert child.stdin is not None
        child.stdin.close()  # it ends; not reaped yet: a zombie
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert not alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not alive(child.pid)
