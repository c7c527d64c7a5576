"""The camera mailbox: one slot, newest frame wins, and why a frame was overwritten."""

from __future__ import annotations

import threading

from peoplesemseg_ros.ros.mailbox import Frame, Mailbox, Put


def _box() -> Mailbox:
    return Mailbox(threading.Condition())


def test_newest_frame_wins_and_an_overwrite_is_a_drop() -> None:
    box = _box()
    assert box.put(Frame("a", 1.0)) is Put.STORED
    assert box.put(Frame("b", 1.1)) is Put.DROPPED
    assert box.full and box.ready(1.2)
    frame = box.take(1.2, 0.0)
    assert frame is not None and frame.msg == "b"
    assert not box.full and box.take(1.3, 0.0) is None
    assert box.put(Frame("c", 1.4)) is Put.STORED  # the slot is free again


def test_a_frame_held_back_by_max_rate_hz_is_rate_limited_not_dropped() -> None:
    box = _box()
    box.put(Frame("a", 0.0))
    assert box.take(0.0, 10.0) is not None  # next frame due at 0.1 s
    assert box.put(Frame("b", 0.02)) is Put.STORED
    assert not box.ready(0.05)  # held back: the worker must not take it yet
    assert box.put(Frame("c", 0.05)) is Put.RATE_LIMITED
    assert box.ready(0.1)
    frame = box.take(0.1, 10.0)
    assert frame is not None and frame.msg == "c"
    box.put(Frame("d", 0.25))  # due since 0.2 s: the worker was busy, not the limit
    assert box.put(Frame("e", 0.26)) is Put.DROPPED


def test_without_a_rate_limit_every_overwrite_is_a_drop() -> None:
    box = _box()
    box.put(Frame("a", 0.0))
    box.take(0.0, 0.0)
    box.put(Frame("b", 0.0))
    assert box.put(Frame("c", 0.0)) is Put.DROPPED


def test_clear_empties_the_slot_and_ends_the_hold() -> None:
    box = _box()
    box.put(Frame("a", 0.0))
    box.take(0.0, 1.0)
    box.put(Frame("b", 0.1))
    box.clear()
    assert not box.full
    assert box.put(Frame("c", 0.2)) is Put.STORED and box.ready(0.2)


def test_put_wakes_a_waiting_worker() -> None:
    cond = threading.Condition()
    box = Mailbox(cond)
    woke = threading.Event()

    def worker() -> None:
        with cond:
            while not box.full:
                cond.wait(timeout=10.0)
        woke.set()

    t = threading.Thread(target=worker)
    t.start()
    box.put(Frame("a", 0.0))
    t.join(timeout=10.0)
    assert woke.is_set()
