"""A Ray actor's logs, written on its own node and shipped back to the driver in pieces.

A local worker writes its logs straight into the run folder. A Ray actor does too when its
node sees the driver's run folder (a shared folder, or the driver's own machine): the driver
writes a probe file (:func:`write_probe`) and an actor that reads the same token there
(:func:`shares_run_folder`) writes in place. Otherwise (or with ``SHARDRUN_RAY_SHIP_LOGS=1``)
it writes them under a folder of its node's temp dir (:class:`LogShipper`) and returns what
was written since the last time with each reply to the driver: at most :data:`CHUNK` bytes
with a result (the rest with the next ones), everything left when it stops. The driver
appends them to the same files in its run folder (:func:`land`). An actor that is killed
leaves what it had not shipped yet in its folder, with how much it had shipped: the next
actor of the run that starts on that node claims the folder and ships the rest, under the
dead actor's file names (only the bytes of a reply in flight when it died are lost).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path, PurePosixPath

from shardrun.pids import alive

#: The most log bytes one result takes back to the driver (the rest go with the next ones).
CHUNK = 64 * 1024
#: Set to 1 to ship the logs even when the node sees the run folder (tests, one machine).
FORCE = "SHARDRUN_RAY_SHIP_LOGS"
#: The probe file, under the run folder.
PROBE = Path("logs") / "sys" / "ray_shared_folder.txt"
#: The folder, under a node's temp dir, of the actors' log folders (``<run>/<process>-<pid>``).
LOCAL = "shardrun-ray-logs"

#: In an actor's folder: how many bytes of each file it shipped.
OFFSETS = "shipped.json"

#: New log bytes: ``(path relative to the run folder, bytes to append)`` pairs.
Shipment = tuple[tuple[str, bytes], ...]


def write_probe(run_dir: str) -> str:
    """Write a fresh token in the run folder's probe file; return it."""
    token = uuid.uuid4().hex
    path = Path(run_dir) / PROBE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token, encoding="utf-8")
    return token


def remove_probe(run_dir: str) -> None:
    """Remove the probe file (at the backend's shutdown)."""
    with contextlib.suppress(OSError):
        (Path(run_dir) / PROBE).unlink()


def shares_run_folder(run_dir: str, token: str | None) -> bool:
    """Whether this node sees the driver's run folder (and shipping is not forced)."""
    if os.environ.get(FORCE, "") not in ("", "0") or not token:
        return False
    try:
        return (Path(run_dir) / PROBE).read_text(encoding="utf-8") == token
    except OSError:
        return False


class LogShipper:
    """An actor's node-local log folder and how much of each file was shipped.

    Args:
        run_dir: The driver's run folder (its name keeps runs apart on a node).
        process: The actor's process name (``process003``).
    """

    def __init__(self, run_dir: str, process: str) -> None:
        self._runs = Path(tempfile.gettempdir()) / LOCAL / Path(run_dir).name
        self.root = self._runs / f"{process}-{os.getpid()}"
        self._orphans = self._claim()
        self.root.mkdir(parents=True, exist_ok=True)

    def _claim(self) -> list[Path]:
        """This run's folders on this node whose actor was killed, renamed to be ours."""
        claimed: list[Path] = []
        if not self._runs.is_dir():
            return claimed
        for folder in sorted(self._runs.iterdir()):
            pid = folder.name.rpartition("-")[2]
            if pid.isdigit() and not alive(int(pid)):
                mine = folder.with_name(f"{folder.name}-{os.getpid()}")
                with contextlib.suppress(OSError):  # another actor claimed it first
                    folder.rename(mine)
                    claimed.append(mine)
        return claimed

    def take(self, limit: int = CHUNK) -> Shipment:
        """What the files gained since the last call, at most ``limit`` bytes in all.

        A killed actor's folder that this one claimed goes first, then is removed.
        """
        pieces: list[tuple[str, bytes]] = []
        while self._orphans:
            pieces.extend(_take(self._orphans[0], limit - sum(len(d) for _, d in pieces)))
            if sum(len(d) for _, d in pieces) >= limit:
                return tuple(pieces)
            shutil.rmtree(self._orphans.pop(0), ignore_errors=True)
        pieces.extend(_take(self.root, limit - sum(len(d) for _, d in pieces)))
        return tuple(pieces)

    def close(self) -> Shipment:
        """Everything not shipped yet; then the folder is removed."""
        pieces: list[tuple[str, bytes]] = []
        while piece := self.take(1 << 30):
            pieces.extend(piece)
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._runs.rmdir()  # the run's last actor on this node
        return tuple(pieces)


def _take(root: Path, limit: int) -> list[tuple[str, bytes]]:
    """New bytes of the files under ``root/logs`` (up to ``limit``); notes the offsets."""
    offsets_file = root / OFFSETS
    try:
        shipped: dict[str, int] = json.loads(offsets_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        shipped = {}
    pieces: list[tuple[str, bytes]] = []
    left = limit
    for path in sorted(p for p in (root / "logs").rglob("*") if p.is_file()):
        if left <= 0:
            break
        relative = path.relative_to(root).as_posix()
        done = shipped.get(relative, 0)
        with open(path, "rb") as handle:
            handle.seek(done)
            data = handle.read(left)
        if data:
            shipped[relative] = done + len(data)
            left -= len(data)
            pieces.append((relative, data))
    if pieces:  # before the reply leaves: a killed actor's successor ships only the rest
        partial = offsets_file.with_suffix(".tmp")
        partial.write_text(json.dumps(shipped), encoding="utf-8")
        partial.replace(offsets_file)
    return pieces


def land(run_dir: str, shipment: Shipment) -> None:
    """Append shipped log bytes to their files under the driver's run folder.

    A CSV file (the actors' resource samples) keeps one header line: each actor's own file
    starts with it, and it is dropped when the file it lands in starts with it already.
    """
    for relative, data in shipment:
        parts = PurePosixPath(relative).parts
        if not parts or parts[0] != "logs" or ".." in parts or relative.startswith("/"):
            continue  # only ever the run's logs folder
        path = Path(run_dir).joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            if path.suffix == ".csv" and handle.tell() > 0:
                handle.seek(0)
                header = handle.readline()
                if header.endswith(b"\n") and data.startswith(header):
                    data = data[len(header) :]
            handle.write(data)


__all__ = ["CHUNK", "FORCE", "LogShipper", "Shipment", "land", "shares_run_folder", "write_probe"]
