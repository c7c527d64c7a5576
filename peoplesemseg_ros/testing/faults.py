"""Good and bad camera frames with known outcomes, shared by the soak run and the tests.

A *good* frame is an rgb8 image whose people are exactly its "red" pixels (the
tiny test models' rule), so its mask is known. A *bad* frame is built to hit
one rejection reason of :mod:`peoplesemseg_ros.core.images` and nothing else; its
``reason`` is the diagnostics counter it must increment. Compressed payloads
(truncated JPEG / PNG, headers that declare huge sizes, random bytes) are
plain ``bytes`` for fuzzing the CompressedImage path.

No rclpy here: :func:`peoplesemseg_ros.core.images.fill_image` copies a :class:`RawFrame` into any
Image-shaped message (rclpy or rosbags).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.images import ImageFields

__all__ = [
    "BAD_RAW_REASONS",
    "RED",
    "RawFrame",
    "bad_raw",
    "good_raw",
    "good_rgb",
    "jpeg_bytes",
    "jpeg_declaring",
    "png_bytes",
    "png_declaring",
    "png_bomb",
    "red_truth",
]

RED: Final = (220, 30, 30)
# Rejection reasons a raw Image can be built to hit (one frame each), in soak rotation order.
BAD_RAW_REASONS: Final = ("unknown_encoding", "zero_size", "bad_step", "bad_length",
                          "too_large")


@dataclass(frozen=True)
class RawFrame(ImageFields):
    """The fields of a sensor_msgs/Image besides its header, and what the node must do."""

    reason: str = ""  # "" : a good frame; else the rejection reason it must be counted under


def good_rgb(width: int, height: int, index: int) -> NDArray[np.uint8]:
    """A gray frame with a red block whose position depends on ``index`` (known truth)."""
    img = np.full((height, width, 3), 90, np.uint8)
    bw, bh = max(1, width // 4), max(1, height // 3)
    x0 = (index * 7) % max(1, width - bw)
    y0 = (index * 3) % max(1, height - bh)
    img[y0:y0 + bh, x0:x0 + bw] = RED
    return img


def red_truth(rgb: NDArray[np.uint8], threshold: int = 64) -> NDArray[np.bool_]:
    """Pixels the tiny "red people" models call person (R - G > threshold)."""
    diff = rgb[..., 0].astype(np.int32) - rgb[..., 1].astype(np.int32)
    return np.asarray(diff > threshold)


def good_raw(width: int, height: int, index: int) -> RawFrame:
    rgb = good_rgb(width, height, index)
    return RawFrame(height, width, "rgb8", width * 3, rgb.tobytes())


def bad_raw(reason: str, width: int = 32, height: int = 24) -> RawFrame:
    """A frame that images.image_to_rgb rejects with exactly ``reason``."""
    row = width * 3
    if reason == "unknown_encoding":
        return RawFrame(height, width, "rgb7", row, bytes(row * height), reason=reason)
    if reason == "zero_size":
        return RawFrame(0, width, "rgb8", row, b"", reason=reason)
    if reason == "bad_step":
        return RawFrame(height, width, "rgb8", row - 1, bytes((row - 1) * height), reason=reason)
    if reason == "bad_length":
        return RawFrame(height, width, "rgb8", row, bytes(row * height - 1), reason=reason)
    if reason == "too_large":  # declares 2^31 pixels, carries a few bytes: never allocated
        return RawFrame(1 << 15, 1 << 16, "rgb8", 3 << 16, bytes(16), reason=reason)
    raise ValueError(f"no raw frame for reason {reason!r}; known: {', '.join(BAD_RAW_REASONS)}")


def jpeg_bytes(rgb: NDArray[np.uint8], quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return bytes(buf.tobytes())


def png_bytes(rgb: NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return bytes(buf.tobytes())


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, idat: bytes = b"") -> bytes:
    """A well-formed PNG header (valid CRCs) claiming ``width x height`` rgb8, then ``idat``."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
    if idat:
        out += _png_chunk(b"IDAT", idat)
    return out + _png_chunk(b"IEND", b"")


def png_bomb(width: int, height: int) -> bytes:
    """A complete, valid PNG of ``width x height`` black pixels: tiny file, huge decode."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width)  # filter byte + pixels
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return png_declaring(width, height, body)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real 16x16 baseline JPEG whose SOF0 is patched to claim ``width x height``."""
    data = bytearray(jpeg_bytes(np.zeros((16, 16, 3), np.uint8)))
    sof = data.find(b"\xff\xc0")
    if sof < 0:
        raise RuntimeError("OpenCV wrote a JPEG without a baseline SOF0 marker")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)
