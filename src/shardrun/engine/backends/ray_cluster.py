"""The Ray backend's side of the cluster: connecting, placing the workers, its nodes, its log.

Kept apart from :mod:`shardrun.engine.backends.ray` (the backend contract: actors, calls,
events) so that each stays readable.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import ray
from ray.util.client import ray as ray_client
from ray.util.placement_group import placement_group, placement_group_table, remove_placement_group

from shardrun.errors import BackendError, ConfigError

log = logging.getLogger("shardrun.engine.backends.ray")

#: How long the workers' resources may take to be reserved before the run gives up.
PLACEMENT_WAIT = 120.0
#: How long the cluster's address may take to accept a connection.
CONNECT_WAIT = 10.0
#: Prefixes of the driver's environment variables that actors get (see inherited).
INHERITED = ("SHARDRUN_", "AZUREML_")
#: The object store of a try-out instance (Ray's default takes a third of the memory).
TRY_OUT_OBJECT_STORE = 256 * 1024 * 1024


#: Ray Client connections: tries, and seconds between them. The head's client server starts
#: one server process per connection, and on a busy head that start can fail once.
CLIENT_TRIES, CLIENT_PAUSE = 3, 2.0


def _init(address: str, options: dict[str, Any]) -> None:
    """``ray.init``; a ``ray://`` connection the head failed to set up is tried again."""
    tries = CLIENT_TRIES if address.startswith("ray://") else 1
    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address, **options)
            return
        except ConnectionError:
            if address != "auto":
                ray.shutdown()  # a half-made Ray Client connection would break the next one
            if attempt == tries:
                raise
            time.sleep(CLIENT_PAUSE)


def connect(address: str | None, runtime_env: dict[str, Any] | None, note: logging.Logger) -> bool:
    """Connect this process to the cluster; return False if it already was (then as it is).

    ``"auto"``/None: ``RAY_ADDRESS``, else the cluster this machine runs, else a local Ray
    instance started for a try-out (said in one line on stderr).

    Raises:
        ConfigError: Nothing answers at a ``[ray://]host:port`` address.
    """
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if runtime_env:
        options["runtime_env"] = runtime_env
    address = address or "auto"
    if address != "auto" and not answers(address):
        raise ConfigError(
            f"no Ray cluster answers at {address!r}; start one with `ray start --head` "
            "or fix the compute target's address",
            "compute_target",
        )
    try:
        _init(address, options)
    except ConnectionError as e:
        if address != "auto":
            first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise ConfigError(
                f"the Ray cluster at {address!r} refused the connection ({first}); check "
                "that its head runs (for ray://, with its client server on)",
                "compute_target",
            ) from e
        print(
            "shardrun: no Ray cluster is running; started a local Ray instance for a try-out",
            file=sys.stderr,
        )
        ray.init(object_store_memory=TRY_OUT_OBJECT_STORE, include_dashboard=False, **options)
    note.info("connected to the Ray cluster (address %s)", address)
    return True


def through_client() -> bool:
    """Whether this process reaches the cluster through Ray Client (``ray://``)."""
    return bool(ray_client.is_connected())  # type: ignore[no-untyped-call]


def reserve(counts: list[int], gpus: float) -> tuple[Any, list[str]]:
    """A placement group with one bundle per node (``counts[i]`` workers on node ``i``).

    ``STRICT_SPREAD``: every bundle on a distinct node. Returns the group and the Ray node
    id of each bundle.

    Raises:
        ConfigError: Fewer live nodes than bundles, or resources not reserved within
            :data:`PLACEMENT_WAIT` seconds.
    """
    nodes = len(counts)
    alive = alive_nodes()
    if len(alive) < nodes:
        raise ConfigError(
            f"node_count={nodes} but the Ray cluster has {len(alive)} node(s) alive; "
            "add nodes with `ray start --address=<head>` or lower node_count",
            "node_count",
        )
    bundles = [_bundle(n, gpus) for n in counts]
    group = placement_group(bundles, strategy="STRICT_SPREAD" if nodes > 1 else "PACK")
    try:
        ray.get(group.ready(), timeout=PLACEMENT_WAIT)
    except ray.exceptions.GetTimeoutError:
        remove_placement_group(group)
        raise ConfigError(
            f"the Ray cluster could not place {sum(counts)} worker(s) on {nodes} distinct "
            f"node(s) within {PLACEMENT_WAIT:g} s (each node needs {bundles[0]}); "
            "add nodes or resources, or lower node_count / process_count_per_node",
            "process_count_per_node",
        ) from None
    table = placement_group_table(group)["bundles_to_node_id"]
    return group, [table[i] for i in range(nodes)]


def _bundle(workers: int, gpus: float) -> dict[str, float]:
    bundle = {"CPU": float(workers)}
    if gpus:
        bundle["GPU"] = workers * gpus
    return bundle


def answers(address: str) -> bool:
    """Whether something listens at a ``[ray://]host:port`` (Ray itself waits minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_WAIT):
            return True
    except (OSError, ValueError):
        return False


def inherited() -> dict[str, str]:
    """The driver's variables a local worker would inherit and an actor needs too.

    ``SHARDRUN_*`` (datastore secrets: ``SHARDRUN_DATASTORE_<NAME>_ACCOUNT_KEY``…) and
    ``AZUREML_*``. They travel in the actor's creation arguments, inside the cluster.
    """
    return {k: v for k, v in os.environ.items() if k.startswith(INHERITED)}


def alive_nodes() -> set[str]:
    """The Ray node ids of the cluster's live nodes."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return {n["NodeID"] for n in nodes if n.get("Alive")}


def least_loaded(names: dict[str, str], busy: list[str], alive: set[str]) -> str:
    """The run's live node (by Ray node id) with the fewest of the ``busy`` workers.

    Raises:
        BackendError: None of the run's nodes (``names``: node id → ``node0``…) is alive.
    """
    known = [n for n in names if n in alive]
    if not known:
        raise BackendError(
            f"every node of the run ({', '.join(names.values())}) is gone from the "
            "Ray cluster; resume the run once the cluster has nodes again"
        )
    load = {n: busy.count(n) for n in known}
    return min(known, key=lambda n: (load[n], names[n]))


def first_line(error: BaseException) -> str:
    """The first line of an error's text (Ray's carry a whole remote traceback)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def run_log(run_dir: str) -> logging.Logger:
    """The backend's own log: ``logs/sys/ray_backend.txt`` (nodes, moved slots, ends)."""
    path = Path(run_dir) / "logs" / "sys" / "ray_backend.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"{__name__}.run.{Path(run_dir).name}")
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s|%(levelname)s|%(message)s"))
    logger.addHandler(handler)
    logger.addHandler(_Warnings())
    logger.propagate = False
    return logger


class _Warnings(logging.Handler):
    """Repeats the backend log's warnings (a node gone) on the module logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        log.warning("%s", record.getMessage())
