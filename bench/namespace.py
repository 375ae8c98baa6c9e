"""Run a command inside a private network and PID namespace, the only way Ray runs here.

Ray probes cloud metadata addresses at start and, in the host namespace, swaps 127.0.0.1 for
the machine's external address; so every Ray process of the benchmark runs under
``unshare -n -p -f --mount-proc`` with the variables of ``SERVICES.md``. The PID namespace
also means every Ray process ends when the command does: no ``ray stop``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROLOGUE = """set -e
ip link set lo up
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled HOME={home}
mkdir -p "$HOME" && echo "{{}}" > "$HOME/ray_bootstrap_config.yaml"
# Ray's files (sessions, sockets, ray_current_cluster) in a folder of our own: /tmp is shared
# with every other namespace, and ray.init() would join a cluster it finds there.
export RAY_TMPDIR="$(mktemp -d /tmp/bench-ray-XXXXXX)"
trap 'rm -rf "$RAY_TMPDIR"' EXIT
"""

RAY_NODE = (
    "{ray} start {where} --node-ip-address=127.0.0.1 --num-cpus={cpus} "
    "--object-store-memory=300000000 --disable-usage-stats >/dev/null"
)


def unavailable() -> str:
    """ "" if ``unshare -n`` can be used here, else why not."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "n/a (unshare or ip not found)"
    probe = subprocess.run(
        ["unshare", "-n", "-p", "-f", "--mount-proc", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"n/a (unshare -n failed: {probe.stderr.strip()[:80]})"
    return ""


def ray_cluster(nodes: int, cpus_per_node: int) -> str:
    """Shell lines that start a local Ray cluster of ``nodes`` nodes on 127.0.0.1:6390."""
    ray = shlex.quote(str(Path(sys.executable).with_name("ray")))
    lines = [
        RAY_NODE.format(
            ray=ray, where="--head --port=6390 --include-dashboard=false", cpus=cpus_per_node
        )
    ]
    lines += [
        RAY_NODE.format(ray=ray, where="--address=127.0.0.1:6390", cpus=cpus_per_node)
        for _ in range(nodes - 1)
    ]
    return "\n".join(lines)


def run_python(
    module: str, args: list[str], log: Path, before: str = "", timeout: float = 1200
) -> int:
    """``python -m module args`` inside the namespaces (after the shell lines ``before``).

    The child sees this process's environment (``PYTHONPATH``, the models' paths); its
    output (Ray's is verbose) goes to ``log``.
    """
    home = ROOT / ".cache" / "rayhome"
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", module, *args])
    script = PROLOGUE.format(home=shlex.quote(str(home))) + before + "\n" + command + "\n"
    # `timeout` inside the namespace: the PID namespace ends every Ray process with it.
    command = ["unshare", "-n", "-p", "-f", "--mount-proc", "timeout", f"{timeout:.0f}"]
    with open(log, "w") as handle:
        done = subprocess.run(
            [*command, "bash", "-c", script],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    return done.returncode
