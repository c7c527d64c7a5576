"""Joint image / mask augmentation (numpy + OpenCV, no torch).

Every transform takes and returns ``(image, mask)`` with ``image`` uint8 RGB
HxWx3 and ``mask`` uint8 HxW holding 0 background, 1 person, 255 ignore. The
geometric part is one affine warp (letterbox at a random scale, shift, small
roll as from a low, tilted camera, flip) so image and mask stay aligned
exactly; photometric parts touch the image only, except cut-out occlusion,
which hides people behind an occluder and so clears the mask there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.preprocess import letterbox

__all__ = ["AugmentConfig", "IGNORE", "augment", "letterbox_pair", "turn_people_hue"]

IGNORE = 255
Image = NDArray[np.uint8]


@dataclass(frozen=True)
class AugmentConfig:
    scale_min: float = 0.45  # < 1: letterboxed smaller (small, far people)
    scale_max: float = 1.6  # > 1: zoomed in and cropped
    max_roll_deg: float = 8.0
    flip_p: float = 0.5
    jitter_p: float = 0.8
    dark_p: float = 0.2
    low_contrast_p: float = 0.15
    gray_p: float = 0.08
    blur_p: float = 0.2
    cutout_p: float = 0.3
    noise_p: float = 0.2
    # colour as a shortcut: the training people wear many red clothes, so red things
    # became people on unseen scenes. hue_p rotates every hue of the window; recolour_p
    # paints 1-3 soft blobs of background (never person) in saturated, mostly red hues;
    # person_hue_p gives the people alone a random hue (their clothes in any colour,
    # the background as it was), so a colour says nothing about who is a person; the
    # dataset applies it after copy-paste, so that pasted people turn too.
    hue_p: float = 0.0
    recolour_p: float = 0.0
    person_hue_p: float = 0.0


def _affine(
    src_hw: tuple[int, int], dst_hw: tuple[int, int], scale: float, roll_deg: float,
    flip: bool, shift: tuple[float, float],
) -> NDArray[np.float64]:
    h, w = src_hw
    dh, dw = dst_hw
    base = min(dw / w, dh / h) * scale
    a = np.deg2rad(roll_deg)
    c, s = np.cos(a) * base, np.sin(a) * base
    fx = -1.0 if flip else 1.0
    # centre the source at the destination centre + shift
    m = np.array([[fx * c, -s, 0.0], [fx * s, c, 0.0]])
    src_c = np.array([w / 2.0, h / 2.0])
    m[:, 2] = np.array([dw / 2.0 + shift[0], dh / 2.0 + shift[1]]) - m[:, :2] @ src_c
    return m


def letterbox_pair(image: Image, mask: Image, out_hw: tuple[int, int]) -> tuple[Image, Image]:
    """Deterministic letterbox (keep aspect, centre, pad 0 / ignore): the node's letterbox."""
    h, w = out_hw
    return (letterbox(image, h, w),
            letterbox(mask, h, w, interpolation=cv2.INTER_NEAREST, fill=IGNORE))


def _warp(image: Image, mask: Image, m: NDArray[np.float64], out_hw: tuple[int, int]
          ) -> tuple[Image, Image]:
    dh, dw = out_hw
    img = cv2.warpAffine(image, m, (dw, dh), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    msk = cv2.warpAffine(mask, m, (dw, dh), flags=cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)
    return np.asarray(img, dtype=np.uint8), np.asarray(msk, dtype=np.uint8)


def _motion_blur(image: Image, rng: np.random.Generator) -> Image:
    k = int(rng.integers(3, 12)) | 1
    line: NDArray[Any] = np.zeros((k, k), np.float32)
    line[k // 2, :] = 1.0 / k
    rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
    kernel: NDArray[Any] = cv2.warpAffine(line, rot, (k, k))
    kernel /= max(float(kernel.sum()), 1e-6)
    return np.asarray(cv2.filter2D(image, -1, kernel), dtype=np.uint8)


def _photometric(image: Image, cfg: AugmentConfig, rng: np.random.Generator) -> Image:
    img: NDArray[Any] = image.astype(np.float32)
    if rng.random() < cfg.jitter_p:
        img *= rng.uniform(0.7, 1.3)  # brightness
        mean = img.mean()
        img = (img - mean) * rng.uniform(0.7, 1.3) + mean  # contrast
        gray = img.mean(axis=2, keepdims=True)
        img = (img - gray) * rng.uniform(0.6, 1.4) + gray  # saturation
        img += rng.uniform(-12, 12, size=3).astype(np.float32)  # colour cast
    if rng.random() < cfg.low_contrast_p:
        mean = img.mean()
        img = (img - mean) * rng.uniform(0.3, 0.6) + mean
    if rng.random() < cfg.dark_p:
        np.clip(img, 0, 255, out=img)
        gamma = rng.uniform(1.3, 2.5)
        img = 255.0 * (img / 255.0) ** gamma * rng.uniform(0.25, 0.7)
    if rng.random() < cfg.gray_p:  # IR-like / monochrome cameras
        img[:] = img.mean(axis=2, keepdims=True)
    if rng.random() < cfg.noise_p:
        img += rng.normal(0, rng.uniform(2, 10), size=img.shape).astype(np.float32)
    out: Image = np.clip(img, 0, 255).astype(np.uint8)
    return out


def _rotate_hue(image: Image, shift: int) -> Image:
    """Every hue turned by ``shift`` OpenCV hue steps (0..179, 2 deg each)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
    return np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), dtype=np.uint8)


def _blend(image: Image, painted: NDArray[Any], alpha: NDArray[Any]) -> Image:
    """``painted`` over ``image`` with the HxW opacity ``alpha`` in [0, 1]."""
    a = alpha[..., None]
    out: Image = np.clip(image * (1.0 - a) + painted * a, 0, 255).astype(np.uint8)
    return out


def _hue_shift(image: Image, rng: np.random.Generator) -> Image:
    return _rotate_hue(image, int(rng.integers(-40, 41)))


def turn_people_hue(image: Image, mask: Image, rng: np.random.Generator) -> Image:
    """Rotate the hue of the person pixels (mask 1) by a random angle: their clothes in
    another colour. Skin (the usual YCrCb box, Cr 133-173, Cb 77-127) keeps its colour,
    a real cue, while saturated reds (Cr above 173) turn; seams are softened."""
    person = mask == 1
    if not person.any():
        return image
    turned = _rotate_hue(image, int(rng.integers(30, 151))).astype(np.float32)  # 60-300 deg
    ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    skin = (cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127)
    weight = (person & ~skin).astype(np.float32)
    return _blend(image, turned, cv2.GaussianBlur(weight, (3, 3), 0))


def _recolour(image: Image, mask: Image, rng: np.random.Generator) -> Image:
    """Background blobs in a saturated hue, red 60 % of the time (people, padding untouched)."""
    h, w = mask.shape
    alpha: NDArray[Any] = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (max(2, int(w * rng.uniform(0.04, 0.25))), max(2, int(h * rng.uniform(0.04, 0.3))))
        cv2.ellipse(alpha, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    k = (max(3, int(min(h, w) * 0.03)) | 1)
    alpha = cv2.GaussianBlur(alpha, (k, k), 0) * (mask == 0)  # not people, not padding
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    red = rng.random() < 0.6
    hue = int(rng.choice([rng.integers(0, 8), rng.integers(170, 180)])) if red \
        else int(rng.integers(0, 180))
    hsv[..., 0] = hue
    hsv[..., 1] = np.maximum(hsv[..., 1], np.uint8(rng.integers(120, 256)))
    hsv[..., 2] = np.clip(hsv[..., 2].astype(np.int16) + 40, 60, 255).astype(np.uint8)
    painted = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
    return _blend(image, painted, alpha)


def _cutout(image: Image, mask: Image, rng: np.random.Generator) -> None:
    h, w = mask.shape
    for _ in range(int(rng.integers(1, 4))):
        ch = int(h * rng.uniform(0.1, 0.4))
        cw = int(w * rng.uniform(0.05, 0.3))
        y = int(rng.integers(0, max(1, h - ch)))
        x = int(rng.integers(0, max(1, w - cw)))
        image[y:y + ch, x:x + cw] = rng.integers(0, 256, size=3, dtype=np.uint8)
        region = mask[y:y + ch, x:x + cw]
        region[region != IGNORE] = 0  # the occluder is not a person


def augment(image: Image, mask: Image, out_hw: tuple[int, int], cfg: AugmentConfig,
            rng: np.random.Generator, *, canvas_hw: tuple[int, int] | None = None,
            ) -> tuple[Image, Image]:
    """Random joint augmentation to ``out_hw`` (height, width).

    With ``canvas_hw`` (the deployed input size, e.g. 544x960) the image is
    letterboxed at random scale onto that canvas and a random ``out_hw`` window
    is cut from it: people keep the pixel size they have at deployment while a
    batch costs only the window's pixels.
    """
    scale = float(np.exp(rng.uniform(np.log(cfg.scale_min), np.log(cfg.scale_max))))
    roll = float(rng.uniform(-cfg.max_roll_deg, cfg.max_roll_deg))
    flip = bool(rng.random() < cfg.flip_p)
    h, w = image.shape[:2]
    ch, cw = canvas_hw or out_hw
    base = min(cw / w, ch / h) * scale
    # shift so the content stays inside the frame when smaller, or any crop when larger
    span_x = abs(cw - w * base) / 2.0
    span_y = abs(ch - h * base) / 2.0
    shift = (float(rng.uniform(-span_x, span_x)), float(rng.uniform(-span_y, span_y)))
    m = _affine((h, w), (ch, cw), scale, roll, flip, shift)
    if canvas_hw is not None:
        # the window, placed where the content is (not in the letterbox padding)
        x_lo = max(0.0, cw / 2 + shift[0] - w * base / 2)
        x_hi = min(float(cw), cw / 2 + shift[0] + w * base / 2)
        y_lo = max(0.0, ch / 2 + shift[1] - h * base / 2)
        y_hi = min(float(ch), ch / 2 + shift[1] + h * base / 2)
        ox = rng.uniform(x_lo, max(x_lo, x_hi - out_hw[1])) if x_hi - x_lo > out_hw[1] \
            else (x_lo + x_hi - out_hw[1]) / 2
        oy = rng.uniform(y_lo, max(y_lo, y_hi - out_hw[0])) if y_hi - y_lo > out_hw[0] \
            else (y_lo + y_hi - out_hw[0]) / 2
        m[:, 2] -= (ox, oy)
    img, msk = _warp(image, mask, m, out_hw)
    # (no draw when off: the recipes trained before these existed stay reproducible)
    if cfg.recolour_p > 0 and rng.random() < cfg.recolour_p:
        img = _recolour(img, msk, rng)
    if cfg.hue_p > 0 and rng.random() < cfg.hue_p:
        img = _hue_shift(img, rng)
    img = _photometric(img, cfg, rng)
    if rng.random() < cfg.blur_p:
        img = _motion_blur(img, rng)
    if rng.random() < cfg.cutout_p:
        _cutout(img, msk, rng)
    return img, msk
