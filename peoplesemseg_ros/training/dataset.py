"""Reader for the shared person-segmentation layout.

``root/splits/{train,val}.txt`` list image paths relative to ``root``
(``<source>/images/<id>.jpg``); the mask is ``<source>/masks/<id>.png`` with
0 background, 1 person, 255 ignore. CamVid's optional ``ignore/<id>.png``
(cyclists) becomes 255 too. Images are decoded once and kept in memory at
their stored size (~3 GB for the full split), so epochs cost only the warp.

``splits/negatives.txt`` (people-free hard negatives, all-zero masks) is read by
:func:`read_negatives`. Training items come with a per-pixel loss weight that
raises small people (:func:`small_person_weights`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from .background import INCOMPLETE_LABEL_SOURCES, BackgroundConfig, background_window
from .copypaste import PasteConfig, PersonBank, paste_people
from .transforms import IGNORE, AugmentConfig, augment, letterbox_pair, turn_people_hue

__all__ = [
    "NON_REDISTRIBUTABLE_SOURCES",
    "Sample",
    "SegmentationDataset",
    "read_folder",
    "read_negatives",
    "read_split",
    "load_sample",
    "small_person_weights",
    "with_extra_ignore",
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


def with_extra_ignore(samples: Sequence[Sample], root: Path) -> tuple[list[Sample], int]:
    """Give each sample without an ignore map ``root/<source>/<stem>.png`` when that exists
    (nonzero = don't care in the loss), e.g. unlabelled background people of sources that
    label only their main person. Returns the samples and how many got a map."""
    if not root.is_dir():
        raise FileNotFoundError(f"extra ignore folder not found: {root}")
    out, found = [], 0
    for sample in samples:
        extra = root / sample.source / (sample.image.stem + ".png")
        if sample.ignore is None and extra.is_file():
            out.append(replace(sample, ignore=extra))
            found += 1
        else:
            out.append(sample)
    return out, found


def read_folder(root: Path) -> list[Sample]:
    """``root/images/*.jpg`` with ``root/masks/<stem>.png`` (e.g. dev_unseen; [] when absent)."""
    images = root / "images"
    if not images.is_dir():
        return []
    return [Sample(p, root / "masks" / (p.stem + ".png"), None)
            for p in sorted(images.glob("*.jpg")) if (root / "masks" / (p.stem + ".png")).is_file()]


def read_negatives(root: Path) -> list[Sample]:
    """The people-free hard negatives of ``splits/negatives.txt`` ([] when absent)."""
    listing = root / "splits" / "negatives.txt"
    if not listing.is_file():
        return []
    samples = []
    for line in listing.read_text().splitlines():
        if line.strip():
            image = root / line.strip()
            samples.append(Sample(image, image.parent.parent / "masks" / (image.stem + ".png"),
                                  None))
    return samples


def small_person_weights(mask: NDArray[np.uint8], *, max_weight: float,
                         reference: float = 0.02) -> NDArray[np.float32]:
    """Loss weight per pixel: 1, raised for the pixels of small people.

    Each connected person region smaller than ``reference`` of the window gets
    ``sqrt(reference * area_window / area)`` capped at ``max_weight``, so a
    15-px pedestrian counts for more than its handful of pixels. Ignore pixels
    keep weight 1 (the loss skips them anyway).
    """
    weights = np.ones(mask.shape, np.float32)
    if max_weight <= 1.0:
        return weights
    person = (mask == 1).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(person, connectivity=8)
    ref = reference * mask.size
    for label in range(1, count):
        area = float(stats[label, cv2.CC_STAT_AREA])
        if area < ref:
            weights[labels == label] = min(max_weight, float(np.sqrt(ref / area)))
    return weights


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


Item = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class SegmentationDataset(Dataset[Item]):
    """Images, masks and loss weights at ``size`` (height, width); augmented when ``train``.

    With ``paste`` (training only) people cut from the samples' own masks are
    pasted into windows (:mod:`.copypaste`); ``small_weight`` > 1 raises the
    loss weight of small people up to that factor; with ``background`` some windows
    are people-free cuts of the samples' own scenery (:mod:`.background`, no paste).
    """

    def __init__(self, samples: Sequence[Sample], size: tuple[int, int], *, train: bool,
                 augment_config: AugmentConfig | None = None, seed: int = 0,
                 canvas: tuple[int, int] | None = None, paste: PasteConfig | None = None,
                 small_weight: float = 1.0, resize: str = "letterbox",
                 background: BackgroundConfig | None = None) -> None:
        if not samples:
            raise ValueError("empty dataset")
        self.samples = list(samples)
        self.size = size
        self.train = train
        self.augment_config = augment_config or AugmentConfig()
        self.seed = seed
        self.canvas = canvas  # train on `size` windows cut from a `canvas` letterbox
        if resize not in ("letterbox", "stretch"):
            raise ValueError(f"resize must be letterbox or stretch, got {resize!r}")
        # stretch: images are resized (aspect not kept) to twice the frame first, so
        # the letterbox that follows fills the frame, as the node's stretch mode does
        self.stretch_hw = tuple(2 * v for v in (canvas or size)) if resize == "stretch" \
            else None
        self.epoch = 0
        self._cache: dict[int, tuple[NDArray[np.uint8], NDArray[np.uint8]]] = {}
        self.paste = paste if train else None
        self.small_weight = small_weight
        self.background = background if train and background and background.p > 0 else None
        self.bank = PersonBank([self._stretched_mask(_read_mask(s)) for s in self.samples]) \
            if self.paste else PersonBank([])

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Augmentation depends on (seed, epoch, index) only: resumable and reproducible."""
        self.epoch = epoch

    def _stretched_mask(self, mask: NDArray[np.uint8] | None) -> NDArray[np.uint8] | None:
        if mask is None or self.stretch_hw is None:
            return mask
        h, w = self.stretch_hw
        return np.asarray(cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST), np.uint8)

    def _get(self, index: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        if index not in self._cache:
            image, mask = load_sample(self.samples[index])
            if self.stretch_hw is not None:
                h, w = self.stretch_hw
                image = np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA),
                                   dtype=np.uint8)
                mask = np.asarray(self._stretched_mask(mask), dtype=np.uint8)
            self._cache[index] = (image, mask)
        return self._cache[index]

    def _background(self, index: int, image: NDArray[np.uint8], mask: NDArray[np.uint8],
                    rng: np.random.Generator
                    ) -> tuple[NDArray[np.uint8], NDArray[np.uint8]] | None:
        """A people-free window instead of the whole image, with probability ``p``
        (no random draw at all without ``background``: older runs replay exactly)."""
        cfg = self.background
        if cfg is None or self.samples[index].source in INCOMPLETE_LABEL_SOURCES:
            return None
        if rng.random() >= cfg.p:
            return None
        return background_window(image, mask, rng, cfg)

    def __getitem__(self, index: int) -> Item:
        image, mask = self._get(index)
        if self.train:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            window = self._background(index, image, mask, rng)
            if window is not None:
                image, mask = window
            img, msk = augment(image, mask, self.size, self.augment_config, rng,
                               canvas_hw=self.canvas)
            if self.paste is not None and window is None:
                paste_people(img, msk, self.bank, self._get, rng, self.paste, exclude=index)
            hue_p = self.augment_config.person_hue_p
            if hue_p > 0 and rng.random() < hue_p:  # after the paste: pasted people too
                img = turn_people_hue(img, msk, rng)
        else:
            img, msk = letterbox_pair(image, mask, self.size)
        weight = small_person_weights(msk, max_weight=self.small_weight)
        return (torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))),
                torch.from_numpy(msk.astype(np.int64)), torch.from_numpy(weight))


def _read_mask(sample: Sample) -> NDArray[np.uint8] | None:
    mask = cv2.imread(str(sample.mask), cv2.IMREAD_UNCHANGED)
    return None if mask is None else np.asarray(mask, dtype=np.uint8)
