"""Reader for the shared person-segmentation layout.

``root/splits/{train,val}.txt`` list image paths relative to ``root``
(``<source>/images/<id>.jpg``); the mask is ``<source>/masks/<id>.png`` with
0 background, 1 person, 255 ignore. CamVid's optional ``ignore/<id>.png``
(cyclists) becomes 255 too. Images are decoded once and kept in memory at
their stored size (~3 GB for the full split), so epochs cost only the warp.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from .transforms import IGNORE, AugmentConfig, augment, letterbox_pair

__all__ = [
    "NON_REDISTRIBUTABLE_SOURCES",
    "Sample",
    "SegmentationDataset",
    "read_split",
    "load_sample",
]

# Sources whose licence forbids redistribution of derived weights (NC / none stated).
NON_REDISTRIBUTABLE_SOURCES = ("camvid", "humanseg", "davis2016")


@dataclass(frozen=True)
class Sample:
    image: Path
    mask: Path
    ignore: Path | None

    @property
    def source(self) -> str:
        return self.image.parent.parent.name


def _nc_coco_ids(root: Path) -> set[str]:
    table = root / "coco2017mini" / "image_licenses.tsv"
    if not table.exists():
        return set()
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    ids: set[str] = set()
    for row in rows:
        key = next((k for k in row if k and k.lower() in ("id", "image_id", "file", "stem")), None)
        if key and "NC" in (row.get("license") or ""):
            ids.add(Path(str(row[key])).stem)
    return ids


def read_split(root: Path, split: str, *, redistributable: bool = False,
               exclude_sources: Iterable[str] = ()) -> list[Sample]:
    """Samples of ``split`` ('train' or 'val'); optionally only redistributable data."""
    listing = root / "splits" / f"{split}.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"split list not found: {listing}")
    excluded = set(exclude_sources)
    if redistributable:
        excluded |= set(NON_REDISTRIBUTABLE_SOURCES)
    nc_ids = _nc_coco_ids(root) if redistributable else set()
    samples: list[Sample] = []
    for line in listing.read_text().splitlines():
        rel = line.strip()
        if not rel:
            continue
        image = root / rel
        source = image.parent.parent.name
        if source in excluded or (source == "coco2017mini" and image.stem in nc_ids):
            continue
        mask = image.parent.parent / "masks" / (image.stem + ".png")
        ignore = image.parent.parent / "ignore" / (image.stem + ".png")
        samples.append(Sample(image, mask, ignore if ignore.exists() else None))
    return samples


def load_sample(sample: Sample) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """RGB image and mask (0/1/255) as stored."""
    bgr = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read image {sample.image}")
    mask = cv2.imread(str(sample.mask), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise OSError(f"cannot read mask {sample.mask}")
    if mask.shape != bgr.shape[:2]:
        raise ValueError(f"mask {sample.mask} is {mask.shape}, image is {bgr.shape[:2]}")
    mask = mask.astype(np.uint8)
    if sample.ignore is not None:
        ign = cv2.imread(str(sample.ignore), cv2.IMREAD_UNCHANGED)
        if ign is not None and ign.shape == mask.shape:
            mask[ign > 0] = IGNORE
    rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    return rgb, np.asarray(mask, dtype=np.uint8)


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images + masks at ``size`` (height, width); augmented when ``train``."""

    def __init__(self, samples: Sequence[Sample], size: tuple[int, int], *, train: bool,
                 augment_config: AugmentConfig | None = None, seed: int = 0,
                 canvas: tuple[int, int] | None = None) -> None:
        if not samples:
            raise ValueError("empty dataset")
        self.samples = list(samples)
        self.size = size
        self.train = train
        self.augment_config = augment_config or AugmentConfig()
        self.seed = seed
        self.canvas = canvas  # train on `size` windows cut from a `canvas` letterbox
        self.epoch = 0
        self._cache: dict[int, tuple[NDArray[np.uint8], NDArray[np.uint8]]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Augmentation depends on (seed, epoch, index) only: resumable and reproducible."""
        self.epoch = epoch

    def _get(self, index: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        if index not in self._cache:
            self._cache[index] = load_sample(self.samples[index])
        return self._cache[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self._get(index)
        if self.train:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            img, msk = augment(image, mask, self.size, self.augment_config, rng,
                               canvas_hw=self.canvas)
        else:
            img, msk = letterbox_pair(image, mask, self.size)
        return (torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))),
                torch.from_numpy(msk.astype(np.int64)))
