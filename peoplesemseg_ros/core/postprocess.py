"""Model class map -> mono8 mask at camera resolution; overlay.

The class map (uint8 ids at the model resolution, 1 = person) is cropped to the
letterbox's inner region, mapped to ``{0, mask_value}`` with a lookup table
(on the small map, before upscaling) and resized back to the source size with
nearest neighbour, so mask values stay exactly 0 / ``mask_value``.
"""

from __future__ import annotations

import functools
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.preprocess import Geometry

__all__ = ["DEFAULT_OVERLAY_COLOR", "PERSON_CLASS", "class_map_to_mask", "overlay"]

PERSON_CLASS: Final = 1
DEFAULT_OVERLAY_COLOR: Final = (255, 0, 255)


def _lut(mask_value: int) -> NDArray[np.uint8]:
    if not 1 <= mask_value <= 255:
        raise ValueError(f"mask_value must be in 1..255, got {mask_value}")
    lut = np.zeros(256, np.uint8)
    lut[PERSON_CLASS] = mask_value
    return lut


def class_map_to_mask(class_map: NDArray[np.uint8], geometry: Geometry,
                      mask_value: int = 255) -> NDArray[np.uint8]:
    """``HxW`` ids at model resolution -> ``src_height x src_width`` mono8 mask."""
    if class_map.ndim != 2:
        raise ValueError(f"class map must be HxW, got shape {list(class_map.shape)}")
    g = geometry
    inner = class_map[g.top:g.top + g.inner_height, g.left:g.left + g.inner_width]
    small = np.asarray(cv2.LUT(np.ascontiguousarray(inner, dtype=np.uint8), _lut(mask_value)),
                       dtype=np.uint8)
    if (g.inner_height, g.inner_width) == (g.src_height, g.src_width):
        return np.ascontiguousarray(small)
    return np.asarray(cv2.resize(small, (g.src_width, g.src_height),
                                 interpolation=cv2.INTER_NEAREST), dtype=np.uint8)


@functools.lru_cache(maxsize=16)
def _tint_lut(alpha: float, color: tuple[int, int, int]) -> NDArray[np.uint8]:
    """256x1x3 table: ``round((1-alpha)*v + alpha*color[c])`` per channel (float32 math)."""
    v = np.arange(256, dtype=np.float32)
    lut = np.empty((256, 1, 3), np.uint8)
    for c in range(3):
        t = v * np.float32(1.0 - alpha)
        t += np.float32(color[c]) * np.float32(alpha)
        lut[:, 0, c] = np.clip(t + 0.5, 0, 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def overlay(rgb: NDArray[np.uint8], mask: NDArray[np.uint8], alpha: float = 0.5,
            color: tuple[int, int, int] = DEFAULT_OVERLAY_COLOR) -> NDArray[np.uint8]:
    """A copy of ``rgb`` with mask pixels (> 0) tinted: ``(1-alpha)*rgb + alpha*color``.

    One table lookup and one masked copy (OpenCV), both only over the bounding box of
    the mask's nonzero pixels; no float pass.
    """
    if rgb.shape[:2] != mask.shape[:2]:
        raise ValueError(f"image {list(rgb.shape)} and mask {list(mask.shape)} differ in size")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out = rgb.copy()
    if alpha == 0.0:
        return out
    sel = np.ascontiguousarray(mask if mask.dtype == np.uint8 else
                               np.not_equal(mask, 0).view(np.uint8))
    x, y, w, h = cv2.boundingRect(sel)
    if w == 0 or h == 0:
        return out
    lut = _tint_lut(float(alpha), (int(color[0]), int(color[1]), int(color[2])))
    tinted = cv2.LUT(rgb[y:y + h, x:x + w], lut)
    cv2.copyTo(tinted, sel[y:y + h, x:x + w], out[y:y + h, x:x + w])
    return out
