"""The same 20,000-file job on the local backend and on a 2-node Ray cluster, timed.

Both runs use the same total worker count (``--workers``, default 4): locally one node of
``workers`` processes; on Ray ``node_count=2`` with ``workers / 2`` actors per node, on a
two-node cluster this script starts on 127.0.0.1 (a head and a second ``ray start
--address`` node). The entry script reads each file and returns its name and a CRC32, so
the work per file is small and the figure shows what each backend costs per mini-batch.
Both outputs are checked to be byte for byte the same.

Ray must not start in the machine's own network namespace (see the README's Ray section),
so the script re-runs itself inside ``unshare -n -p -f --mount-proc`` (root), where only
``lo`` exists and every Ray process ends with the script; the cluster is also stopped by PID.

Run: ``.venv/bin/python bench/ray_vs_local.py [--files 20000] [--mini-batch-size 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 6391
SCRIPT = """\
import os, zlib

def run(mini_batch):
    out = []
    for path in mini_batch:
        with open(path, "rb") as handle:
            out.append(f"{os.path.basename(path)} {zlib.crc32(handle.read()):08x}")
    return out
"""


def main() -> None:
    """Parse the options; re-run inside the namespace, or run the two jobs there."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--mini-batch-size", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4, help="total, an even number")
    options = parser.parse_args()
    if os.environ.get("SHARDRUN_BENCH_NAMESPACE") != "1":
        sys.exit(_in_namespace())
    with tempfile.TemporaryDirectory(prefix="srbench-") as folder:
        _bench(Path(folder), options.files, options.mini_batch_size, options.workers)


def _in_namespace() -> int:
    """Run this script again in a private network and PID namespace, as the tests do."""
    inner = (
        "ip link set lo up; "
        "export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled SHARDRUN_BENCH_NAMESPACE=1; "
        'export HOME="$(mktemp -d)"; echo "{}" > "$HOME/ray_bootstrap_config.yaml"; '
        'exec "$0" "$@"'
    )
    command = ["unshare", "-n", "-p", "-f", "--mount-proc", "bash", "-c", inner]
    return subprocess.call([*command, sys.executable, __file__, *sys.argv[1:]])


def _start_cluster(folder: Path) -> list[subprocess.Popen[bytes]]:
    ray = str(Path(sys.executable).with_name("ray"))
    src = str(ROOT / "src")
    path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=4",
              "--object-store-memory=200000000", "--disable-usage-stats"]  # fmt: skip
    head = [ray, "start", "--head", f"--port={PORT}", "--include-dashboard=false",
            f"--temp-dir={folder / 'ray'}", *common]  # fmt: skip
    second = [ray, "start", f"--address=127.0.0.1:{PORT}", *common]
    processes = []
    for number, command in enumerate((head, second)):
        log = open(folder / f"node{number}.log", "wb")  # noqa: SIM115 - the child keeps it
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        if number == 0:
            _wait_for_nodes(1)
    _wait_for_nodes(2)
    return processes


def _wait_for_nodes(count: int) -> None:
    import ray

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            ray.init(address=f"127.0.0.1:{PORT}", logging_level="ERROR", log_to_driver=False)
        except ConnectionError:
            time.sleep(0.5)
            continue
        alive = sum(1 for n in ray.nodes() if n["Alive"])
        ray.shutdown()
        if alive >= count:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the Ray cluster did not reach {count} node(s)")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _bench(folder: Path, files: int, size: int, workers: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from shardrun import ParallelRunConfig, RayCompute, run_parallel

    data = folder / "data"
    data.mkdir()
    for number in range(files):
        (data / f"file{number:06d}.txt").write_text(f"row {number}\n" * (1 + number % 7))
    (folder / "crc.py").write_text(SCRIPT)

    def job(compute: object, nodes: int) -> tuple[float, bytes, int]:
        config = ParallelRunConfig(
            entry_script=str(folder / "crc.py"),
            mini_batch_size=str(size),
            node_count=nodes,
            process_count_per_node=workers // nodes,
            compute_target=compute,
            error_threshold=0,
        )
        started = time.perf_counter()
        result = run_parallel(
            config, data, folder / f"out-{nodes}", workspace=folder / "ws", show_progress=False
        )
        wall = time.perf_counter() - started
        if result.status != "Completed" or result.output_file is None:
            raise SystemExit(f"{compute or 'local'}: {result.status}: {result.reason}")
        return wall, result.output_file.read_bytes(), result.total_mini_batches

    local_wall, local_bytes, batches = job(None, 1)
    processes = _start_cluster(folder)
    try:
        ray_wall, ray_bytes, _ = job(RayCompute(address=f"127.0.0.1:{PORT}"), 2)
    finally:
        _stop(processes)
        shutil.rmtree(folder / "ray", ignore_errors=True)
    if local_bytes != ray_bytes:
        raise SystemExit("the two outputs differ")
    report = {
        "files": files,
        "mini_batches": batches,
        "workers": workers,
        "cpus": os.cpu_count(),
        "local_wall_s": round(local_wall, 2),
        "ray_2_nodes_wall_s": round(ray_wall, 2),
        "outputs_identical": True,
    }
    print(f"{'backend':<28}{'wall time':>12}{'mini-batches/s':>16}")
    for name, wall in (("local (1 node)", local_wall), ("ray (2 nodes, 127.0.0.1)", ray_wall)):
        print(f"{name:<28}{wall:>10.2f} s{batches / wall:>16.1f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
