"""Preprocessing presets and the letterbox round trip."""

from __future__ import annotations

import numpy as np
import pytest

from peoplesemseg_ros.core.backends.base import InputLayout, ModelIO, OutputKind, TensorInfo
from peoplesemseg_ros.core.postprocess import class_map_to_mask
from peoplesemseg_ros.core.preprocess import Preprocessor, compute_geometry, resolve_spec


def _io(dtype: str, layout: InputLayout = InputLayout.NHWC, h: int = 544,
        w: int = 960) -> ModelIO:
    shape = (None, h, w, 3) if layout is InputLayout.NHWC else (None, 3, h, w)
    return ModelIO(TensorInfo("x", shape, np.dtype(dtype)), TensorInfo("y", (None, h, w),
                   np.dtype("uint8")), layout, h, w, OutputKind.CLASS_IDS, None)


def test_auto_preset_follows_the_model_dtype() -> None:
    assert resolve_spec("auto", _io("uint8")).name == "embedded"
    assert resolve_spec("auto", _io("float32")).name == "isaac_ros"
    with pytest.raises(ValueError, match="unknown preprocessing preset 'nope'"):
        resolve_spec("nope", _io("float32"))


@pytest.mark.parametrize(("preset", "layout", "pixel", "expected"), [
    ("tao_unet", InputLayout.NCHW, (255, 0, 51), (51 / 127.5 - 1, -1.0, 1.0)),  # BGR order
    ("isaac_ros", InputLayout.NHWC, (255, 0, 51), (1.0, -1.0, 51 / 127.5 - 1)),
    ("unit", InputLayout.NCHW, (255, 0, 51), (1.0, 0.0, 0.2)),
])
def test_presets_produce_exact_values(preset: str, layout: InputLayout,
                                      pixel: tuple[int, int, int],
                                      expected: tuple[float, float, float]) -> None:
    io = _io("float32", layout, 4, 6)
    pre = Preprocessor(io, resolve_spec(preset, io), "stretch")
    img = np.empty((4, 6, 3), np.uint8)
    img[:] = pixel
    batch, _ = pre.prepare([img])
    chans = batch[0] if layout is InputLayout.NCHW else batch[0].transpose(2, 0, 1)
    for c, value in enumerate(expected):
        np.testing.assert_allclose(chans[c], value, rtol=1e-6, atol=1e-6)


def test_overrides_replace_the_preset() -> None:
    io = _io("float32", InputLayout.NHWC, 2, 2)
    spec = resolve_spec("unit", io, color_order="bgr", scale=[2.0], offset=[1, 2, 3])
    assert spec.color_order == "bgr" and spec.scale == (2.0, 2.0, 2.0)
    batch, _ = Preprocessor(io, spec, "stretch").prepare([np.full((2, 2, 3), 10, np.uint8)])
    np.testing.assert_allclose(batch[0, 0, 0], [21, 22, 23])
    with pytest.raises(ValueError, match="1 or 3 values"):
        resolve_spec("unit", io, scale=[1, 2])


def test_letterbox_geometry_is_centred() -> None:
    g = compute_geometry((1080, 1920), (544, 960), "letterbox")
    assert (g.inner_height, g.inner_width, g.top, g.left) == (540, 960, 2, 0)
    g = compute_geometry((480, 480), (544, 960), "letterbox")
    assert (g.inner_height, g.inner_width, g.top, g.left) == (544, 544, 0, 208)
    g = compute_geometry((100, 50), (544, 960), "stretch")
    assert (g.inner_height, g.inner_width, g.top, g.left) == (544, 960, 0, 0)


@pytest.mark.parametrize(("h", "w"), [(544, 960), (1080, 1920), (480, 640), (600, 300),
                                      (720, 1280), (97, 1001), (1000, 333)])
@pytest.mark.parametrize("mode", ["letterbox", "stretch"])
def test_letterbox_round_trip_within_one_pixel(h: int, w: int, mode: str) -> None:
    """A rectangle mask -> model input (letterboxed) -> identity "model" -> back."""
    io = _io("uint8")
    pre = Preprocessor(io, resolve_spec("embedded", io), mode)
    top, bottom, left, right = h // 5, h * 3 // 4, w // 3, w * 5 // 6
    img = np.zeros((h, w, 3), np.uint8)
    img[top:bottom, left:right] = 255
    batch, (geom,) = pre.prepare([img])
    # the "model": bright is person
    class_map = (np.asarray(batch[0, ..., 0], np.uint8) > 127).astype(np.uint8)
    mask = class_map_to_mask(class_map, geom, 255)
    assert mask.shape == (h, w)
    ys, xs = np.nonzero(mask)
    # Each edge within one source pixel after the resize there and back (plus the model
    # pixel's footprint in source pixels when downscaling).
    tol_y = max(1.0, h / geom.inner_height)
    tol_x = max(1.0, w / geom.inner_width)
    assert abs(ys.min() - top) <= tol_y and abs(ys.max() - (bottom - 1)) <= tol_y
    assert abs(xs.min() - left) <= tol_x and abs(xs.max() - (right - 1)) <= tol_x
    if mode == "letterbox":  # the padding is black
        assert (batch[0, : geom.top] == 0).all() and (batch[0, :, : geom.left] == 0).all()


def test_padding_is_cleared_between_sizes() -> None:
    io = _io("uint8", h=8, w=8)
    pre = Preprocessor(io, resolve_spec("auto", io), "letterbox")
    pre.prepare([np.full((8, 8, 3), 200, np.uint8)])
    batch, (g,) = pre.prepare([np.full((4, 8, 3), 100, np.uint8)])
    assert (g.top, g.inner_height) == (2, 4)
    assert (batch[0, :2] == 0).all() and (batch[0, 6:] == 0).all() and (batch[0, 2:6] == 100).all()


def test_batch_bounds() -> None:
    io = _io("uint8", h=8, w=8)
    pre = Preprocessor(io, resolve_spec("auto", io), max_batch=2)
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="outside"):
        pre.prepare([img] * 3)
    with pytest.raises(ValueError, match="uint8 RGB"):
        pre.prepare([img[..., 0]])
