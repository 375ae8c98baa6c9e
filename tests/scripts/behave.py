"""A test entry script whose behaviour each input file dictates.

A file's first word is a directive: ``ok`` (the default), ``raise``, ``skip`` (leave the
item out of the result: a partial result), ``sleep S``, ``exit``, ``kill``, ``segv``, or one
of those with ``_once`` (only on the first attempt). ``BEHAVE_INIT=raise`` makes ``init()``
fail; ``BEHAVE_INIT=exit`` makes the process die in ``init()``.
"""

import ctypes
import os
import signal
import sys
import time


def init():
    mode = os.environ.get("BEHAVE_INIT", "")
    print(f"init pid={os.getpid()} argv={sys.argv[1:]}")
    if mode == "raise":
        raise RuntimeError("init failed on purpose")
    if mode == "exit":
        os._exit(9)


def _act(word, argument, attempt):
    if word.endswith("_once"):
        if attempt > 1:
            return True
        word = word[: -len("_once")]
    if word == "ok":
        return True
    if word == "skip":
        return False
    if word == "raise":
        raise ValueError("bad input on purpose")
    if word == "sleep":
        time.sleep(float(argument))
        return True
    if word == "exit":
        os._exit(3)
    if word == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if word == "segv":
        ctypes.string_at(0)
    raise AssertionError(f"unknown directive {word!r}")


def run(mini_batch, context):
    results = []
    for path in mini_batch:
        with open(path) as handle:
            words = handle.read().split() or ["ok"]
        argument = words[1] if len(words) > 1 else ""
        if _act(words[0], argument, context.attempt):
            results.append(f"{os.path.basename(path)}: {words[0]}")
    print(f"batch {context.minibatch_index} attempt {context.attempt}: {len(results)} rows")
    return results
