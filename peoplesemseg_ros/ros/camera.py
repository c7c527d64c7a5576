"""Per-camera plumbing of the node: topics, QoS, publishers and state.

The camera's frames wait in its :class:`~peoplesemseg_ros.ros.mailbox.Mailbox`
(newest frame wins) until the :class:`~peoplesemseg_ros.ros.scheduler.BatchScheduler`
hands them to the worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from nav_msgs.msg import OccupancyGrid
from rclpy.publisher import Publisher
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from sensor_msgs.msg import Image, LaserScan

from peoplesemseg_ros.occupancy.stage import OccupancyStage
from peoplesemseg_ros.params import NodeConfig
from peoplesemseg_ros.ros.mailbox import Mailbox

__all__ = ["CameraPublishers", "CameraState", "input_qos", "now", "output_qos", "topic"]


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
class CameraPublishers:
    """The four outputs of one camera."""

    mask: Publisher[Image]
    overlay: Publisher[Image]
    grid: Publisher[OccupancyGrid]  # person_occupancy
    scan: Publisher[LaserScan]  # people_scan

    def all(self) -> tuple[Publisher[Any], ...]:
        return (self.mask, self.overlay, self.grid, self.scan)


@dataclass
class CameraState:
    """Everything the node keeps per camera."""

    name: str
    mailbox: Mailbox
    pose: tuple[float, float, float, float, float, float]
    occupancy: OccupancyStage
    pubs: CameraPublishers
    subs: list[Subscription[Any]] = field(default_factory=list)


def now() -> float:
    return time.perf_counter()
