"""OccupancyResult -> OccupancyGrid, LaserScan and PointCloud2 messages (no node code).

The message classes are injectable: by default the rclpy classes
(``nav_msgs.msg.OccupancyGrid``, ``sensor_msgs.msg.LaserScan``, imported on
first use); pass rosbags' message dataclasses instead (e.g.
``typestore.types['nav_msgs/msg/OccupancyGrid']``) to build the same message
for a bag. Nested types (MapMetaData, Pose, Time, ...) are resolved from the
class itself, so one class argument is enough.

Fast paths: rclpy messages get ``array.array`` fields filled with
``frombytes`` (the setter accepts them without a per-element check); rosbags
messages get numpy arrays. No per-element Python list is ever built.

The output header is ``header`` as given (its stamp should be the image's);
pass ``frame_id`` to use ``base_frame`` instead of ``header.frame_id``.
"""

from __future__ import annotations

import array
import dataclasses
import sys
from typing import Any

import numpy as np

from peoplesemseg_ros.occupancy.mapper import OccupancyConfig, OccupancyResult

__all__ = ["CLOUD_FIELDS", "cloud_msg", "grid_msg", "scan_msg", "with_frame_id"]

# people_cloud point layout: float32 x, y, z, little endian, no padding.
CLOUD_FIELDS = ("x", "y", "z")
_FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


def _is_rosbags(cls: type) -> bool:
    return dataclasses.is_dataclass(cls)


def _field_type(cls: type, name: str) -> type:
    for f in dataclasses.fields(cls):
        if f.name == name:
            if isinstance(f.type, type):
                return f.type
            found = getattr(sys.modules[cls.__module__], str(f.type), None)
            if isinstance(found, type):
                return found
            raise TypeError(f"cannot resolve the type {f.type!r} of {cls.__name__}.{name}")
    raise TypeError(f"{cls.__name__} has no field {name!r}")


def _list_item_type(cls: type, name: str) -> type:
    """The element class of a rosbags ``list[...]`` field (e.g. PointCloud2.fields)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            inner = str(f.type).removeprefix("list[").removesuffix("]")
            found = getattr(sys.modules[cls.__module__], inner, None)
            if isinstance(found, type):
                return found
            raise TypeError(f"cannot resolve the element type {f.type!r} of "
                            f"{cls.__name__}.{name}")
    raise TypeError(f"{cls.__name__} has no field {name!r}")


def _build(cls: type, values: dict[str, Any]) -> Any:
    """Instantiate ``cls`` (rclpy message or rosbags dataclass) from nested field values."""
    if _is_rosbags(cls):
        kwargs = {k: _build(_field_type(cls, k), v) if isinstance(v, dict) else v
                  for k, v in values.items()}
        return cls(**kwargs)
    msg = cls()
    _assign(msg, values)
    return msg


def _assign(msg: Any, values: dict[str, Any]) -> None:
    for k, v in values.items():
        if isinstance(v, dict):
            _assign(getattr(msg, k), v)
        else:
            setattr(msg, k, v)


def with_frame_id(header: Any, frame_id: str) -> Any:
    """A copy of a std_msgs/Header (either flavour) with another frame_id and the same stamp."""
    return type(header)(stamp=header.stamp, frame_id=frame_id)


def _array_field(values: np.ndarray[Any, Any], typecode: str, rosbags: bool) -> Any:
    """A message array field: a numpy copy for rosbags, ``array.array(typecode)`` for rclpy."""
    data = np.ascontiguousarray(values, dtype={"b": np.int8, "f": np.float32}[typecode])
    if rosbags:
        return data.reshape(-1).copy()
    out = array.array(typecode)
    out.frombytes(data.tobytes())
    return out


def grid_msg(result: OccupancyResult, header: Any, config: OccupancyConfig,
             msg_cls: type | None = None, *, frame_id: str | None = None) -> Any:
    """nav_msgs/OccupancyGrid of ``result.grid`` (origin = cell (0, 0) corner, identity yaw)."""
    if msg_cls is None:
        from nav_msgs.msg import OccupancyGrid

        msg_cls = OccupancyGrid
    rosbags = _is_rosbags(msg_cls)
    if frame_id is not None:
        header = with_frame_id(header, frame_id)
    height, width = result.grid.shape
    if (height, width) != (config.height, config.width):
        raise ValueError(f"grid is {width}x{height} cells but the config says "
                         f"{config.width}x{config.height}")
    origin = {"position": {"x": float(config.origin_x), "y": float(config.origin_y), "z": 0.0},
              "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}}
    info = {"map_load_time": header.stamp, "resolution": float(config.resolution),
            "width": int(width), "height": int(height), "origin": origin}
    return _build(msg_cls, {"header": header, "info": info,
                            "data": _array_field(result.grid, "b", rosbags)})


def scan_msg(result: OccupancyResult, header: Any, config: OccupancyConfig,
             msg_cls: type | None = None, *, frame_id: str | None = None,
             scan_time: float = 0.0) -> Any:
    """sensor_msgs/LaserScan of ``result.ranges`` (one ray per bin, no intensities).

    ``angle_max`` is the angle of the last ray, angle_min + (n - 1) * increment,
    so consumers that count rays from the angles get ``len(ranges)``.
    """
    if msg_cls is None:
        from sensor_msgs.msg import LaserScan

        msg_cls = LaserScan
    rosbags = _is_rosbags(msg_cls)
    if frame_id is not None:
        header = with_frame_id(header, frame_id)
    n = result.ranges.shape[0]
    if n != config.n_scan_bins:
        raise ValueError(f"scan has {n} ranges but the config says {config.n_scan_bins}")
    values = {
        "header": header,
        "angle_min": float(config.scan_angle_min),
        "angle_max": float(config.scan_angle_min + (n - 1) * config.scan_angle_increment),
        "angle_increment": float(config.scan_angle_increment),
        "time_increment": 0.0,
        "scan_time": float(scan_time),
        "range_min": float(config.scan_range_min),
        "range_max": float(config.scan_range_max),
        "ranges": _array_field(result.ranges, "f", rosbags),
        "intensities": _array_field(np.zeros(0, dtype=np.float32), "f", rosbags),
    }
    return _build(msg_cls, values)


def cloud_msg(points: np.ndarray[Any, Any], header: Any, msg_cls: type | None = None, *,
              frame_id: str | None = None) -> Any:
    """sensor_msgs/PointCloud2 of Nx3 ``points`` (float32 x, y, z; unordered, height 1).

    An empty ``points`` gives a valid empty cloud (width 0): consumers that clear
    on an empty cloud see that nobody is there.
    """
    if msg_cls is None:
        from sensor_msgs.msg import PointCloud2

        msg_cls = PointCloud2
    rosbags = _is_rosbags(msg_cls)
    if frame_id is not None:
        header = with_frame_id(header, frame_id)
    pts = np.ascontiguousarray(points, dtype="<f4").reshape(-1, 3)
    if rosbags:
        field_cls: Any = _list_item_type(msg_cls, "fields")
        data: Any = np.frombuffer(pts.tobytes(), dtype=np.uint8).copy()
    else:
        from sensor_msgs.msg import PointField

        field_cls = PointField
        data = pts.tobytes()
    fields = [field_cls(name=name, offset=4 * i, datatype=_FLOAT32, count=1)
              for i, name in enumerate(CLOUD_FIELDS)]
    n = int(pts.shape[0])
    return _build(msg_cls, {"header": header, "height": 1, "width": n, "fields": fields,
                            "is_bigendian": False, "point_step": 12, "row_step": 12 * n,
                            "data": data, "is_dense": True})
