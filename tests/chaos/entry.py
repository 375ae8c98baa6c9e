"""The chaos tests' entry script: each input file's first word says what ``run()`` does.

``slow S`` sleeps S seconds; ``hang`` (with ``CHAOS_HANG`` set, first attempt only) starts
three ``sleep`` processes in sessions of their own, writes their pids to ``CHAOS_PIDS`` and
hangs; ``hog`` (with ``CHAOS_HOG`` set) starts one ``sleep`` in the worker's session, writes
its pid to ``CHAOS_HOG`` and holds the GIL in one long C call. Every file gives one output
line, whatever happened on the way.
"""

import os
import subprocess
import time


def init():
    time.sleep(float(os.environ.get("CHAOS_INIT_SLEEP", "0")))


def _hang():
    sleeps = [subprocess.Popen(["sleep", "300"], start_new_session=True).pid for _ in range(3)]
    with open(os.environ["CHAOS_PIDS"], "a") as handle:
        handle.write("".join(f"{pid}\n" for pid in sleeps))
    time.sleep(3600)


def _hog():
    # A child in the worker's session first: it outlives a driver's death, until the resume.
    child = subprocess.Popen(["sleep", "300"]).pid
    with open(os.environ["CHAOS_HOG"] + ".tmp", "w") as handle:
        handle.write(str(child))
    os.rename(os.environ["CHAOS_HOG"] + ".tmp", os.environ["CHAOS_HOG"])
    sum(range(10**13))


def run(mini_batch, context):
    lines = []
    for path in mini_batch:
        with open(path) as handle:
            words = handle.read().split() or ["ok"]
        if words[0] == "slow":
            time.sleep(float(words[1]))
        elif words[0] == "hang" and os.environ.get("CHAOS_HANG") and context.attempt == 1:
            _hang()
        elif words[0] == "hog" and os.environ.get("CHAOS_HOG"):
            _hog()
        lines.append(f"{os.path.basename(path)}: {words[0]}")
    return lines
