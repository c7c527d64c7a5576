"""The node's parameters (one ROS params YAML) for offline bag processing.

``load_settings`` reads the same file the node is started with
(:func:`peoplesemseg_ros.params.load_params_file`, validated by the same schema)
and turns it into the pipeline configuration and, per camera, the occupancy
grid / people scan outputs built with the node's occupancy code
(:class:`~peoplesemseg_ros.occupancy.mapper.OccupancyMapper`,
:mod:`~peoplesemseg_ros.occupancy.msgs`).

Camera pose: with the ``cameras`` parameter empty, ``camera_pose`` (6 values)
applies to every camera in the bag; with camera names, the last component of a
camera namespace picks the pose (``/robot/front/image`` -> ``front``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.bag.io import BagError, ImageTopic, typestore
from peoplesemseg_ros.bag.process import CameraOutputs
from peoplesemseg_ros.core.pipeline import PipelineConfig
from peoplesemseg_ros.occupancy.mapper import (
    CameraModel,
    CameraPose,
    OccupancyConfig,
    OccupancyMapper,
)
from peoplesemseg_ros.occupancy.msgs import grid_msg, scan_msg
from peoplesemseg_ros.params import NodeConfig, ParameterError, load_params_file, validate

__all__ = ["OccupancyOutputs", "Settings", "load_settings"]

LOG = logging.getLogger("peoplesemseg.bag")
GRID_TYPE = "nav_msgs/msg/OccupancyGrid"
SCAN_TYPE = "sensor_msgs/msg/LaserScan"


class OccupancyOutputs:
    """``person_occupancy`` and ``people_scan`` of one camera (see :class:`CameraOutputs`)."""

    def __init__(self, pose: CameraPose, config: OccupancyConfig, base_frame: str,
                 grid: bool, scan: bool) -> None:
        self.pose = pose
        self.config = config
        self.base_frame = base_frame
        self.grid = grid
        self.scan = scan
        self.mapper: OccupancyMapper | None = None
        self._info_key: tuple[Any, ...] | None = None
        types = typestore().types
        self._grid_cls = types[GRID_TYPE]
        self._scan_cls = types[SCAN_TYPE]

    def topics(self) -> dict[str, str]:
        out = {}
        if self.grid:
            out["person_occupancy"] = GRID_TYPE
        if self.scan:
            out["people_scan"] = SCAN_TYPE
        return out

    def on_camera_info(self, msg: Any) -> None:
        key = (int(msg.width), int(msg.height), str(msg.distortion_model),
               tuple(np.asarray(msg.k, dtype=np.float64).tolist()),
               tuple(np.asarray(msg.d, dtype=np.float64).tolist()))
        if key == self._info_key:
            return  # unchanged: keep the mapper and its lookup tables
        self.mapper = OccupancyMapper(CameraModel.from_camera_info(msg), self.pose, self.config)
        self._info_key = key
        if not self.mapper.sees_floor:
            LOG.warning("camera %s sees no floor: %s", msg.header.frame_id,
                        self.mapper.why_no_floor)

    def outputs(self, mask: NDArray[np.uint8], header: Any) -> dict[str, Any]:
        if self.mapper is None:
            return {}
        result = self.mapper.process(mask)
        out: dict[str, Any] = {}
        if self.grid:
            out["person_occupancy"] = grid_msg(result, header, self.config, self._grid_cls,
                                               frame_id=self.base_frame)
        if self.scan:
            out["people_scan"] = scan_msg(result, header, self.config, self._scan_cls,
                                          frame_id=self.base_frame)
        return out


@dataclass(frozen=True)
class Settings:
    node: NodeConfig
    pipeline: PipelineConfig

    def pose_for(self, namespace: str) -> CameraPose:
        poses = self.node.camera_poses()
        if not self.node.cameras:
            return CameraPose(*poses[""])
        name = namespace.rsplit("/", 1)[-1]
        if name not in poses:
            raise BagError(f"camera namespace {namespace or '/'!r} matches none of the "
                           f"'cameras' parameter {list(self.node.cameras)}: name the cameras "
                           "after the last part of their namespace")
        return CameraPose(*poses[name])

    def occupancy_factory(self) -> Callable[[ImageTopic], CameraOutputs | None] | None:
        cfg = self.node
        if not (cfg.publish_occupancy or cfg.publish_scan):
            return None
        config = OccupancyConfig(**cfg.occupancy_kwargs())

        def make(topic: ImageTopic) -> CameraOutputs:
            return OccupancyOutputs(self.pose_for(topic.namespace), config, cfg.base_frame,
                                    cfg.publish_occupancy, cfg.publish_scan)
        return make


def load_settings(params_file: Path | None, model: Path | None, backend: str | None) -> Settings:
    """The node's configuration from ``params_file`` (defaults without), plus CLI overrides."""
    try:
        node = load_params_file(params_file) if params_file is not None else validate({})
    except FileNotFoundError as err:
        raise BagError(f"parameters file not found: {params_file}") from err
    except ParameterError as err:
        raise BagError(f"{params_file}: {err}") from err
    config = node.pipeline_config()
    if model is not None:
        config = replace(config, model_path=model)
    if backend is not None:
        config = replace(config, backend=backend)
    return Settings(node, config)
