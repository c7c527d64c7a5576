"""RGB images -> the model's input batch, in a preallocated buffer.

Presets (``value = pixel * scale + offset`` per channel, after color reordering):

``embedded``   uint8 RGB, untouched: the model normalizes in-graph (our embedded models).
``tao_unet``   BGR, ``x / 127.5 - 1`` (TAO U-Net training).
``isaac_ros``  RGB, ``x / 127.5 - 1`` i.e. [-1, 1] (Isaac ROS mean 0.5 / std 0.5).
``unit``       RGB, ``x / 255`` i.e. [0, 1].
``auto``       ``embedded`` for a uint8-input model, otherwise ``isaac_ros``: the
               float models this package expects are NVIDIA's PeopleSemSegNet
               exports, which Isaac ROS feeds as RGB in [-1, 1].

Overrides (``color_order``, ``scale``, ``offset``) replace the preset's values;
the layout (NHWC / NCHW) and dtype always come from the model. A uint8 model
accepts only identity scale / offset (it cannot take normalized values).

Resize modes: ``letterbox`` (keep aspect ratio, centered, pad 0; the model
card's "resize with padding") and ``stretch``. :class:`Geometry` records what
:mod:`peoplesemseg_ros.core.postprocess` needs to invert it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.backends.base import InputLayout, ModelIO

__all__ = [
    "COLOR_ORDERS",
    "PRESETS",
    "PRESET_NAMES",
    "RESIZE_MODES",
    "Geometry",
    "PreprocessSpec",
    "Preprocessor",
    "compute_geometry",
    "letterbox",
    "letterbox_into",
    "resolve_spec",
]

COLOR_ORDERS: Final = ("rgb", "bgr")
RESIZE_MODES: Final = ("letterbox", "stretch")


@dataclass(frozen=True)
class PreprocessSpec:
    """Color order and per-channel affine normalization ``x * scale + offset``."""

    name: str
    color_order: str = "rgb"
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def identity(self) -> bool:
        return self.scale == (1.0, 1.0, 1.0) and self.offset == (0.0, 0.0, 0.0)


_S: Final = 1.0 / 127.5
PRESETS: Final[dict[str, PreprocessSpec]] = {
    "embedded": PreprocessSpec("embedded"),
    "tao_unet": PreprocessSpec("tao_unet", "bgr", (_S, _S, _S), (-1.0, -1.0, -1.0)),
    "isaac_ros": PreprocessSpec("isaac_ros", "rgb", (_S, _S, _S), (-1.0, -1.0, -1.0)),
    "unit": PreprocessSpec("unit", "rgb", (1 / 255,) * 3, (0.0, 0.0, 0.0)),  # type: ignore[arg-type]
}
PRESET_NAMES: Final = ("auto", *PRESETS)


def _triple(values: Sequence[float], what: str) -> tuple[float, float, float]:
    if len(values) == 1:
        v = float(values[0])
        return (v, v, v)
    if len(values) == 3:
        return (float(values[0]), float(values[1]), float(values[2]))
    raise ValueError(f"preprocessing {what} needs 1 or 3 values, got {len(values)}")


def resolve_spec(preset: str, io: ModelIO, color_order: str = "",
                 scale: Sequence[float] = (), offset: Sequence[float] = ()) -> PreprocessSpec:
    """The effective spec for ``io``: preset (``auto`` resolved) plus overrides."""
    if preset == "auto":
        preset = "embedded" if io.takes_uint8 else "isaac_ros"
    try:
        spec = PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preprocessing preset {preset!r}; choose one of "
                         f"{', '.join(PRESET_NAMES)}") from None
    if color_order:
        if color_order not in COLOR_ORDERS:
            raise ValueError(f"color_order must be one of {COLOR_ORDERS}, got {color_order!r}")
        spec = replace(spec, color_order=color_order)
    if len(scale):
        spec = replace(spec, scale=_triple(scale, "scale"))
    if len(offset):
        spec = replace(spec, offset=_triple(offset, "offset"))
    if io.takes_uint8 and not spec.identity:
        raise ValueError(f"model input {io.input} is uint8 (it normalizes in-graph); preset "
                         f"{spec.name!r} scale {spec.scale} / offset {spec.offset} cannot apply: "
                         "use preprocessing 'embedded' or 'auto'")
    return spec


@dataclass(frozen=True)
class Geometry:
    """Where a source image landed in the model input (to invert the resize)."""

    src_height: int
    src_width: int
    top: int
    left: int
    inner_height: int
    inner_width: int


def compute_geometry(src_hw: tuple[int, int], dst_hw: tuple[int, int], mode: str) -> Geometry:
    h, w = src_hw
    dh, dw = dst_hw
    if mode == "stretch":
        return Geometry(h, w, 0, 0, dh, dw)
    if mode != "letterbox":
        raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {mode!r}")
    s = min(dh / h, dw / w)
    ih = min(dh, max(1, round(h * s)))
    iw = min(dw, max(1, round(w * s)))
    return Geometry(h, w, (dh - ih) // 2, (dw - iw) // 2, ih, iw)


def letterbox_into(dst: NDArray[np.uint8], image: NDArray[np.uint8], mode: str = "letterbox",
                   *, interpolation: int = cv2.INTER_LINEAR, fill: int = 0,
                   reverse_channels: bool = False) -> Geometry:
    """Resize ``image`` into the preallocated ``dst`` (HxW or HxWxC), the one letterbox.

    ``letterbox``: aspect kept, centred, the border set to ``fill``; ``stretch``: the
    whole of ``dst``. ``reverse_channels`` writes RGB as BGR. The resize goes straight
    into ``dst`` where OpenCV can (no temporary image). Used by the node's
    :class:`Preprocessor`, INT8 calibration and training (images linear, masks
    ``INTER_NEAREST`` with the ignore value as ``fill``).
    """
    g = compute_geometry((image.shape[0], image.shape[1]), (dst.shape[0], dst.shape[1]), mode)
    if g.top or g.left or (g.inner_height, g.inner_width) != dst.shape[:2]:
        dst[:g.top] = fill
        dst[g.top + g.inner_height:] = fill
        dst[:, :g.left] = fill
        dst[:, g.left + g.inner_width:] = fill
    region = dst[g.top:g.top + g.inner_height, g.left:g.left + g.inner_width]
    same = (g.inner_height, g.inner_width) == (g.src_height, g.src_width)
    if reverse_channels:
        resized = image if same else cv2.resize(image, (g.inner_width, g.inner_height),
                                                interpolation=interpolation)
        region[...] = resized[..., ::-1]
    elif same:
        region[...] = image
    else:
        out = cv2.resize(image, (g.inner_width, g.inner_height), dst=region,
                         interpolation=interpolation)
        if out is not region:  # OpenCV could not write into the view: copy its result
            region[...] = out
    return g


def letterbox(image: NDArray[np.uint8], height: int, width: int, *,
              interpolation: int = cv2.INTER_LINEAR, fill: int = 0) -> NDArray[np.uint8]:
    """:func:`letterbox_into` a new ``height`` x ``width`` array."""
    out = np.empty((height, width, *image.shape[2:]), np.uint8)
    letterbox_into(out, image, interpolation=interpolation, fill=fill)
    return out


class Preprocessor:
    """Fills a preallocated batch buffer in the model's dtype and layout.

    The uint8 NHWC staging buffer doubles as the model input for uint8 models;
    float models get a second buffer written in one pass per image.
    """

    def __init__(self, io: ModelIO, spec: PreprocessSpec, resize_mode: str = "letterbox",
                 max_batch: int = 1) -> None:
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.io = io
        self.spec = spec
        self.resize_mode = resize_mode
        self.max_batch = max_batch
        self.height, self.width = io.height, io.width
        self._staging = np.zeros((max_batch, self.height, self.width, 3), np.uint8)
        self._float: NDArray[np.floating] | None = None
        self._float_nhwc: NDArray[np.floating] | None = None
        if not io.takes_uint8:
            dtype = io.input_dtype
            if io.layout is InputLayout.NCHW:
                self._float = np.zeros((max_batch, 3, self.height, self.width), dtype)
                self._float_nhwc = self._float.transpose(0, 2, 3, 1)
            else:
                self._float = np.zeros((max_batch, self.height, self.width, 3), dtype)
                self._float_nhwc = self._float
        self._scale = np.asarray(spec.scale, np.float32)
        self._offset = np.asarray(spec.offset, np.float32)
        self._interp = cv2.INTER_LINEAR

    def _place(self, slot: int, image: NDArray[np.uint8]) -> Geometry:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGB HxWx3, got {image.dtype}{list(image.shape)}")
        # uint8 models get BGR written here; float models are reordered in prepare()
        bgr = self.spec.color_order == "bgr" and self._float is None
        return letterbox_into(self._staging[slot], image, self.resize_mode,
                              interpolation=self._interp, reverse_channels=bgr)

    def prepare(self, images: Sequence[NDArray[np.uint8]],
                pad_to: int | None = None) -> tuple[NDArray[np.generic], list[Geometry]]:
        """Images -> (batch view of ``pad_to or len(images)``, geometries).

        Slots past ``len(images)`` keep whatever they held (their output is ignored).
        The returned array is a view of the internal buffer: valid until the next call.
        """
        n = len(images)
        total = pad_to or n
        if not 1 <= n <= total <= self.max_batch:
            raise ValueError(f"batch of {n} (padded to {total}) outside 1..{self.max_batch}")
        geoms = [self._place(i, img) for i, img in enumerate(images)]
        if self._float is None:
            return self._staging[:total], geoms
        assert self._float_nhwc is not None
        src = self._staging[:n]
        if self.spec.color_order == "bgr":
            src = src[..., ::-1]
        out = self._float_nhwc[:n]
        np.multiply(src, self._scale, out=out, casting="unsafe")
        np.add(out, self._offset, out=out, casting="unsafe")
        return self._float[:total], geoms
