"""Which frames the node's worker runs next: batches across cameras, fairly (no rclpy).

:meth:`BatchScheduler.take` waits on the mailboxes' shared condition until a batch
is worth running: as many ready cameras as ``max_batch`` allows (or all cameras,
if fewer), or ``batch_window_ms`` after the first frame became ready, whichever
comes first (no wait with ``max_batch`` 1 or a zero window). Cameras are visited
round-robin, starting one further each batch, so with more cameras than
``max_batch`` none is starved. A camera held back by ``max_rate_hz`` is not ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from peoplesemseg_ros.ros.mailbox import Frame, Mailbox

__all__ = ["BatchScheduler"]

_POLL_S = 0.05  # longest wait on the condition (stop and rate-limit ends are polled)


class BatchScheduler:
    def __init__(self, cond: threading.Condition, stop: threading.Event,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._cond = cond
        self._stop = stop
        self._clock = clock
        self._rr = 0  # round-robin start

    def take(self, boxes: Sequence[Mailbox], max_batch: int, batch_window_ms: float,
             max_rate_hz: float) -> list[tuple[int, Frame]]:
        """(index into ``boxes``, frame) pairs, at most ``max_batch``; [] once stopped."""
        if not boxes:
            return []
        deadline: float | None = None
        with self._cond:
            while not self._stop.is_set():
                t = self._clock()
                ready = sum(1 for b in boxes if b.ready(t))
                if ready and (ready >= min(max_batch, len(boxes)) or max_batch == 1 or
                              batch_window_ms <= 0 or (deadline is not None and t >= deadline)):
                    break
                if ready and deadline is None:
                    deadline = t + batch_window_ms / 1000.0
                self._cond.wait(timeout=_POLL_S if deadline is None else
                                max(0.0, min(_POLL_S, deadline - t)))
            else:
                return []
            n = len(boxes)
            start, self._rr = self._rr, (self._rr + 1) % n
            t = self._clock()
            taken: list[tuple[int, Frame]] = []
            for i in ((start + k) % n for k in range(n)):
                if len(taken) < max_batch and boxes[i].ready(t):
                    frame = boxes[i].take(t, max_rate_hz)
                    if frame is not None:
                        taken.append((i, frame))
            return taken
