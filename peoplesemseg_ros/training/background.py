"""People-free training windows cut from the backgrounds of labelled images.

The shared data's people-free images are few and narrow (50 CamVid street frames, 125
DTD texture close-ups), while its labelled images hold many scenes around their people:
kitchens, shops, streets, parks. ``--background P`` replaces a training window, with
probability P, by a window of the same image that holds no person pixel, none within
a margin of one (outlines are coarse), and little ignore; the augmentation then scales
it to the training size like any image. The network so sees whole frames of real
scenery with nobody in them, at the scale a far-away wall or a close-up object has.

Only sources whose every person is labelled give windows: ``ccp`` labels only the main
person (the data README counts unlabelled background people in half its photos), so it
is excluded; COCO crowd regions are ignore (255) and count against a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["INCOMPLETE_LABEL_SOURCES", "BackgroundConfig", "background_window"]

# sources that leave people unlabelled: a "person-free" window of theirs may hold one
INCOMPLETE_LABEL_SOURCES = frozenset({"ccp"})


@dataclass(frozen=True)
class BackgroundConfig:
    p: float = 0.0  # probability per training window
    min_side: float = 0.3  # window side as a share of the image's
    max_side: float = 0.7
    margin: float = 0.04  # keep-out around people, a share of the image's longer side
    max_ignore: float = 0.05  # largest share of ignore pixels a window may hold
    tries: int = 12

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"background probability must be in [0, 1], got {self.p}")
        if not 0.0 < self.min_side <= self.max_side <= 1.0:
            raise ValueError("background window sides must satisfy 0 < min <= max <= 1")


def _table(values: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Summed-area table with a zero first row and column."""
    out = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.int64)
    out[1:, 1:] = values.cumsum(0, dtype=np.int64).cumsum(1)
    return out


def _count(table: NDArray[np.int64], y: int, x: int, h: int, w: int) -> int:
    return int(table[y + h, x + w] - table[y, x + w] - table[y + h, x] + table[y, x])


def background_window(image: NDArray[np.uint8], mask: NDArray[np.uint8],
                      rng: np.random.Generator, config: BackgroundConfig
                      ) -> tuple[NDArray[np.uint8], NDArray[np.uint8]] | None:
    """A window (image, all-zero mask) of ``image`` with nobody in it, or ``None`` when
    ``config.tries`` random windows all touch a person or hold too much ignore."""
    h, w = mask.shape
    person = mask == 1
    if person.any():
        r = max(1, round(config.margin * max(h, w)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        person = cv2.dilate(person.astype(np.uint8), kernel) > 0
    near, ignore = _table(person), _table(mask == 255)
    for _ in range(config.tries):
        side = float(rng.uniform(config.min_side, config.max_side))
        wh, ww = max(16, int(h * side)), max(16, int(w * side))
        if wh > h or ww > w:
            continue
        y, x = int(rng.integers(0, h - wh + 1)), int(rng.integers(0, w - ww + 1))
        if _count(near, y, x, wh, ww):
            continue
        if _count(ignore, y, x, wh, ww) > config.max_ignore * wh * ww:
            continue
        crop = mask[y:y + wh, x:x + ww].copy()
        crop[crop != 255] = 0
        return np.ascontiguousarray(image[y:y + wh, x:x + ww]), crop
    return None
