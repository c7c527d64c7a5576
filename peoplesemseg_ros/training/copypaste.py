"""Copy-paste augmentation: masked people pasted into a training window.

A :class:`PersonBank` indexes the training samples whose masks hold a person
large enough to cut out (their person bounding box). :func:`paste_people`
pastes one to a few of them into an already augmented window at many scales,
most of them small and far (10-60 px tall, as a low robot camera sees
pedestrians), with their feet on the lower part of the frame, a random flip,
a brightness change and a soft edge. The mask becomes 1 under the pasted
person (it occludes whatever was there, ignore included). On people-free
backgrounds (textures, empty streets) this teaches "a person on a wall is a
person, the wall is not".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["PasteConfig", "PersonBank", "paste_people"]

Image = NDArray[np.uint8]
Loader = Callable[[int], tuple[Image, Image]]


@dataclass(frozen=True)
class PasteConfig:
    p: float = 0.5  # probability of pasting into a window that has people
    p_negative: float = 0.8  # ... into a people-free window
    max_people: int = 3
    small_share: float = 0.6  # share of pasted people 10-60 px tall
    min_height_px: int = 10
    max_height_frac: float = 0.85  # of the window height


@dataclass(frozen=True)
class _Donor:
    index: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the person pixels


class PersonBank:
    """Samples usable as donors: a person box of at least ``min_box`` pixels a side."""

    def __init__(self, masks: Sequence[Image | None], *, min_box: int = 48) -> None:
        donors: list[_Donor] = []
        for index, mask in enumerate(masks):
            if mask is None:
                continue
            ys, xs = np.nonzero(mask == 1)
            if ys.size < min_box * min_box // 4:
                continue
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            if box[2] - box[0] >= min_box // 2 and box[3] - box[1] >= min_box:
                donors.append(_Donor(index, box))
        self.donors = donors

    def __len__(self) -> int:
        return len(self.donors)


def _target_height(rng: np.random.Generator, cfg: PasteConfig, window_h: int) -> int:
    hi = max(cfg.min_height_px + 1, int(cfg.max_height_frac * window_h))
    if rng.random() < cfg.small_share:
        lo, top = cfg.min_height_px, min(60, hi)
    else:
        lo, top = min(60, hi - 1), hi
    return int(np.exp(rng.uniform(np.log(lo), np.log(max(lo + 1, top)))))


def paste_people(image: Image, mask: Image, bank: PersonBank, load: Loader,
                 rng: np.random.Generator, cfg: PasteConfig, *, exclude: int = -1) -> None:
    """Paste up to ``cfg.max_people`` people into ``image`` / ``mask`` in place."""
    if not len(bank):
        return
    has_people = bool((mask == 1).any())
    if rng.random() >= (cfg.p if has_people else cfg.p_negative):
        return
    h, w = mask.shape
    for _ in range(int(rng.integers(1, cfg.max_people + 1))):
        donor = bank.donors[int(rng.integers(len(bank)))]
        if donor.index == exclude:
            continue
        src, src_mask = load(donor.index)
        x0, y0, x1, y1 = donor.box
        crop = src[y0:y1, x0:x1]
        alpha = (src_mask[y0:y1, x0:x1] == 1).astype(np.float32)
        th = _target_height(rng, cfg, h)
        scale = th / crop.shape[0]
        tw = max(2, round(crop.shape[1] * scale))
        if tw >= w or th >= h or th < 2:
            continue
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        crop = np.asarray(cv2.resize(crop, (tw, th), interpolation=interp), dtype=np.uint8)
        alpha = cv2.resize(alpha, (tw, th), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            crop, alpha = crop[:, ::-1], alpha[:, ::-1]
        # feet on the lower part of the frame (the floor a low camera sees)
        foot = int(rng.uniform(max(th, 0.45 * h), h + 0.1 * th))
        top = min(h - th, max(0, foot - th))
        left = int(rng.integers(0, w - tw + 1))
        region = image[top:top + th, left:left + tw].astype(np.float32)
        a = cv2.GaussianBlur(alpha, (3, 3), 0)[..., None] if min(th, tw) > 8 else alpha[..., None]
        person = crop.astype(np.float32) * float(rng.uniform(0.6, 1.25))
        blended = person * a + region * (1.0 - a)
        image[top:top + th, left:left + tw] = np.clip(blended, 0, 255).astype(np.uint8)
        mask[top:top + th, left:left + tw][alpha >= 0.5] = 1
