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
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.subscription import Subscription
from sensor_msgs.msg import Image, LaserScan, PointCloud2

from peoplesemseg_ros.occupancy.stage import OccupancyStage
from peoplesemseg_ros.params import NodeConfig
from peoplesemseg_ros.ros.mailbox import Mailbox

__all__ = ["OVERRIDABLE", "CameraPublishers", "CameraState", "input_qos", "now", "output_qos",
           "topic"]

# Every subscription and publisher of the node takes this: the standard
# qos_overrides.<topic>.<publisher|subscription>.<history|depth|reliability> parameters
# override the defaults below, e.g.
# -p qos_overrides./camera/image.subscription.reliability:=reliable
# rclpy writes the overrides into the QoSProfile it is given: one fresh profile per
# endpoint (input_qos / output_qos build a new one on every call), never a shared one.
OVERRIDABLE = QoSOverridingOptions.with_default_policies()


def _reliability(name: str) -> ReliabilityPolicy:
    return ReliabilityPolicy.RELIABLE if name == "reliable" else ReliabilityPolicy.BEST_EFFORT


def input_qos(cfg: NodeConfig) -> QoSProfile:
    """Image / camera_info subscriptions: sensor data (best effort, keep last 1) by default."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg.qos_depth,
                      reliability=_reliability(cfg.qos_reliability))


def output_qos(cfg: NodeConfig) -> QoSProfile:
    """mask / overlay / occupancy / scan / cloud publishers: reliable keep-last 1 by default."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg.qos_output_depth,
                      reliability=_reliability(cfg.qos_output_reliability))


def topic(camera: str, name: str) -> str:
    """Relative topic of ``name`` for ``camera`` ("" = the node namespace itself)."""
    return f"{camera}/{name}" if camera else name


@dataclass
class CameraPublishers:
    """The five outputs of one camera."""

    mask: Publisher[Image]
    overlay: Publisher[Image]
    grid: Publisher[OccupancyGrid]  # person_occupancy
    scan: Publisher[LaserScan]  # people_scan
    cloud: Publisher[PointCloud2]  # people_cloud

    @classmethod
    def create(cls, node: Any, camera: str, cfg: NodeConfig) -> CameraPublishers:
        def pub(msg_type: Any, name: str) -> Any:
            return node.create_publisher(msg_type, topic(camera, name), output_qos(cfg),
                                         qos_overriding_options=OVERRIDABLE)
        return cls(mask=pub(Image, "mask"), overlay=pub(Image, "overlay"),
                   grid=pub(OccupancyGrid, "person_occupancy"), scan=pub(LaserScan, "people_scan"),
                   cloud=pub(PointCloud2, "people_cloud"))

    def all(self) -> tuple[Publisher[Any], ...]:
        return (self.mask, self.overlay, self.grid, self.scan, self.cloud)


@dataclass
class CameraState:
    """Everything the node keeps per camera."""

    name: str
    mailbox: Mailbox
    pose: tuple[float, float, float, float, float, float]
    occupancy: OccupancyStage
    pubs: CameraPublishers
    output: Any  # ros.occupancy_out.OccupancyOutput: pose choice + grid / scan / cloud
    subs: list[Subscription[Any]] = field(default_factory=list)


def now() -> float:
    return time.perf_counter()
