"""images.py on real rclpy messages and rosbags dataclasses: encodings and bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CompressedImage, Image

from peoplesemseg_ros.core.images import (
    ImageConversionError,
    compressed_to_rgb,
    fill_image,
    image_to_rgb,
    mask_to_image_fields,
    rgb_to_image_fields,
)

RNG = np.random.default_rng(1)
RGB = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


def _msg(arr: np.ndarray, encoding: str, step: int | None = None, pad: int = 0) -> Image:
    h, w = arr.shape[:2]
    row = arr.reshape(h, -1)
    if pad:
        row = np.hstack([row, np.full((h, pad), 7, np.uint8)])
    m = Image()
    m.height, m.width, m.encoding = h, w, encoding
    m.step = step if step is not None else row.shape[1]
    m.data = row.tobytes()
    return m


@pytest.mark.parametrize(("encoding", "make"), [
    ("rgb8", lambda x: x),
    ("bgr8", lambda x: x[..., ::-1]),
    ("rgba8", lambda x: np.dstack([x, np.full(x.shape[:2], 9, np.uint8)])),
    ("bgra8", lambda x: np.dstack([x[..., ::-1], np.full(x.shape[:2], 9, np.uint8)])),
])
def test_color_encodings_exact(encoding: str, make: object) -> None:
    arr = np.ascontiguousarray(make(RGB))  # type: ignore[operator]
    out = image_to_rgb(_msg(arr, encoding))
    np.testing.assert_array_equal(out, RGB)
    # padded rows (step > width * bpp) are honoured
    out = image_to_rgb(_msg(arr, encoding, pad=5))
    np.testing.assert_array_equal(out, RGB)


def test_mono_encodings() -> None:
    g = RGB[..., 0].copy()
    np.testing.assert_array_equal(image_to_rgb(_msg(g, "mono8")), np.dstack([g, g, g]))
    g16 = g.astype(np.uint16) * 257
    m = _msg(g16.view(np.uint8).reshape(6, 16), "mono16")
    m.width = 8
    np.testing.assert_array_equal(image_to_rgb(m), np.dstack([g, g, g]))
    big = _msg(g16.byteswap().view(np.uint8).reshape(6, 16), "mono16")
    big.width, big.is_bigendian = 8, 1
    np.testing.assert_array_equal(image_to_rgb(big), np.dstack([g, g, g]))


def test_yuv_and_bayer_match_opencv() -> None:
    uyvy = RNG.integers(0, 256, (6, 16), dtype=np.uint8)
    m = _msg(uyvy, "yuv422")
    m.width, m.step = 8, 16
    ref = cv2.cvtColor(uyvy.reshape(6, 8, 2), cv2.COLOR_YUV2RGB_UYVY)
    np.testing.assert_array_equal(image_to_rgb(m), ref)
    m.encoding = "yuv422_yuy2"
    ref = cv2.cvtColor(uyvy.reshape(6, 8, 2), cv2.COLOR_YUV2RGB_YUYV)
    np.testing.assert_array_equal(image_to_rgb(m), ref)
    # A flat-colored scene seen through an RGGB mosaic comes back as that color.
    raw = np.zeros((8, 8), np.uint8)
    raw[0::2, 0::2] = 200  # R
    raw[0::2, 1::2] = 100  # G
    raw[1::2, 0::2] = 100  # G
    raw[1::2, 1::2] = 50  # B
    out = image_to_rgb(_msg(raw, "bayer_rggb8"))
    np.testing.assert_allclose(out[2:6, 2:6].reshape(-1, 3).mean(0), [200, 100, 50], atol=1)


def test_rosbags_dataclass_is_accepted() -> None:
    ts = get_typestore(Stores.LATEST)
    img_t = ts.types["sensor_msgs/msg/Image"]
    hdr = ts.types["std_msgs/msg/Header"](
        stamp=ts.types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="cam")
    msg = img_t(header=hdr, height=6, width=8, encoding="bgr8", is_bigendian=0, step=24,
                data=np.ascontiguousarray(RGB[..., ::-1]).reshape(-1))
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda m: setattr(m, "encoding", "weird42"), "unknown_encoding"),
    (lambda m: setattr(m, "data", m.data[:-1]), "bad_length"),
    (lambda m: setattr(m, "step", 3), "bad_step"),
    (lambda m: m.__setattr__("height", 0) or m.__setattr__("data", b""), "zero_size"),
])
def test_bad_images_raise_with_reason(mutate: object, reason: str) -> None:
    m = _msg(RGB, "rgb8")
    mutate(m)  # type: ignore[operator]
    with pytest.raises(ImageConversionError) as err:
        image_to_rgb(m)
    assert err.value.reason == reason


def test_pixel_cap() -> None:
    with pytest.raises(ImageConversionError) as err:
        image_to_rgb(_msg(RGB, "rgb8"), max_pixels=47)
    assert err.value.reason == "too_large"
    assert image_to_rgb(_msg(RGB, "rgb8"), max_pixels=48).shape == (6, 8, 3)


def test_compressed_png_exact_and_jpeg_close() -> None:
    for fmt, ext in (("png", ".png"), ("rgb8; jpeg compressed bgr8", ".jpg")):
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(RGB[..., ::-1]))
        assert ok
        m = CompressedImage()
        m.format = fmt
        m.data = buf.tobytes()
        out = compressed_to_rgb(m)
        assert out.shape == RGB.shape
        if ext == ".png":
            np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize(("fmt", "data", "reason"), [
    ("jpeg", b"\xff\xd8\xff\xe0garbage", "corrupt"),
    ("jpeg", b"", "zero_size"),
    ("16UC1; compressedDepth", b"abc", "unsupported_format"),
])
def test_bad_compressed(fmt: str, data: bytes, reason: str) -> None:
    m = CompressedImage()
    m.format = fmt
    m.data = data
    with pytest.raises(ImageConversionError) as err:
        compressed_to_rgb(m)
    assert err.value.reason == reason


def test_output_fields_fill_an_rclpy_image() -> None:
    mask = (RGB[..., 0] > 128).astype(np.uint8) * 255
    out = fill_image(Image(), mask_to_image_fields(mask))
    assert (out.height, out.width, out.encoding, out.step) == (6, 8, "mono8", 8)
    np.testing.assert_array_equal(np.frombuffer(out.data, np.uint8).reshape(6, 8), mask)
    back = fill_image(Image(), rgb_to_image_fields(RGB))
    np.testing.assert_array_equal(image_to_rgb(back), RGB)
    with pytest.raises(ValueError, match="uint8 HxW"):
        mask_to_image_fields(RGB)
