"""Class map -> mask, and the overlay."""

from __future__ import annotations

import numpy as np
import pytest

from peoplesemseg_ros.core.postprocess import class_map_to_mask, overlay
from peoplesemseg_ros.core.preprocess import Geometry


def test_mask_values_are_exact_and_other_classes_are_background() -> None:
    ids = np.array([[0, 1, 2], [1, 1, 0]], np.uint8)
    mask = class_map_to_mask(ids, Geometry(2, 3, 0, 0, 2, 3), mask_value=7)
    np.testing.assert_array_equal(mask, [[0, 7, 0], [7, 7, 0]])
    with pytest.raises(ValueError, match="mask_value"):
        class_map_to_mask(ids, Geometry(2, 3, 0, 0, 2, 3), mask_value=0)


def test_crop_and_nearest_upscale() -> None:
    ids = np.zeros((4, 4), np.uint8)
    ids[1:3, :] = [[0, 1, 1, 0], [0, 0, 1, 0]]  # inner 2x4 band at top=1
    mask = class_map_to_mask(ids, Geometry(4, 8, 1, 0, 2, 4))
    assert mask.shape == (4, 8)
    np.testing.assert_array_equal(mask[:2], np.repeat(np.repeat([[0, 255, 255, 0]], 2, 0), 2, 1))
    np.testing.assert_array_equal(mask[2:], np.repeat(np.repeat([[0, 0, 255, 0]], 2, 0), 2, 1))


def test_overlay_tints_only_the_mask() -> None:
    rgb = np.full((2, 2, 3), 100, np.uint8)
    mask = np.array([[0, 255], [0, 0]], np.uint8)
    out = overlay(rgb, mask, alpha=0.5, color=(200, 0, 100))
    np.testing.assert_array_equal(out[0, 1], [150, 50, 100])
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])
    assert rgb[0, 1, 0] == 100  # input untouched
    np.testing.assert_array_equal(overlay(rgb, mask, alpha=0.0), rgb)
    with pytest.raises(ValueError, match="differ"):
        overlay(rgb, mask[:1], 0.5)
