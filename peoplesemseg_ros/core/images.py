"""sensor_msgs Image / CompressedImage <-> numpy, without rclpy.

Everything here is duck-typed: it works on rclpy messages (``msg.data`` is an
``array.array`` or ``bytes``) and on rosbags message dataclasses (``msg.data``
is a numpy array) alike. Input is validated (encoding, step, data length, size
cap) *before* any pixel is touched; every failure raises
:class:`ImageConversionError` whose ``.reason`` is a short machine-readable
string used as a diagnostics counter key:

``unknown_encoding``, ``zero_size``, ``bad_step``, ``bad_length``,
``too_large``, ``unsupported_format``, ``corrupt``.

Output helpers return plain ``bytes`` for ``msg.data`` (assigning an ndarray to
an rclpy message field is thousands of times slower).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray
from rosbags.image.image import convert_color

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_ENCODINGS",
    "ImageConversionError",
    "ImageFields",
    "check_compressed",
    "check_image",
    "compressed_to_rgb",
    "fill_image",
    "image_msg",
    "image_to_rgb",
    "read_rgb",
    "write_rgb",
    "mask_to_image_fields",
    "rgb_to_image_fields",
]

DEFAULT_MAX_PIXELS: Final = 4096 * 4096

# encoding -> (bytes per pixel as a multiple of width (numerator, denominator), dtype, channels)
# yuv422 packs 2 pixels in 4 bytes: 2 bytes per pixel.
_ENC: Final[dict[str, tuple[int, str, int]]] = {
    "rgb8": (3, "uint8", 3),
    "bgr8": (3, "uint8", 3),
    "rgba8": (4, "uint8", 4),
    "bgra8": (4, "uint8", 4),
    "mono8": (1, "uint8", 1),
    "8UC1": (1, "uint8", 1),
    "8UC3": (3, "uint8", 3),  # treated as bgr8 (OpenCV's convention)
    "mono16": (2, "uint16", 1),
    "16UC1": (2, "uint16", 1),
    "yuv422": (2, "uint8", 2),
    "uyvy": (2, "uint8", 2),
    "yuv422_yuy2": (2, "uint8", 2),
    "yuyv": (2, "uint8", 2),
    "bayer_rggb8": (1, "uint8", 1),
    "bayer_bggr8": (1, "uint8", 1),
    "bayer_gbrg8": (1, "uint8", 1),
    "bayer_grbg8": (1, "uint8", 1),
    "bayer_rggb16": (2, "uint16", 1),
    "bayer_bggr16": (2, "uint16", 1),
    "bayer_gbrg16": (2, "uint16", 1),
    "bayer_grbg16": (2, "uint16", 1),
}
SUPPORTED_ENCODINGS: Final = tuple(sorted(_ENC))
_YUV: Final = {"yuv422", "uyvy", "yuv422_yuy2", "yuyv"}


class ImageConversionError(ValueError):
    """A message that cannot be turned into an RGB image; ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _check_size(height: int, width: int, max_pixels: int) -> None:
    if height <= 0 or width <= 0:
        raise ImageConversionError("zero_size", f"image is {width}x{height}")
    if height * width > max_pixels:
        raise ImageConversionError(
            "too_large", f"{width}x{height} = {height * width} pixels > cap {max_pixels}")


def _cvt(pix: NDArray[Any], code: int) -> NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(pix), code), dtype=np.uint8)


def _buffer(data: Any) -> NDArray[np.uint8]:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def check_image(msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Validate an Image's fields without touching a pixel (O(1); cheap enough for a callback).

    Raises :class:`ImageConversionError` exactly as :func:`image_to_rgb` would for
    ``unknown_encoding``, ``zero_size``, ``too_large``, ``bad_step`` and ``bad_length``.
    """
    encoding = str(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    try:
        bpp = _ENC[encoding][0]
    except KeyError:
        raise ImageConversionError(
            "unknown_encoding",
            f"encoding {encoding!r} is not one of {', '.join(SUPPORTED_ENCODINGS)}") from None
    _check_size(height, width, max_pixels)
    if encoding in _YUV and width % 2:
        raise ImageConversionError("bad_step", f"{encoding} needs an even width, got {width}")
    row = width * bpp
    if step < row:
        raise ImageConversionError("bad_step", f"step {step} < width*{bpp} = {row}")
    size = _buffer(msg.data).size
    if size != step * height:
        raise ImageConversionError(
            "bad_length", f"data has {size} bytes, step*height = {step * height}")


def image_to_rgb(msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> NDArray[np.uint8]:
    """sensor_msgs/Image -> uint8 RGB ``HxWx3`` (a fresh, C-contiguous array).

    16-bit encodings are scaled to 8 bits (top byte); mono is replicated to 3
    channels; yuv422 (UYVY) / yuv422_yuy2 (YUYV) and Bayer are converted with
    OpenCV (through rosbags-image's conversion table for the Bayer patterns).
    """
    check_image(msg, max_pixels)
    encoding = str(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    bpp, dtype_name, channels = _ENC[encoding]
    row = width * bpp
    raw = _buffer(msg.data)
    rows = raw.reshape(height, step)
    if step != row:
        rows = rows[:, :row]
    dtype = np.dtype(dtype_name)
    if dtype.itemsize == 2:
        flat = np.ascontiguousarray(rows).view(np.uint16)
        big = bool(getattr(msg, "is_bigendian", False))
        if big != (sys.byteorder == "big"):
            flat = flat.byteswap()
        pix: NDArray[Any] = flat.reshape(height, width) if channels == 1 else flat
    else:
        pix = rows.reshape(height, width, channels) if channels > 1 else rows
    if encoding in ("rgb8",):
        return np.ascontiguousarray(pix)
    if encoding in ("bgr8", "8UC3"):
        return _cvt(pix, cv2.COLOR_BGR2RGB)
    if encoding == "rgba8":
        return _cvt(pix, cv2.COLOR_RGBA2RGB)
    if encoding == "bgra8":
        return _cvt(pix, cv2.COLOR_BGRA2RGB)
    if encoding in ("mono8", "8UC1"):
        return _cvt(pix, cv2.COLOR_GRAY2RGB)
    if encoding in ("mono16", "16UC1"):
        return _cvt((pix >> 8).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    if encoding in ("yuv422", "uyvy"):
        return _cvt(pix, cv2.COLOR_YUV2RGB_UYVY)
    if encoding in ("yuv422_yuy2", "yuyv"):
        return _cvt(pix, cv2.COLOR_YUV2RGB_YUYV)
    # Bayer: rosbags-image knows OpenCV's shifted pattern naming.
    if dtype.itemsize == 2:
        pix = (pix >> 8).astype(np.uint8)
        encoding = encoding[:-2] + "8"
    rgb: NDArray[np.uint8] = np.ascontiguousarray(
        convert_color(np.ascontiguousarray(pix), encoding, "rgb8"), dtype=np.uint8)
    return rgb


def check_compressed(msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Validate a CompressedImage's format, size and declared (header) pixel count, cheaply.

    Raises ``unsupported_format``, ``zero_size`` or ``too_large`` as
    :func:`compressed_to_rgb` would; a corrupt payload is only found by decoding.
    """
    fmt = str(getattr(msg, "format", "")).lower()
    if "compresseddepth" in fmt or (fmt and not any(k in fmt for k in ("jpeg", "jpg", "png"))):
        raise ImageConversionError("unsupported_format",
                                   f"format {fmt!r}: only jpeg and png are supported")
    raw = _buffer(msg.data)
    if raw.size == 0:
        raise ImageConversionError("zero_size", "empty compressed data")
    declared = _declared_size(raw[:_HEADER_SCAN].tobytes())
    if declared is not None and declared[0] * declared[1] > max_pixels:
        # refuse from the header: decoding would allocate the declared size first
        _check_size(declared[1], declared[0], max_pixels)


def compressed_to_rgb(msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> NDArray[np.uint8]:
    """sensor_msgs/CompressedImage (jpeg / png) -> uint8 RGB ``HxWx3``.

    ``format`` may be a bare ``jpeg`` / ``png`` or image_transport's
    ``"bgr8; jpeg compressed bgr8"`` form; compressedDepth is refused.
    """
    check_compressed(msg, max_pixels)
    fmt = str(getattr(msg, "format", "")).lower()
    raw = _buffer(msg.data)
    try:
        bgr = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV asserts on sizes beyond its own limits
        raise ImageConversionError("corrupt", f"{raw.size} bytes do not decode as "
                                   f"{fmt or 'image'}: {str(exc).strip()[-160:]}") from exc
    if bgr is None or bgr.size == 0:
        raise ImageConversionError("corrupt", f"{raw.size} bytes do not decode as {fmt or 'image'}")
    _check_size(int(bgr.shape[0]), int(bgr.shape[1]), max_pixels)
    return _cvt(bgr, cv2.COLOR_BGR2RGB)


_HEADER_SCAN: Final = 1 << 16
_JPEG_SOF: Final = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                              0xCE, 0xCF})


def _declared_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) a PNG IHDR or JPEG SOF header declares; None when not found."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24 and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        if marker in _JPEG_SOF:
            if i + 9 > len(head):
                return None
            return int.from_bytes(head[i + 7:i + 9], "big"), int.from_bytes(head[i + 5:i + 7],
                                                                            "big")
        i += 2 + int.from_bytes(head[i + 2:i + 4], "big")
    return None


def read_rgb(path: Any) -> NDArray[np.uint8] | None:
    """An image file as uint8 RGB ``HxWx3``; None when it cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else _cvt(bgr, cv2.COLOR_BGR2RGB)


def write_rgb(path: Any, rgb: NDArray[np.uint8]) -> bool:
    """Write an RGB image (PNG/JPEG by extension); False on failure."""
    return bool(cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)))


@dataclass(frozen=True)
class ImageFields:
    """What a sensor_msgs/Image needs besides its header."""

    height: int
    width: int
    encoding: str
    step: int
    data: bytes
    is_bigendian: int = 0


def mask_to_image_fields(mask: NDArray[np.uint8]) -> ImageFields:
    """mono8 ``HxW`` mask -> Image fields (``data`` as bytes)."""
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"mask must be uint8 HxW, got {mask.dtype}{list(mask.shape)}")
    h, w = mask.shape
    return ImageFields(int(h), int(w), "mono8", int(w), np.ascontiguousarray(mask).tobytes())


def rgb_to_image_fields(rgb: NDArray[np.uint8]) -> ImageFields:
    """rgb8 ``HxWx3`` image -> Image fields (``data`` as bytes)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8 HxWx3, got {rgb.dtype}{list(rgb.shape)}")
    h, w = rgb.shape[:2]
    return ImageFields(int(h), int(w), "rgb8", int(w) * 3, np.ascontiguousarray(rgb).tobytes())


def _values(fields: ImageFields, rosbags: bool) -> dict[str, Any]:
    # rclpy takes bytes for uint8[] (fast path); rosbags wants a uint8 array (no copy here)
    data: Any = np.frombuffer(fields.data, np.uint8) if rosbags else fields.data
    return {"height": fields.height, "width": fields.width, "encoding": fields.encoding,
            "is_bigendian": fields.is_bigendian, "step": fields.step, "data": data}


def fill_image(msg: Any, fields: ImageFields) -> Any:
    """Copy ``fields`` into an Image message (rclpy or rosbags); returns ``msg``."""
    for name, value in _values(fields, dataclasses.is_dataclass(msg)).items():
        setattr(msg, name, value)
    return msg


def image_msg(cls: type, header: Any, fields: ImageFields) -> Any:
    """A new Image of ``cls`` (rclpy, or a rosbags dataclass that needs every field at
    construction) with ``header`` and ``fields``."""
    make: Any = cls
    if dataclasses.is_dataclass(cls):
        return make(header=header, **_values(fields, rosbags=True))
    msg = fill_image(make(), fields)
    msg.header = header
    return msg
