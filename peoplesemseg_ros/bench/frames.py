"""Benchmark inputs: the shipped vtest frames as sensor_msgs Image / CompressedImage.

Each input is named ``<W>x<H>_<encoding>`` (``rgb8``, ``bgr8``, ``jpeg``). Messages
are built with rclpy types and round-tripped through serialization, so ``data``
has exactly the form a subscriber receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.images import ImageFields, fill_image

__all__ = [
    "DEFAULT_INPUTS",
    "InputSpec",
    "build_message",
    "load_source_frames",
    "parse_input",
    "received_messages",
]

DEFAULT_INPUTS: Final = ("960x544_rgb8", "1280x720_bgr8", "1920x1080_bgr8", "1920x1080_jpeg")
_ENCODINGS: Final = ("rgb8", "bgr8", "jpeg")
_VTEST: Final = Path(__file__).resolve().parent.parent / "data" / "vtest"


@dataclass(frozen=True)
class InputSpec:
    name: str
    width: int
    height: int
    encoding: str  # rgb8 | bgr8 | jpeg

    @property
    def compressed(self) -> bool:
        return self.encoding == "jpeg"


def parse_input(name: str) -> InputSpec:
    """``"1920x1080_bgr8"`` -> InputSpec; a clear ValueError otherwise."""
    size, _, encoding = name.partition("_")
    w, _, h = size.partition("x")
    if encoding not in _ENCODINGS or not (w.isdigit() and h.isdigit()) or not int(w) or not int(h):
        raise ValueError(f"input {name!r} must look like <W>x<H>_<{'|'.join(_ENCODINGS)}>, "
                         "e.g. 960x544_rgb8")
    return InputSpec(name, int(w), int(h), encoding)


def load_source_frames(count: int = 4) -> list[NDArray[np.uint8]]:
    """Up to ``count`` shipped vtest frames as RGB (people in a street scene)."""
    paths = sorted(_VTEST.glob("*.jpg"))[:max(1, count)]
    if not paths:
        raise FileNotFoundError(f"no benchmark frames in {_VTEST} (broken install?)")
    frames: list[NDArray[np.uint8]] = []
    for p in paths:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode {p}")
        frames.append(np.ascontiguousarray(bgr[..., ::-1], dtype=np.uint8))
    return frames


def build_message(rgb: NDArray[np.uint8], spec: InputSpec, frame_id: str = "camera") -> Any:
    """An rclpy Image (rgb8 / bgr8) or CompressedImage (jpeg) of ``rgb`` resized to ``spec``."""
    from sensor_msgs.msg import CompressedImage, Image

    img = np.asarray(cv2.resize(rgb, (spec.width, spec.height), interpolation=cv2.INTER_AREA),
                     dtype=np.uint8)
    if spec.compressed:
        ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        cmsg = CompressedImage()
        cmsg.header.frame_id = frame_id
        cmsg.format = "jpeg"
        cmsg.data = buf.tobytes()
        return cmsg
    if spec.encoding == "bgr8":
        img = np.ascontiguousarray(img[..., ::-1])
    msg = fill_image(Image(), ImageFields(spec.height, spec.width, spec.encoding,
                                          spec.width * 3, img.tobytes()))
    msg.header.frame_id = frame_id
    return msg


def received_messages(spec: InputSpec, count: int = 4) -> list[Any]:
    """``count`` messages as a subscriber gets them (serialize -> deserialize)."""
    from rclpy.serialization import deserialize_message, serialize_message

    out = []
    for rgb in load_source_frames(count):
        msg = build_message(rgb, spec)
        out.append(deserialize_message(serialize_message(msg), type(msg)))
    return out
