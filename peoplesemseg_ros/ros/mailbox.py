"""The one-slot mailbox of a camera: newest frame wins (no rclpy).

The subscription callback puts every accepted message in its camera's
:class:`Mailbox`, overwriting one the worker has not taken yet; :meth:`Mailbox.put`
says why a frame was overwritten: the worker was busy (``DROPPED``) or the camera
was held back by ``max_rate_hz`` (``RATE_LIMITED``). All mailboxes of a node share
one condition, which the :class:`~peoplesemseg_ros.ros.scheduler.BatchScheduler`
waits on.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Frame", "Mailbox", "Put"]


class Put(enum.Enum):
    STORED = "stored"  # the slot was empty
    DROPPED = "dropped"  # overwrote a frame the busy worker did not take in time
    RATE_LIMITED = "rate_limited"  # overwrote a frame held back by max_rate_hz


@dataclass(frozen=True)
class Frame:
    msg: Any  # sensor_msgs Image or CompressedImage
    received: float  # time.perf_counter() at the callback


class Mailbox:
    """One slot, and the time before which ``max_rate_hz`` holds its camera back."""

    def __init__(self, cond: threading.Condition) -> None:
        self._cond = cond
        self._frame: Frame | None = None
        self._next_due = 0.0

    def put(self, frame: Frame) -> Put:
        with self._cond:
            overwrote = self._frame is not None
            held_back = frame.received < self._next_due
            self._frame = frame
            self._cond.notify()
        if not overwrote:
            return Put.STORED
        return Put.RATE_LIMITED if held_back else Put.DROPPED

    @property
    def full(self) -> bool:
        return self._frame is not None

    def ready(self, now: float) -> bool:
        """A frame is waiting and the rate limit lets it go (caller holds the condition)."""
        return self._frame is not None and now >= self._next_due

    def take(self, now: float, max_rate_hz: float) -> Frame | None:
        """The waiting frame; starts the camera's ``1 / max_rate_hz`` hold (caller holds
        the condition)."""
        frame, self._frame = self._frame, None
        if frame is not None:
            self._next_due = now + 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0
        return frame

    def clear(self) -> None:
        with self._cond:
            self._frame = None
            self._next_due = 0.0
