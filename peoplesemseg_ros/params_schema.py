"""The node's parameter table (plain data): every parameter's name, type, default, range.

Kept apart from :mod:`peoplesemseg_ros.params` (validation, typed config, params
files), which re-exports :class:`ParamSpec` and :data:`SCHEMA`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from peoplesemseg_ros.core.preprocess import COLOR_ORDERS, PRESET_NAMES, RESIZE_MODES
from peoplesemseg_ros.occupancy.pose_source import POSE_SOURCES

__all__ = ["SCHEMA", "ParamSpec"]


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

SCHEMA: Final[tuple[ParamSpec, ...]] = (
    # --- model / backend (take effect at configure) ---
    ParamSpec("model", "str", "default", "embedded model used when model_path is empty: "
              "default (960x544 in, best quality, runs each frame and its mirror image), "
              "default_single (the same network in one pass: half the compute, a little "
              "less quality), fast (smaller network input, for a busy CPU), or the ONNX "
              "Runtime INT8 variants of default and fast; see models/MODEL.md",
              choices=("default", "default_single", "fast", "default_int8", "fast_int8")),
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
    ParamSpec("num_threads", "int", 0, "CPU inference threads; 0: the runtime's default",
              min=0, max=256),
    ParamSpec("intra_op_spinning", "bool", False, "ONNX Runtime threads spin-wait between "
              "inferences (its own default: true); false frees the cores: faster on a busy CPU"),
    ParamSpec("max_batch", "int", 1, "most frames (of different cameras) run as one batch",
              min=1, max=32),
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
    ParamSpec("publish.cloud", "bool", True, "publish <camera>/people_cloud, foot points as "
              "vertical columns for Nav2 (needs camera_info)", dynamic=True),
    # --- occupancy (flat floor) ---
    ParamSpec("base_frame", "str", "base_link", "frame of the occupancy grid, the scan and the "
              "cloud", dynamic=True),
    ParamSpec("camera_pose_source", "str", "auto", "where the camera pose in base_frame comes "
              "from: tf (base_frame <- the image's frame_id at its stamp; none: no occupancy), "
              "parameters (camera_pose), auto (tf when tf2_ros and the transform exist, else "
              "camera_pose)", choices=POSE_SOURCES),
    ParamSpec("tf_timeout", "float", 0.05, "how long to wait for a transform at the image "
              "stamp [s]", min=0.0, max=5.0, dynamic=True),
    ParamSpec("camera_pose", "float_list", [0.0, 0.0, 1.0, 0.0, 0.0, 0.0], "camera body frame "
              "in base_frame, used unless camera_pose_source picks TF: x, y, z [m], roll, "
              "pitch, yaw [rad] (REP 103, x forward); with "
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
    ParamSpec("cloud.min_height", "float", 0.1, "people_cloud: lowest point of each foot "
              "point's column [m] (Nav2's collision monitor keeps 0.05-0.5 m by default)",
              min=0.0, max=5.0, dynamic=True),
    ParamSpec("cloud.max_height", "float", 1.8, "people_cloud: highest point of each column "
              "[m] (about a person's height)", min=0.0, max=5.0, dynamic=True),
    ParamSpec("cloud.spacing", "float", 0.1, "people_cloud: vertical step between a column's "
              "points [m]", min=0.01, max=5.0, dynamic=True),
)

