"""The node's occupancy outputs per camera: pose choice, stage, publishing.

For each published mask: pick the camera pose (TF or ``camera_pose``, see
:mod:`peoplesemseg_ros.occupancy.pose_source`), run the camera's
:class:`~peoplesemseg_ros.occupancy.stage.OccupancyStage` and publish
``person_occupancy``, ``people_scan`` and ``people_cloud``, all stamped with the
image's stamp in ``base_frame``. The pose source is logged whenever it changes
and shown in diagnostics (``<camera>.pose_source``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from peoplesemseg_ros.occupancy.pose_source import PoseResolver
from peoplesemseg_ros.occupancy.stage import OccupancyStage
from peoplesemseg_ros.params import NodeConfig
from peoplesemseg_ros.ros.camera import CameraPublishers, topic
from peoplesemseg_ros.ros.tf import Tf2Source, tf_source

__all__ = ["OccupancyOutput", "pose_info", "pose_resolver", "stamp_ns"]


def stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class OccupancyOutput:
    """One camera's occupancy publishers and the state that goes with them."""

    def __init__(self, camera: str, stage: OccupancyStage, poses: PoseResolver,
                 pubs: CameraPublishers, log: Callable[[str], object]) -> None:
        self.camera = camera
        self.stage = stage
        self.poses = poses
        self.pubs = pubs
        self.pose_source = ""  # label of the last choice, for diagnostics
        self._log = log

    def publish(self, mask: Any, header: Any, parameter_pose: tuple[float, ...],
                cfg: NodeConfig) -> bool:
        """Compute and publish; False when nothing was published (no pose / CameraInfo)."""
        jumps = self.poses.time_jumps
        choice = self.poses.choose(self.camera, cfg.base_frame, header.frame_id,
                                   stamp_ns(header.stamp), parameter_pose)  # type: ignore[arg-type]
        if self.poses.time_jumps != jumps:
            self._log(f"{topic(self.camera, 'image')}: image stamps went back in time (a bag "
                      "loop?): TF caches cleared")
        if choice.label != self.pose_source:
            self.pose_source = choice.label
            self._log(f"{topic(self.camera, 'image')}: camera pose from {choice.label}")
        if choice.pose is None:
            return False
        out = self.stage.messages(mask, header, choice.pose, cfg)
        for pub, msg in ((self.pubs.grid, out.grid), (self.pubs.scan, out.scan),
                         (self.pubs.cloud, out.cloud)):
            if msg is not None:
                pub.publish(msg)
        return any(m is not None for m in out)


def pose_resolver(node: Any, cfg: NodeConfig, timeout_s: Callable[[], float],
                  log: Callable[[str], object]) -> tuple[PoseResolver, Tf2Source | None]:
    """The node's resolver for ``camera_pose_source`` and its TF listener (None without)."""
    tf, why = tf_source(node, cfg.camera_pose_source, timeout_s)
    log(f"camera_pose_source {cfg.camera_pose_source}: " +
        (f"TF ({cfg.base_frame} <- each image's frame_id)" if tf else why))
    return PoseResolver(cfg.camera_pose_source, tf, why), tf


def pose_info(poses: PoseResolver, outputs: Iterable[OccupancyOutput | None]) -> dict[str, str]:
    """Diagnostics keys: ``<camera>.pose_source`` and ``time_jumps``."""
    info = {"time_jumps": str(poses.time_jumps)}
    for out in outputs:
        if out is not None:
            info[f"{out.camera or 'camera'}.pose_source"] = out.pose_source or "(no frame yet)"
    return info
