"""The one occupancy stage: mask + latest CameraInfo -> OccupancyGrid, LaserScan, PointCloud2.

Used by the live node (rclpy messages) and by ``peoplesemseg bag process`` (rosbags
messages: pass their classes as ``grid_cls`` / ``scan_cls`` / ``cloud_cls``), so a replayed bag gets
exactly the robot's answer.

One :class:`OccupancyStage` per camera keeps the newest CameraInfo and an
:class:`~peoplesemseg_ros.occupancy.mapper.OccupancyMapper` built from it. The mapper's
lookup tables cost 0.2-0.5 s to build, so it is rebuilt only when something it
depends on changes: the calibration (size, K, D, distortion model, binning,
ROI), the camera pose or the occupancy settings. No rclpy here.

Masks wider than :data:`MAX_MASK_WIDTH` are subsampled by an integer step
before the foot-point search: the mask was upscaled from the model's 960x544
class map, so the full-size copy holds no finer detail, and a 1920x1080 mask
costs a quarter of the time. ``min_person_height_px`` stays in camera pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from peoplesemseg_ros.occupancy.cloud import CloudConfig, column_points
from peoplesemseg_ros.occupancy.mapper import (
    CameraModel,
    CameraPose,
    OccupancyConfig,
    OccupancyMapper,
)
from peoplesemseg_ros.occupancy.msgs import cloud_msg, grid_msg, scan_msg
from peoplesemseg_ros.params import NodeConfig

__all__ = ["MAX_MASK_WIDTH", "POSE_STEP_M", "POSE_STEP_RAD", "OccupancyMessages", "OccupancyStage",
           "Warn", "quantize_pose"]

MAX_MASK_WIDTH = 960  # the model's input width

# warn(text, throttled): throttled warnings may repeat every frame and are rate-limited
Warn = Callable[[str, bool], None]


class OccupancyMessages(NamedTuple):
    """One frame's messages; None where switched off or not possible (yet)."""

    grid: Any = None  # nav_msgs/OccupancyGrid -> person_occupancy
    scan: Any = None  # sensor_msgs/LaserScan -> people_scan
    cloud: Any = None  # sensor_msgs/PointCloud2 -> people_cloud


POSE_STEP_M = 1e-3  # the pose the mapper is built for: 1 mm ...
POSE_STEP_RAD = 1e-4  # ... and 0.006 deg (0.5 mm on the floor 5 m away)


def quantize_pose(pose: tuple[float, ...]) -> tuple[float, ...]:
    """``(x, y, z, roll, pitch, yaw)`` rounded to :data:`POSE_STEP_M` / :data:`POSE_STEP_RAD`:
    a pose looked up from TF every frame keeps one mapper while the camera stays put."""
    steps = (POSE_STEP_M,) * 3 + (POSE_STEP_RAD,) * 3
    return tuple(round(v / q) * q for v, q in zip(pose, steps, strict=True))


def _info_key(info: Any) -> tuple[Any, ...]:
    roi = getattr(info, "roi", None)
    roi_key = (roi.x_offset, roi.y_offset, roi.width, roi.height) if roi is not None else ()
    return (int(info.width), int(info.height), tuple(info.k), tuple(info.d),
            str(info.distortion_model), int(getattr(info, "binning_x", 0)),
            int(getattr(info, "binning_y", 0)), roi_key)


class OccupancyStage:
    """Per-camera occupancy: call :meth:`set_info` from the CameraInfo callback and
    :meth:`messages` from the worker for every published mask."""

    def __init__(self, label: str, warn: Warn, grid_cls: type | None = None,
                 scan_cls: type | None = None, cloud_cls: type | None = None) -> None:
        self.label = label  # for messages: the camera_info topic
        self._warn = warn
        self._grid_cls = grid_cls  # None: the rclpy message classes
        self._scan_cls = scan_cls
        self._cloud_cls = cloud_cls
        self._info: Any = None
        self._warned_no_info = False
        self._mapper: OccupancyMapper | None = None
        self._key: tuple[Any, ...] | None = None

    def set_info(self, info: Any) -> None:
        self._info = info

    def _mapper_for(self, pose: tuple[float, ...], cfg: NodeConfig, step: int,
                    ) -> OccupancyMapper | None:
        info = self._info
        pose = quantize_pose(pose)  # TF's float jitter must not rebuild (0.2-0.5 s) per frame
        settings = cfg.occupancy_kwargs()
        settings["min_person_height_px"] = max(1, round(settings["min_person_height_px"] / step))
        key = (_info_key(info), tuple(pose), tuple(sorted(settings.items())))
        if self._mapper is not None and key == self._key:
            return self._mapper
        try:  # e.g. K all zero from an uncalibrated driver: no occupancy, masks go on
            model = CameraModel.from_camera_info(info)
        except ValueError as exc:
            self._warn(f"no occupancy / scan from {self.label}: {exc}", True)
            return None
        self._mapper = OccupancyMapper(model, CameraPose(*pose), OccupancyConfig(**settings))
        self._key = key
        if not self._mapper.sees_floor:
            self._warn(f"{self.label}: the camera sees no floor: {self._mapper.why_no_floor}",
                       False)
        return self._mapper

    def messages(self, mask: Any, header: Any, pose: tuple[float, ...], cfg: NodeConfig,
                 ) -> OccupancyMessages:
        """Grid, scan and cloud for ``mask`` (None where switched off or not possible yet).

        ``header`` is the image's: the outputs keep its stamp, in ``cfg.base_frame``.
        """
        if not (cfg.publish_occupancy or cfg.publish_scan or cfg.publish_cloud):
            return OccupancyMessages()
        if self._info is None:
            if not self._warned_no_info:
                self._warned_no_info = True
                self._warn(f"no CameraInfo on {self.label} yet: publishing masks but no "
                           "occupancy / scan / cloud", False)
            return OccupancyMessages()
        step = -(-mask.shape[1] // MAX_MASK_WIDTH)  # ceil
        mapper = self._mapper_for(pose, cfg, step)
        if mapper is None:
            return OccupancyMessages()
        result = mapper.process(mask[::step, ::step] if step > 1 else mask)
        base = cfg.base_frame
        grid = (grid_msg(result, header, mapper.config, self._grid_cls, frame_id=base)
                if cfg.publish_occupancy else None)
        scan = (scan_msg(result, header, mapper.config, self._scan_cls, frame_id=base)
                if cfg.publish_scan else None)
        cloud = None
        if cfg.publish_cloud:
            points = column_points(result.foot_points, CloudConfig(**cfg.cloud_kwargs()))
            cloud = cloud_msg(points, header, self._cloud_cls, frame_id=base)
        return OccupancyMessages(grid, scan, cloud)
