"""Cancel signals while a run is driven: the first one cancels, the rest never interrupt."""

from __future__ import annotations

import os
import signal
import time

import pytest

from shardrun.engine.signals import Interrupts


def deliver(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # the handler runs at the next bytecode boundary of the main thread


def test_the_first_signal_cancels_and_the_next_ones_are_only_counted() -> None:
    with Interrupts() as interrupts:
        with pytest.raises(KeyboardInterrupt):
            deliver(signal.SIGINT)
        deliver(signal.SIGINT)  # a second Ctrl-C 30 ms later interrupts nothing
        interrupts.shield()
        deliver(signal.SIGINT)
    assert interrupts.received == ["SIGINT", "SIGINT", "SIGINT"]
    assert interrupts.reason == "canceled by the user (Ctrl-C)"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_shielded_end_is_never_interrupted() -> None:
    with Interrupts() as interrupts:
        interrupts.shield()
        deliver(signal.SIGINT)
    assert interrupts.received == ["SIGINT"]


def test_sigterm_cancels_only_where_the_program_made_it_a_cancel() -> None:
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    with Interrupts():
        # A library user's program keeps its default SIGTERM (it would die): untouched.
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    def cancel(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, cancel)
    try:
        with Interrupts() as interrupts:
            with pytest.raises(KeyboardInterrupt):
                deliver(signal.SIGTERM)
            deliver(signal.SIGTERM)
        assert interrupts.reason == "canceled by SIGTERM"
        assert signal.getsignal(signal.SIGTERM) is cancel
    finally:
        signal.signal(signal.SIGTERM, previous)
