"""The node's parameters (one ROS params YAML) for offline bag processing.

``load_settings`` reads the same file the node is started with
(:func:`peoplesemseg_ros.params_file.load_params_file`, validated by the same schema)
and turns it into the pipeline configuration and, per camera, the occupancy
grid / people scan outputs computed by the node's own occupancy stage
(:class:`~peoplesemseg_ros.occupancy.stage.OccupancyStage`).

Camera pose: ``camera_pose_source`` as on the robot, with the bag's own ``/tf_static``
and ``/tf`` as the TF (:mod:`peoplesemseg_ros.bag.tf`): ``auto`` takes each image's
``base_frame <- header.frame_id`` from them when it is there, else the parameter. The
``camera_pose`` parameter: with ``cameras`` empty its 6 values apply to every camera in
the bag; with camera names, the last component of a camera namespace picks the pose
(``/robot/front/image`` -> ``front``).
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
from peoplesemseg_ros.bag.tf import read_tf
from peoplesemseg_ros.core.pipeline import PipelineConfig
from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose
from peoplesemseg_ros.occupancy.pose_source import PoseResolver
from peoplesemseg_ros.occupancy.stage import OccupancyStage
from peoplesemseg_ros.params import NodeConfig, ParameterError, validate
from peoplesemseg_ros.params_file import load_params_file

__all__ = ["OccupancyOutputs", "Settings", "load_settings"]

LOG = logging.getLogger("peoplesemseg.bag")
GRID_TYPE = "nav_msgs/msg/OccupancyGrid"
SCAN_TYPE = "sensor_msgs/msg/LaserScan"
CLOUD_TYPE = "sensor_msgs/msg/PointCloud2"


class OccupancyOutputs:
    """``person_occupancy``, ``people_scan``, ``people_cloud`` of one camera (CameraOutputs).

    A bag adapter around the node's own :class:`OccupancyStage` (rosbags message
    classes instead of rclpy's), so a processed bag holds exactly what the robot
    would have published for the same frames.
    """

    def __init__(self, label: str, pose: CameraPose, node: NodeConfig,
                 poses: PoseResolver | None = None, image_topic: str = "image") -> None:
        self.image_topic = image_topic
        self.pose = (pose.x, pose.y, pose.z, pose.roll, pose.pitch, pose.yaw)
        self.node = node
        self.poses = poses or PoseResolver("parameters", None)
        self.pose_source = ""  # label of the last choice, logged when it changes
        types = typestore().types
        self._warned: set[str] = set()
        self.stage = OccupancyStage(label, self._warn, types[GRID_TYPE], types[SCAN_TYPE],
                                    types[CLOUD_TYPE])

    def _warn(self, text: str, throttled: bool) -> None:
        if throttled and text in self._warned:
            return  # a per-frame warning: once per bag is enough in a log
        self._warned.add(text)
        LOG.warning("%s", text)

    def topics(self) -> dict[str, str]:
        out = {}
        if self.node.publish_occupancy:
            out["person_occupancy"] = GRID_TYPE
        if self.node.publish_scan:
            out["people_scan"] = SCAN_TYPE
        if self.node.publish_cloud:
            out["people_cloud"] = CLOUD_TYPE
        return out

    def on_camera_info(self, msg: Any) -> None:
        CameraModel.from_camera_info(msg)  # ValueError: counted as bad_camera_info, not kept
        self.stage.set_info(msg)

    def outputs(self, mask: NDArray[np.uint8], header: Any) -> dict[str, Any]:
        stamp = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
        choice = self.poses.choose(self.image_topic, self.node.base_frame, header.frame_id,
                                   stamp, self.pose)
        if choice.label != self.pose_source:
            self.pose_source = choice.label
            LOG.info("%s: camera pose from %s", self.image_topic, choice.label)
        if choice.pose is None:
            return {}
        msgs = self.stage.messages(mask, header, choice.pose, self.node)
        named = {"person_occupancy": msgs.grid, "people_scan": msgs.scan,
                 "people_cloud": msgs.cloud}
        return {name: msg for name, msg in named.items() if msg is not None}


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

    def occupancy_factory(self, bag: Path | None = None,
                          ) -> Callable[[ImageTopic], CameraOutputs | None] | None:
        """Per-camera occupancy outputs for ``bag``, whose TF gives the camera poses
        (``camera_pose_source``); without ``bag``, the ``camera_pose`` parameter."""
        cfg = self.node
        if not (cfg.publish_occupancy or cfg.publish_scan or cfg.publish_cloud):
            return None
        mode = cfg.camera_pose_source
        if mode == "parameters":
            tf, why = None, "camera_pose_source: parameters"
        elif bag is None:
            tf, why = None, "no bag to read TF from"
        else:
            tf, why = read_tf(bag)
        poses = PoseResolver(mode, tf, why)
        LOG.info("camera_pose_source %s: %s", mode,
                 f"the bag's TF ({cfg.base_frame} <- each image's frame_id)" if tf else why)

        def make(topic: ImageTopic) -> CameraOutputs:
            label = f"{topic.namespace}/camera_info"
            return OccupancyOutputs(label, self.pose_for(topic.namespace), cfg, poses,
                                    topic.topic)
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
