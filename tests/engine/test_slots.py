"""A worker slot's queue depth follows the pace of its results."""

from __future__ import annotations

from shardrun.engine.slots import MAX_PREFETCH, QUEUE_SECONDS, Slot


def test_a_new_slot_holds_one_running_task_and_the_prefetch() -> None:
    assert Slot().depth(prefetch=1) == 2
    assert Slot().depth(prefetch=3) == 4


def test_short_mini_batches_deepen_the_queue_and_long_ones_keep_it_short() -> None:
    fast, slow = Slot(), Slot()
    for n in range(20):
        fast.note_result(n * 0.005)  # a result every 5 ms
        slow.note_result(n * 2.0)  # every 2 s
    assert fast.pace is not None
    assert abs(fast.pace - 0.005) < 1e-9
    queued = fast.depth(prefetch=1) - 1
    assert round(QUEUE_SECONDS / 0.005) <= queued <= round(QUEUE_SECONDS / 0.005) + 1
    assert slow.depth(prefetch=1) == 2


def test_the_queue_is_bounded_and_never_below_the_prefetch() -> None:
    burst = Slot()
    for _ in range(5):
        burst.note_result(10.0)  # several results drained at the same moment
    assert burst.depth(prefetch=1) == 1 + MAX_PREFETCH
    paced = Slot()
    for n in range(10):
        paced.note_result(n * 0.05)
    assert paced.depth(prefetch=4) == 5  # 0.1 s / 0.05 s = 2 queued, the prefetch is 4
