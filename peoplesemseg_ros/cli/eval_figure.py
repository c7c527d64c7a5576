"""The failure picture of ``peoplesemseg eval --failures``: the worst images of a set.

Rows of (image with the predicted person pixels tinted red and the ground-truth
outline in green), worst first: people-free images ranked by the share painted
as person, the others by person IoU. Deterministic for a given model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["failures_figure"]

Segment = Callable[[Sequence[NDArray[np.uint8]]], Sequence[NDArray[np.uint8]]]


def _tile(path: Path, segment: Segment, score: float, width: int) -> NDArray[np.uint8]:
    bgr = cv2.imread(path.as_posix(), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read {path}")
    rgb: NDArray[np.uint8] = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                                                  dtype=np.uint8)
    pred = segment([rgb])[0] != 0
    out = rgb.astype(np.float32)
    out[pred] = out[pred] * 0.45 + np.array([255, 0, 0], np.float32) * 0.55
    tile = np.clip(out, 0, 255).astype(np.uint8)
    mask_path = path.parent.parent / "masks" / (path.stem + ".png")
    truth = cv2.imread(mask_path.as_posix(), cv2.IMREAD_UNCHANGED)
    if truth is not None and truth.shape == pred.shape:
        edges = cv2.morphologyEx(((truth != 0) & (truth != 255)).astype(np.uint8),
                                 cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        tile[edges > 0] = (0, 255, 0)
    h = round(tile.shape[0] * width / tile.shape[1])
    tile = np.asarray(cv2.resize(tile, (width, h), interpolation=cv2.INTER_AREA), np.uint8)
    cv2.putText(tile, f"{path.stem[:22]} {score:.2f}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (255, 255, 255), 1, cv2.LINE_AA)
    return np.asarray(tile, dtype=np.uint8)


def failures_figure(per_image: dict[str, float], segment: Segment, out: Path, *,
                    count: int = 12, columns: int = 4, width: int = 240) -> Path:
    """Write the ``count`` lowest-scoring images of ``per_image`` as one PNG grid."""
    worst = sorted(per_image.items(), key=lambda kv: (kv[1], kv[0]))[:count]
    if not worst:
        raise ValueError("no images to draw")
    tiles = [_tile(Path(p), segment, s, width) for p, s in worst]
    cell_h = max(t.shape[0] for t in tiles)
    rows = []
    for start in range(0, len(tiles), columns):
        row = [np.pad(t, ((0, cell_h - t.shape[0]), (0, 0), (0, 0))) for t in
               tiles[start:start + columns]]
        row += [np.zeros((cell_h, width, 3), np.uint8)] * (columns - len(row))
        rows.append(np.concatenate(row, axis=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(out.as_posix(), cv2.cvtColor(np.concatenate(rows, axis=0),
                                                    cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {out}")
    return out
