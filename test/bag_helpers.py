"""Helpers for the bag tests: real rosbag2 files built with rosbags, red-people frames."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from tiny_models import RED, make_model

from peoplesemseg_ros import cli
from peoplesemseg_ros.bag.io import STORAGES, typestore

__all__ = ["BagMsg", "camera_info", "compressed", "frame_rgb", "raw_image", "read_bag",
           "run_cli", "tf_message", "tiny_model", "write_bag"]

STORE = typestore()
T = STORE.types
CUSTOM_TYPE = "peoplesemseg_test_msgs/msg/Thing"
CUSTOM_DEF = "int32 a\nstring b\n"
_CUSTOM_STORE = get_typestore(Stores.ROS2_KILTED)  # separate: the package's store stays as is


@dataclass(frozen=True)
class BagMsg:
    topic: str
    msgtype: str
    timestamp: int  # bag time, ns
    data: bytes  # serialized CDR


def tiny_model(path: Path) -> Path:
    """"Red pixels are people", uint8 NHWC 96x128 in, uint8 ids out (fast on CPU)."""
    return make_model(path, height=96, width=128)


def frame_rgb(i: int, width: int, height: int) -> np.ndarray:
    """A grey frame with a red rectangle (the "person") that moves with ``i``."""
    rgb = np.full((height, width, 3), 90, np.uint8)
    x0 = (4 + 3 * i) % (width // 2)
    rgb[height // 4: 3 * height // 4, x0: x0 + width // 4] = RED
    return rgb


def _header(stamp_ns: int, frame_id: str) -> Any:
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    stamp = T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    return T["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def _ser(msg: Any) -> bytes:
    return bytes(STORE.serialize_cdr(msg, msg.__msgtype__))


def raw_image(rgb: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = "bgr8") -> bytes:
    data = rgb[..., ::-1] if encoding == "bgr8" else rgb
    h, w = rgb.shape[:2]
    msg = T["sensor_msgs/msg/Image"](header=_header(stamp_ns, frame_id), height=h, width=w,
                                     encoding=encoding, is_bigendian=0, step=w * 3,
                                     data=np.ascontiguousarray(data).reshape(-1))
    return _ser(msg)


def compressed(rgb: np.ndarray, stamp_ns: int, frame_id: str) -> bytes:
    ok, jpeg = cv2.imencode(".png", rgb[..., ::-1])  # lossless: exact red pixels
    assert ok
    msg = T["sensor_msgs/msg/CompressedImage"](header=_header(stamp_ns, frame_id), format="png",
                                               data=jpeg.reshape(-1))
    return _ser(msg)


def compressed_bytes(payload: bytes, stamp_ns: int, frame_id: str, fmt: str = "jpeg") -> bytes:
    msg = T["sensor_msgs/msg/CompressedImage"](header=_header(stamp_ns, frame_id), format=fmt,
                                               data=np.frombuffer(payload, np.uint8).copy())
    return _ser(msg)


def camera_info(width: int, height: int, stamp_ns: int, frame_id: str) -> bytes:
    f = 0.8 * width
    msg = T["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp_ns, frame_id), height=height, width=width,
        distortion_model="plumb_bob", d=np.zeros(5),
        k=np.array([f, 0, width / 2, 0, f, height / 2, 0, 0, 1], np.float64),
        r=np.eye(3).reshape(-1),
        p=np.array([f, 0, width / 2, 0, 0, f, height / 2, 0, 0, 0, 1, 0], np.float64),
        binning_x=0, binning_y=0,
        roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                  do_rectify=False))
    return _ser(msg)


def tf_message(stamp_ns: int, *edges: tuple[str, str, Sequence[float], Sequence[float]],
               ) -> bytes:
    """tf2_msgs/TFMessage: one TransformStamped per (parent, child, xyz, quaternion xyzw)."""
    transforms = []
    for parent, child, xyz, q in edges:
        transforms.append(T["geometry_msgs/msg/TransformStamped"](
            header=_header(stamp_ns, parent), child_frame_id=child,
            transform=T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=xyz[0], y=xyz[1], z=xyz[2]),
                rotation=T["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3]))))
    return _ser(T["tf2_msgs/msg/TFMessage"](transforms=transforms))


def custom_thing(a: int) -> bytes:
    """A CDR message of a type no installed package defines (int32 a, string b)."""
    if CUSTOM_TYPE not in _CUSTOM_STORE.types:
        _CUSTOM_STORE.register(get_types_from_msg(CUSTOM_DEF, CUSTOM_TYPE))
    msg = _CUSTOM_STORE.types[CUSTOM_TYPE](a=a, b="x" * a)
    return bytes(_CUSTOM_STORE.serialize_cdr(msg, CUSTOM_TYPE))


def write_bag(path: Path, storage: str, messages: Iterable[BagMsg]) -> Path:
    """A closed rosbag2 at ``path`` with ``messages`` in the given order."""
    with Writer(path, version=9, storage_plugin=STORAGES[storage]) as writer:
        conns: dict[str, Any] = {}
        for m in messages:
            if m.topic not in conns:
                if m.msgtype == CUSTOM_TYPE:
                    conns[m.topic] = writer.add_connection(
                        m.topic, m.msgtype, msgdef=CUSTOM_DEF,
                        rihs01="RIHS01_" + "ab" * 32)
                else:
                    conns[m.topic] = writer.add_connection(m.topic, m.msgtype, typestore=STORE)
            writer.write(conns[m.topic], m.timestamp, m.data)
    return path


def read_bag(path: Path) -> list[BagMsg]:
    with Reader(path) as reader:
        return [BagMsg(c.topic, c.msgtype, t, bytes(raw)) for c, t, raw in reader.messages()]


def deserialize(m: BagMsg) -> Any:
    return STORE.deserialize_cdr(m.data, m.msgtype)


def stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def run_cli(capsys: Any, args: Sequence[str]) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``peoplesemseg ARGS`` in-process: (exit code, last stdout JSON line, stderr)."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return code, (json.loads(lines[-1]) if lines else None), err
