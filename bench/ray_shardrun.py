"""shardrun on a two-node local Ray cluster (the Ray backend), in a network namespace.

The harness calls :func:`run`, which starts a two-node cluster inside ``unshare`` (head on
127.0.0.1:6390 and a second node, ``P/2`` CPUs each) and re-executes this module there to
run the images workload with ``RayCompute(address="127.0.0.1:6390", node_count=2)`` and
``process_count_per_node=P/2``: the same P workers as the local backend. The cluster's start
is not timed (a cluster is there before a job); the driver's connection is.

Until the Ray backend is merged (``shardrun.engine.backends.ray`` does not import), the row
is reported as ``n/a (Ray backend not merged)``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

from bench import namespace
from bench.outcome import Outcome

CONTENDER = "shardrun_ray2"
NODES = 2


def backend_missing() -> str:
    """ "" if shardrun's Ray backend is there, else the n/a reason."""
    try:
        found = importlib.util.find_spec("shardrun.engine.backends.ray") is not None
    except ImportError:
        found = False
    return "" if found else "n/a (Ray backend not merged)"


def run(name: str, data_root: Path, scale: float, processes: int, out: Path) -> Outcome:
    """The ``name`` workload on shardrun's Ray backend, over two nodes."""
    reason = backend_missing() or namespace.unavailable()
    if not reason:
        result = out / f"{CONTENDER}.json"
        result.unlink(missing_ok=True)
        per_node = max(1, processes // NODES)
        before = namespace.ray_cluster(NODES, per_node)
        args = [str(data_root), str(scale), str(processes), str(out), name]
        log = out / f"{CONTENDER}.log"
        rc = namespace.run_python("bench.ray_shardrun", args, log, before=before)
        if result.is_file():
            return Outcome(**json.loads(result.read_text()))
        reason = f"failed (exited {rc} without results; see {log.name} beside latest.json)"
    return Outcome(CONTENDER, name, 0, error=reason)


def main(argv: list[str]) -> int:
    """Inside the namespace, with the cluster up: run one workload, write the JSON."""
    from bench import datagen, workloads
    from bench.contenders import shardrun_config, shardrun_inputs
    from bench.scale import Sizes

    data_root, scale, processes, out, name = argv
    sizes = Sizes.from_scale(float(scale), int(processes))
    data = datagen.generate(Path(data_root), sizes)
    (workload,) = [w for w in workloads.build(data, sizes) if w.name == name]
    out_dir = Path(out)
    outcome = Outcome(CONTENDER, name, workload.items)
    try:
        from shardrun import ComputeTarget, RayCompute, Workspace, run_parallel

        workspace_dir = out_dir / "workspace-ray"
        shutil.rmtree(workspace_dir, ignore_errors=True)
        workspace = Workspace.create(workspace_dir)
        target = RayCompute.provisioning_configuration("127.0.0.1:6390", node_count=NODES)
        ComputeTarget.create(workspace, "ray2", target)
        config = shardrun_config(
            workload,
            max(1, sizes.processes // NODES),
            compute_target="ray2",
            node_count=NODES,
        )
        inputs = shardrun_inputs(workload)
        started = time.perf_counter()
        result = run_parallel(
            config,
            inputs,
            out_dir / f"{CONTENDER}-{name}",
            workspace=workspace,
            show_progress=False,
        )
        outcome.seconds = time.perf_counter() - started
        outcome.output = str(result.output_file) if result.output_file else None
        if result.status != "Completed" or result.failed_items:
            outcome.error = f"run {result.status}: {result.reason}"
    except Exception as e:  # reported in the table, not fatal
        outcome.error = f"failed: {e!r}"[:300]
    (out_dir / f"{CONTENDER}.json").write_text(json.dumps(outcome.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
