"""Per-camera plumbing of the node: topics, QoS, the one-slot mailbox.

Newest frame wins: the subscription callback only puts the message into the
camera's :class:`Mailbox` (overwriting, and counting, an unprocessed one); the
node's worker thread takes what is there.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from peoplesemseg_ros.occupancy.stage import OccupancyStage
from peoplesemseg_ros.params import NodeConfig

__all__ = ["CameraState", "Frame", "Mailbox", "input_qos", "output_qos", "topic"]


def _reliability(name: str) -> ReliabilityPolicy:
    return ReliabilityPolicy.RELIABLE if name == "reliable" else ReliabilityPolicy.BEST_EFFORT


def input_qos(cfg: NodeConfig) -> QoSProfile:
    """Image / camera_info subscriptions: sensor data (best effort, keep last 1) by default."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg.qos_depth,
                      reliability=_reliability(cfg.qos_reliability))


def output_qos(cfg: NodeConfig) -> QoSProfile:
    """mask / overlay / occupancy / scan publishers: reliable keep-last 1 by default."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg.qos_output_depth,
                      reliability=_reliability(cfg.qos_output_reliability))


def topic(camera: str, name: str) -> str:
    """Relative topic of ``name`` for ``camera`` ("" = the node namespace itself)."""
    return f"{camera}/{name}" if camera else name


@dataclass
class Frame:
    camera: str
    msg: Any
    received: float  # time.perf_counter() at the callback


class Mailbox:
    """One slot; ``put`` returns True when it overwrote a frame nobody took."""

    def __init__(self, cond: threading.Condition) -> None:
        self._cond = cond
        self._frame: Frame | None = None

    def put(self, frame: Frame) -> bool:
        with self._cond:
            overwrote = self._frame is not None
            self._frame = frame
            self._cond.notify()
        return overwrote

    @property
    def full(self) -> bool:
        return self._frame is not None

    def take(self) -> Frame | None:
        """Caller holds the condition's lock."""
        frame, self._frame = self._frame, None
        return frame

    def clear(self) -> None:
        with self._cond:
            self._frame = None


@dataclass
class CameraState:
    """Everything the node keeps per camera."""

    name: str
    mailbox: Mailbox
    pose: tuple[float, float, float, float, float, float]
    occupancy: OccupancyStage
    next_due: float = 0.0  # time.perf_counter() before which max_rate_hz holds frames back
    pubs: dict[str, Any] = field(default_factory=dict)
    subs: list[Any] = field(default_factory=list)

    def due(self, now: float) -> bool:
        return now >= self.next_due

    def mark_started(self, now: float, max_rate_hz: float) -> None:
        self.next_due = now + 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0


def now() -> float:
    return time.perf_counter()
