"""The node's one parameter schema: names, types, defaults, ranges, descriptions.

The schema (:data:`SCHEMA`) is plain data. It is used

* by the node to declare every parameter with a ``ParameterDescriptor``
  (description, ranges, read-only; :mod:`peoplesemseg_ros.ros.parameters`) and to
  validate at start and on set (:func:`validate`, :func:`check_update`);
* without rclpy, to read a ROS 2 params YAML file into the same validated,
  typed :class:`NodeConfig` (:func:`peoplesemseg_ros.params_file.load_params_file`;
  the offline bag tools use it), and to render ``config/peoplesemseg.yaml`` and ``docs/node.md``.

Parameters marked *dynamic* may change at any time; the others (neither
dynamic nor read-only) are accepted only while the lifecycle node is
unconfigured and take effect at the next configure; read-only ones are fixed
at start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from peoplesemseg_ros.core.pipeline import PipelineConfig
from peoplesemseg_ros.params_schema import SCHEMA, ParamSpec

__all__ = [
    "NODE_NAME",
    "SCHEMA",
    "SPECS",
    "NodeConfig",
    "ParamSpec",
    "ParameterError",
    "check_update",
    "validate",
    "validate_value",
]

NODE_NAME: Final = "peoplesemseg"


class ParameterError(ValueError):
    """A parameter value that is not allowed; the message names it and the allowed values."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


_NAME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$")

SPECS: Final[dict[str, ParamSpec]] = {s.name: s for s in SCHEMA}


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate_value(spec: ParamSpec, value: Any) -> Any:
    """Check one value (YAML / rclpy Python value) against its spec; returns it normalized."""
    def bad(why: str) -> ParameterError:
        return ParameterError(spec.name, f"parameter {spec.name!r} = {value!r} {why}: allowed "
                                         f"{spec.allowed()}")

    t = spec.type
    if t == "bool":
        if not isinstance(value, bool):
            raise bad("has the wrong type")
        return value
    if t == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad("has the wrong type")
        out: Any = int(value)
    elif t == "float":
        if not _is_number(value) or not math.isfinite(float(value)):
            raise bad("has the wrong type")
        out = float(value)
    elif t == "str":
        if not isinstance(value, str):
            raise bad("has the wrong type")
        out = value
    elif t == "str_list":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise bad("has the wrong type")
        out = [str(v) for v in value]
    else:
        if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
            raise bad("has the wrong type")
        out = [float(v) for v in value]
        if not all(math.isfinite(v) for v in out):
            raise bad("is not finite")
    if spec.choices and out not in spec.choices:
        raise bad("is not allowed")
    if spec.min is not None and _is_number(out) and out < spec.min:
        raise bad("is out of range")
    if spec.max is not None and _is_number(out) and out > spec.max:
        raise bad("is out of range")
    if spec.lengths and len(out) not in spec.lengths:
        raise bad("has the wrong number of values")
    return out


@dataclass(frozen=True)
class NodeConfig:
    """All parameters, validated and typed (ROS name ``a.b`` -> field ``a_b``)."""

    model: str
    model_path: str
    backend: str
    precision: str
    engine_cache_dir: str
    preprocessing: str
    preprocessing_color_order: str
    preprocessing_scale: tuple[float, ...]
    preprocessing_offset: tuple[float, ...]
    resize_mode: str
    num_threads: int
    intra_op_spinning: bool
    max_batch: int
    cameras: tuple[str, ...]
    input_transport: str
    qos_reliability: str
    qos_depth: int
    qos_output_reliability: str
    qos_output_depth: int
    max_image_pixels: int
    max_rate_hz: float
    batch_window_ms: float
    input_timeout: float
    min_output_ratio: float
    max_consecutive_failures: int
    autostart: bool
    mask_value: int
    overlay_alpha: float
    publish_mask: bool
    publish_overlay: bool
    publish_occupancy: bool
    publish_scan: bool
    publish_cloud: bool
    base_frame: str
    camera_pose_source: str
    tf_timeout: float
    camera_pose: tuple[float, ...]
    occupancy_resolution: float
    occupancy_width: int
    occupancy_height: int
    occupancy_origin: tuple[float, ...]
    max_range: float
    person_radius: float
    min_person_height_px: int
    scan_angle_min: float
    scan_angle_max: float
    scan_angle_increment: float
    scan_range_min: float
    scan_range_max: float
    cloud_min_height: float
    cloud_max_height: float
    cloud_spacing: float

    @property
    def camera_names(self) -> tuple[str, ...]:
        """Camera names; ``("",)`` for the default single camera (topics unprefixed)."""
        return self.cameras or ("",)

    def camera_poses(self) -> dict[str, tuple[float, float, float, float, float, float]]:
        """Pose (x, y, z, roll, pitch, yaw) per camera name."""
        names = self.camera_names
        p = self.camera_pose
        one = len(p) == 6
        return {n: (p[0], p[1], p[2], p[3], p[4], p[5]) if one else
                (p[6 * i], p[6 * i + 1], p[6 * i + 2], p[6 * i + 3], p[6 * i + 4], p[6 * i + 5])
                for i, n in enumerate(names)}

    def occupancy_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``occupancy.OccupancyConfig``."""
        return {"resolution": self.occupancy_resolution, "width": self.occupancy_width,
                "height": self.occupancy_height, "origin_x": self.occupancy_origin[0],
                "origin_y": self.occupancy_origin[1], "max_range": self.max_range,
                "person_radius": self.person_radius,
                "min_person_height_px": self.min_person_height_px,
                "scan_angle_min": self.scan_angle_min, "scan_angle_max": self.scan_angle_max,
                "scan_angle_increment": self.scan_angle_increment,
                "scan_range_min": self.scan_range_min, "scan_range_max": self.scan_range_max}

    def cloud_kwargs(self) -> dict[str, float]:
        """Keyword arguments of ``occupancy.cloud.CloudConfig`` (x, y thinning at the grid's
        resolution)."""
        return {"min_height": self.cloud_min_height, "max_height": self.cloud_max_height,
                "spacing": self.cloud_spacing, "resolution": self.occupancy_resolution}

    def pipeline_config(self) -> PipelineConfig:
        return PipelineConfig(
            model_path=Path(self.model_path).expanduser() if self.model_path else None,
            model=self.model,
            backend=self.backend, preprocessing=self.preprocessing,
            color_order=self.preprocessing_color_order, scale=self.preprocessing_scale,
            offset=self.preprocessing_offset, resize_mode=self.resize_mode,
            mask_value=self.mask_value, num_threads=self.num_threads, max_batch=self.max_batch,
            spinning=self.intra_op_spinning,
            precision=self.precision,
            engine_cache_dir=Path(self.engine_cache_dir).expanduser()
            if self.engine_cache_dir else None,
            overlay_alpha=self.overlay_alpha)


def _rclpy_owned(name: str) -> bool:
    """Parameters rclpy itself declares: use_sim_time and the QoS overrides."""
    return name == "use_sim_time" or name.startswith("qos_overrides.")


def _cross_check(v: Mapping[str, Any]) -> None:
    cams = list(v["cameras"])
    for c in cams:
        if not _NAME_RE.match(c):
            raise ParameterError("cameras", f"parameter 'cameras' has an invalid camera name "
                                 f"{c!r}: allowed names are ROS name tokens like 'front' or "
                                 "'robot/left'")
    if len(set(cams)) != len(cams):
        raise ParameterError("cameras", f"parameter 'cameras' = {cams!r} repeats a name")
    n = max(1, len(cams))
    if len(v["camera_pose"]) not in {6, 6 * n}:
        raise ParameterError("camera_pose", f"parameter 'camera_pose' has "
                             f"{len(v['camera_pose'])} values: allowed 6 (all cameras) or "
                             f"{6 * n} (6 per camera: x, y, z, roll, pitch, yaw)")
    if v["scan.angle_min"] >= v["scan.angle_max"]:
        raise ParameterError("scan.angle_min", f"parameter 'scan.angle_min' = "
                             f"{v['scan.angle_min']} must be below scan.angle_max = "
                             f"{v['scan.angle_max']}")
    if v["cloud.min_height"] > v["cloud.max_height"]:
        raise ParameterError("cloud.min_height", f"parameter 'cloud.min_height' = "
                             f"{v['cloud.min_height']} must not be above cloud.max_height = "
                             f"{v['cloud.max_height']}")
    if v["scan.range_min"] >= v["scan.range_max"]:
        raise ParameterError("scan.range_min", f"parameter 'scan.range_min' = "
                             f"{v['scan.range_min']} must be below scan.range_max = "
                             f"{v['scan.range_max']}")


def validate(values: Mapping[str, Any]) -> NodeConfig:
    """Defaults + ``values`` (ROS names) -> NodeConfig, or ParameterError naming the culprit."""
    merged: dict[str, Any] = {}
    for spec in SCHEMA:
        raw = values.get(spec.name, spec.default)
        merged[spec.name] = validate_value(spec, raw)
    unknown = sorted(n for n in set(values) - set(SPECS) if not _rclpy_owned(n))
    if unknown:
        raise ParameterError(unknown[0], f"unknown parameter(s) {', '.join(unknown)}; known: "
                             f"{', '.join(SPECS)}")
    _cross_check(merged)
    kw: dict[str, Any] = {k.replace(".", "_"): tuple(v) if isinstance(v, list) else v
          for k, v in merged.items()}
    return NodeConfig(**kw)


def check_update(current: Mapping[str, Any], changes: Mapping[str, Any],
                 configured: bool) -> str | None:
    """Why ``changes`` cannot be applied now (None: they can). Used on parameter set."""
    for name, value in changes.items():
        spec = SPECS.get(name)
        if spec is None:
            if _rclpy_owned(name):
                continue
            return f"unknown parameter {name!r}"
        if spec.read_only:
            return f"parameter {name!r} is read-only (set it at start)"
        if configured and not spec.dynamic:
            return (f"parameter {name!r} takes effect at configure: deactivate and clean up the "
                    "node first")
        try:
            validate_value(spec, value)
        except ParameterError as exc:
            return str(exc)
    try:
        validate({**current, **changes})
    except ParameterError as exc:
        return str(exc)
    return None
