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
from peoplesemseg_ros.core.preprocess import COLOR_ORDERS, PRESET_NAMES, RESIZE_MODES

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


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str  # bool | int | float | str | str_list | float_list
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    lengths: tuple[int, ...] = ()  # allowed list lengths (() = any)
    read_only: bool = False
    dynamic: bool = False

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        parts = [{"bool": "true or false", "int": "an integer", "float": "a number",
                  "str": "a string", "str_list": "a list of strings",
                  "float_list": "a list of numbers"}[self.type]]
        if self.min is not None or self.max is not None:
            lo = "-inf" if self.min is None else f"{self.min:g}"
            hi = "inf" if self.max is None else f"{self.max:g}"
            parts.append(f"in [{lo}, {hi}]")
        if self.lengths:
            parts.append("with " + " or ".join(str(n) for n in self.lengths) + " values")
        return " ".join(parts)


_PI: Final = math.pi
_NAME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$")

SCHEMA: Final[tuple[ParamSpec, ...]] = (
    # --- model / backend (take effect at configure) ---
    ParamSpec("model", "str", "default", "embedded model used when model_path is empty: "
              "default (960x544 in, best quality), fast (smaller network input, for a busy "
              "CPU), or their ONNX Runtime INT8 variants; see models/MODEL.md",
              choices=("default", "fast", "default_int8", "fast_int8")),
    ParamSpec("model_path", "str", "", "ONNX model or TensorRT engine file; empty: the embedded "
              "model named by `model`"),
    ParamSpec("backend", "str", "auto", "inference backend; auto: tensorrt when a GPU and "
              "TensorRT are present, else onnxruntime", choices=("auto", "onnxruntime",
                                                                 "tensorrt")),
    ParamSpec("precision", "str", "fp32", "TensorRT engine precision when building from ONNX",
              choices=("fp32", "fp16", "int8")),
    ParamSpec("engine_cache_dir", "str", "", "where built TensorRT engines are cached; empty: "
              "the user's cache directory"),
    ParamSpec("preprocessing", "str", "auto", "input normalization preset; auto: embedded for "
              "uint8-input models, isaac_ros (RGB in [-1, 1]) for float models",
              choices=PRESET_NAMES),
    ParamSpec("preprocessing.color_order", "str", "", "override the preset's channel order; "
              "empty: the preset's", choices=("", *COLOR_ORDERS)),
    ParamSpec("preprocessing.scale", "float_list", [], "override the preset's scale (value = "
              "pixel * scale + offset); 1 value or 3 (per channel), empty: the preset's",
              lengths=(0, 1, 3)),
    ParamSpec("preprocessing.offset", "float_list", [], "override the preset's offset; 1 value "
              "or 3 (per channel), empty: the preset's", lengths=(0, 1, 3)),
    ParamSpec("resize_mode", "str", "auto", "auto: what the model's metadata asks for (the "
              "embedded fast model: stretch), else letterbox; letterbox: keep aspect ratio, "
              "pad (the model card's resize); stretch: fill the model input",
              choices=("auto", *RESIZE_MODES)),
    ParamSpec("num_threads", "int", 0, "CPU inference threads; 0: the runtime's default", 0, 256),
    ParamSpec("intra_op_spinning", "bool", False, "ONNX Runtime threads spin-wait between "
              "inferences (its own default: true); false frees the cores: faster on a busy CPU"),
    ParamSpec("max_batch", "int", 1, "most frames (of different cameras) run as one batch", 1, 32),
    # --- input ---
    ParamSpec("cameras", "str_list", [], "camera names; empty: one camera with topics image, "
              "camera_info, mask, ... relative to the node namespace; [front, left]: "
              "front/image, front/mask, left/image, ...", read_only=True),
    ParamSpec("input_transport", "str", "raw", "raw: subscribe <camera>/image (Image); "
              "compressed: <camera>/image/compressed (CompressedImage, jpeg/png)",
              choices=("raw", "compressed"), read_only=True),
    ParamSpec("qos.reliability", "str", "best_effort", "image subscription reliability (sensor "
              "data QoS is best_effort)", choices=("best_effort", "reliable"), read_only=True),
    ParamSpec("qos.depth", "int", 1, "image subscription history depth (newest frame wins "
              "anyway)", min=1, max=100, read_only=True),
    ParamSpec("qos.output_reliability", "str", "reliable", "reliability of mask, overlay, "
              "occupancy and scan publishers", choices=("best_effort", "reliable"),
              read_only=True),
    ParamSpec("qos.output_depth", "int", 1, "history depth of the output publishers",
              min=1, max=100, read_only=True),
    ParamSpec("max_image_pixels", "int", 4096 * 4096, "images with more pixels are rejected "
              "(counted as too_large)", min=1, max=1 << 28, dynamic=True),
    ParamSpec("max_rate_hz", "float", 0.0, "most frames per second processed per camera; 0: as "
              "fast as the model runs", min=0.0, max=1000.0, dynamic=True),
    ParamSpec("batch_window_ms", "float", 0.0, "with max_batch > 1: how long the worker waits "
              "for frames of other cameras before running a partial batch", min=0.0,
              max=1000.0, dynamic=True),
    # --- health (diagnostics levels) ---
    ParamSpec("input_timeout", "float", 5.0, "diagnostics WARN when a camera sent no image for "
              "this long while active [s]; 0: never", min=0.0, max=3600.0, dynamic=True),
    ParamSpec("min_output_ratio", "float", 0.1, "diagnostics WARN when masks out per second fall "
              "below this fraction of images in per second (rate-limited input excluded); 0: "
              "never", min=0.0, max=1.0, dynamic=True),
    ParamSpec("max_consecutive_failures", "int", 3, "diagnostics ERROR after this many inference "
              "failures in a row (each failed frame is dropped and counted); OK again after the "
              "next success", min=1, max=10000, dynamic=True),
    ParamSpec("autostart", "bool", True, "configure and activate at start; false: wait for "
              "lifecycle transitions", read_only=True),
    # --- outputs ---
    ParamSpec("mask_value", "int", 255, "mask pixel value for person (background is 0)",
              min=1, max=255, dynamic=True),
    ParamSpec("overlay_alpha", "float", 0.5, "overlay tint opacity", min=0.0, max=1.0,
              dynamic=True),
    ParamSpec("publish.mask", "bool", True, "publish <camera>/mask", dynamic=True),
    ParamSpec("publish.overlay", "bool", True, "publish <camera>/overlay (computed only while "
              "subscribed)", dynamic=True),
    ParamSpec("publish.occupancy", "bool", True, "publish <camera>/person_occupancy (needs "
              "camera_info)", dynamic=True),
    ParamSpec("publish.scan", "bool", True, "publish <camera>/people_scan (needs camera_info)",
              dynamic=True),
    # --- occupancy (flat floor) ---
    ParamSpec("base_frame", "str", "base_link", "frame of the occupancy grid and the scan",
              dynamic=True),
    ParamSpec("camera_pose", "float_list", [0.0, 0.0, 1.0, 0.0, 0.0, 0.0], "camera body frame "
              "in base_frame: x, y, z [m], roll, pitch, yaw [rad] (REP 103, x forward); with "
              "several cameras 6 values per camera in cameras order", dynamic=True),
    ParamSpec("occupancy.resolution", "float", 0.05, "grid cell size [m]", min=0.005, max=1.0,
              dynamic=True),
    ParamSpec("occupancy.width", "int", 200, "grid cells along base_frame x", min=1,
              max=10000, dynamic=True),
    ParamSpec("occupancy.height", "int", 200, "grid cells along base_frame y", min=1,
              max=10000, dynamic=True),
    ParamSpec("occupancy.origin", "float_list", [-2.0, -5.0], "grid origin (corner of cell "
              "(0, 0)) x, y in base_frame [m]; the default puts the robot 2 m from the grid's "
              "rear edge, centred across", lengths=(2,), dynamic=True),
    ParamSpec("max_range", "float", 8.0, "ignore foot points farther than this [m]", min=0.1,
              max=100.0, dynamic=True),
    ParamSpec("person_radius", "float", 0.3, "inflate each foot point by this radius [m]",
              min=0.0, max=5.0, dynamic=True),
    ParamSpec("min_person_height_px", "int", 8, "ignore vertical person runs shorter than "
              "this [px]", min=1, max=10000, dynamic=True),
    ParamSpec("scan.angle_min", "float", -_PI, "people_scan first bearing [rad]",
              min=-_PI, max=_PI, dynamic=True),
    ParamSpec("scan.angle_max", "float", _PI, "people_scan last bearing [rad]",
              min=-_PI, max=_PI, dynamic=True),
    ParamSpec("scan.angle_increment", "float", _PI / 360, "people_scan bearing step [rad]",
              min=1e-4, max=0.5, dynamic=True),
    ParamSpec("scan.range_min", "float", 0.0, "people_scan range_min [m]", min=0.0, max=100.0,
              dynamic=True),
    ParamSpec("scan.range_max", "float", 8.0, "people_scan range_max [m]; farther foot points "
              "read inf", min=0.01, max=100.0, dynamic=True),
)

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
    base_frame: str
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
    unknown = sorted(set(values) - set(SPECS) - {"use_sim_time"})
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
            if name == "use_sim_time":
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
