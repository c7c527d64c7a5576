"""The batch scheduler: batch size, the batch window, fairness across cameras, rate limits.

Time is the scheduler's injectable clock where the answer depends on it (rate
limits, who is ready); the batch window itself is waited on the real condition.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from peoplesemseg_ros.ros.mailbox import Frame, Mailbox
from peoplesemseg_ros.ros.scheduler import BatchScheduler


def _setup(n: int) -> tuple[BatchScheduler, list[Mailbox], threading.Event]:
    cond, stop = threading.Condition(), threading.Event()
    return BatchScheduler(cond, stop), [Mailbox(cond) for _ in range(n)], stop


def _fill(boxes: list[Mailbox], *which: int) -> None:
    for i in which:
        boxes[i].put(Frame(f"cam{i}", time.perf_counter()))


def test_a_full_batch_goes_at_once() -> None:
    sched, boxes, _ = _setup(3)
    _fill(boxes, 0, 1, 2)
    t0 = time.perf_counter()
    batch = sched.take(boxes, max_batch=2, batch_window_ms=5000.0, max_rate_hz=0.0)
    assert time.perf_counter() - t0 < 2.0  # never waited for the 5 s window
    assert len(batch) == 2 and len({i for i, _ in batch}) == 2
    assert all(f.msg == f"cam{i}" for i, f in batch)


def test_the_batch_window_waits_for_more_cameras_then_goes_with_what_it_has() -> None:
    sched, boxes, _ = _setup(2)
    _fill(boxes, 0)
    t0 = time.perf_counter()
    batch = sched.take(boxes, max_batch=2, batch_window_ms=150.0, max_rate_hz=0.0)
    waited = time.perf_counter() - t0
    assert [i for i, _ in batch] == [0]
    assert waited >= 0.15


def test_a_frame_arriving_within_the_window_joins_the_batch() -> None:
    sched, boxes, _ = _setup(2)
    _fill(boxes, 0)
    result: list[list[tuple[int, Frame]]] = []
    worker = threading.Thread(target=lambda: result.append(
        sched.take(boxes, max_batch=2, batch_window_ms=30_000.0, max_rate_hz=0.0)))
    worker.start()
    _fill(boxes, 1)  # well inside the 30 s window: wakes the scheduler with a full batch
    worker.join(timeout=20.0)
    assert not worker.is_alive()
    assert sorted(i for i, _ in result[0]) == [0, 1]


def test_no_window_with_max_batch_one_or_a_zero_window() -> None:
    for max_batch, window in ((1, 5000.0), (2, 0.0)):
        sched, boxes, _ = _setup(2)
        _fill(boxes, 1)
        t0 = time.perf_counter()
        assert [i for i, _ in sched.take(boxes, max_batch, window, 0.0)] == [1]
        assert time.perf_counter() - t0 < 2.0


def test_round_robin_serves_every_camera_when_all_are_always_ready() -> None:
    sched, boxes, _ = _setup(3)
    served: Counter[int] = Counter()
    for _ in range(30):
        _fill(boxes, 0, 1, 2)  # every camera has a frame every time
        for i, _frame in sched.take(boxes, max_batch=1, batch_window_ms=0.0, max_rate_hz=0.0):
            served[i] += 1
    assert served == Counter({0: 10, 1: 10, 2: 10})


def test_round_robin_with_batches_smaller_than_the_camera_count() -> None:
    sched, boxes, _ = _setup(3)
    firsts = []
    for _ in range(6):
        _fill(boxes, 0, 1, 2)
        batch = sched.take(boxes, max_batch=2, batch_window_ms=0.0, max_rate_hz=0.0)
        firsts.append(batch[0][0])
        assert len(batch) == 2
    assert firsts == [0, 1, 2, 0, 1, 2]


def test_a_rate_limited_camera_is_skipped_until_due() -> None:
    cond, stop = threading.Condition(), threading.Event()
    now = [100.0]
    sched = BatchScheduler(cond, stop, clock=lambda: now[0])
    boxes = [Mailbox(cond), Mailbox(cond)]
    boxes[0].put(Frame("a0", now[0]))
    assert [i for i, _ in sched.take(boxes, 1, 0.0, max_rate_hz=2.0)] == [0]  # due at 100.5
    boxes[0].put(Frame("a1", 100.1))
    boxes[1].put(Frame("b0", 100.1))
    now[0] = 100.1
    assert [i for i, _ in sched.take(boxes, 2, 0.0, max_rate_hz=2.0)] == [1]  # 0 held back
    now[0] = 100.5
    assert [(i, f.msg) for i, f in sched.take(boxes, 2, 0.0, max_rate_hz=2.0)] == [(0, "a1")]


def test_stop_ends_a_waiting_take_with_nothing() -> None:
    sched, boxes, stop = _setup(2)
    result: list[list[tuple[int, Frame]]] = []
    worker = threading.Thread(target=lambda: result.append(sched.take(boxes, 1, 0.0, 0.0)))
    worker.start()
    stop.set()
    worker.join(timeout=10.0)
    assert not worker.is_alive() and result == [[]]
