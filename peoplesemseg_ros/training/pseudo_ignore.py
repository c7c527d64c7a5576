"""`peoplesemseg pseudo-ignore`: don't-care maps for people a source did not label.

ccp labels only its main person (the data README: half of its photos show unlabelled
people behind), and humanseg's mattes often miss background people, so a plain loss calls
those people background and trains the network to miss small, far people. This command
runs a checkpoint over such sources' train images and writes, for each image where the
network sees a person well away from every labelled one, a map of those regions
(``<out>/<source>/<stem>.png``, 1 = no loss there) for ``peoplesemseg train
--extra-ignore <out>``. It never adds person labels: a region the network gets wrong
costs only its background loss.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray

from peoplesemseg_ros.core.postprocess import class_map_to_mask
from peoplesemseg_ros.core.preprocess import letterbox_into

from .dataset import load_sample, read_split
from .export import load_checkpoint_model
from .model import LogitsWrapper
from .runargs import parse_size, require_checkpoint, require_dataset

__all__ = ["RegionRule", "add_arguments", "run", "unlabelled_regions"]

DEFAULT_SOURCES = ("ccp", "humanseg")
CANVAS = (544, 960)  # the embedded models' input


@dataclass(frozen=True)
class RegionRule:
    """Which predicted person regions count as unlabelled people.

    ``threshold``: person where logit1 - logit0 exceeds it; ``clearance``: regions must
    keep this share of the image's longer side (at least 3 px) away from every labelled
    person (their own outline, a held bag, a shadow stay labelled as they are);
    ``min_area``: smallest region as a share of the image (at least 20 px); ``grow``: the
    map is dilated by this many pixels.
    """

    threshold: float = 0.0
    clearance: float = 0.03
    min_area: float = 1e-4
    grow: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.clearance < 0.5 or not 0.0 <= self.min_area < 1.0 or self.grow < 0:
            raise ValueError(f"bad region rule {self}: clearance in [0, 0.5), min_area in "
                             "[0, 1), grow >= 0")


def unlabelled_regions(person: NDArray[np.bool_], mask: NDArray[np.uint8],
                       rule: RegionRule = RegionRule()) -> NDArray[np.uint8]:
    """0/1 map of the predicted ``person`` regions (the image's HxW) that stay clear of
    every labelled person (``mask`` == 1); labelled pixels are never in it."""
    if person.shape != mask.shape:
        raise ValueError(f"person map {person.shape} and mask {mask.shape} differ in size")
    h, w = mask.shape
    d = max(3, int(rule.clearance * max(h, w)))
    labelled = (mask == 1).astype(np.uint8)
    near = cv2.dilate(labelled, np.ones((2 * d + 1, 2 * d + 1), np.uint8))
    candidate = (person & (near == 0)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= max(20.0, rule.min_area * h * w)
    out = keep[labels].astype(np.uint8)
    if rule.grow and out.any():
        kernel = np.ones((2 * rule.grow + 1, 2 * rule.grow + 1), np.uint8)
        out = np.asarray(cv2.dilate(out, kernel), dtype=np.uint8)
    out[labelled == 1] = 0
    return out


@torch.no_grad()
def _person(net: LogitsWrapper, rgb: NDArray[np.uint8], threshold: float,
            canvas: tuple[int, int] = CANVAS) -> NDArray[np.bool_]:
    """Where the network sees a person, at the image's own size: the deployed path (the
    image letterboxed into the 960x544 input, the export's graph with its internal size
    and flip, the mask back to the image with nearest), as ``export --variant logits``."""
    buf = np.empty((*canvas, 3), np.uint8)
    g = letterbox_into(buf, rgb)
    image = torch.from_numpy(np.ascontiguousarray(buf.transpose(2, 0, 1))).float()
    logits = net(image[None])[0].float()
    ids = ((logits[1] - logits[0]).numpy() > threshold).astype(np.uint8)
    person: NDArray[np.bool_] = class_map_to_mask(ids, g, mask_value=1) == 1
    return person


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="training checkpoint that finds the people")
    p.add_argument("--out", type=Path, required=True, help="folder for <source>/<stem>.png")
    p.add_argument("--data", type=Path, default=Path("../shared/data/train"),
                   help="dataset root holding splits/ (default: ../shared/data/train)")
    p.add_argument("--sources", default=",".join(DEFAULT_SOURCES),
                   help="comma-separated sources that label only some of their people "
                   f"(default: {','.join(DEFAULT_SOURCES)})")
    p.add_argument("--internal", default="352x640",
                   help="HxW the network runs at inside the 960x544 input, as `export "
                   "--internal` (larger than training: far people show better; default "
                   "352x640)")
    p.add_argument("--flip", action="store_true", help="average the mirror image's logits")
    p.add_argument("--threshold", type=float, default=RegionRule.threshold,
                   help="person where logit1 - logit0 > this (default 0)")
    p.add_argument("--clearance", type=float, default=RegionRule.clearance,
                   help="share of the longer side a region keeps from labelled people "
                   "(default 0.03)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")


def run(args: argparse.Namespace) -> int:
    require_checkpoint(args.checkpoint)
    require_dataset(args.data)
    try:
        size = parse_size(args.internal)
        rule = RegionRule(threshold=args.threshold, clearance=args.clearance)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    if args.out.is_dir() and any(args.out.rglob("*.png")):
        raise SystemExit(f"{args.out} already holds maps: choose an empty folder (maps of "
                         "another run would mix with these)")
    sources = {s.strip() for s in str(args.sources).split(",") if s.strip()}
    samples = [s for s in read_split(args.data, "train") if s.source in sources]
    if not samples:
        raise SystemExit(f"no train images of the sources {sorted(sources)} in {args.data}")
    if args.threads:
        torch.set_num_threads(args.threads)
    model, _ = load_checkpoint_model(args.checkpoint)
    net = LogitsWrapper(model, size, flip=bool(args.flip)).eval()
    written, shares = 0, []
    for sample in samples:
        rgb, mask = load_sample(sample)
        regions = unlabelled_regions(_person(net, rgb, rule.threshold), mask, rule)
        if regions.any():
            path = args.out / sample.source / (sample.image.stem + ".png")
            path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(path), regions):
                raise SystemExit(f"cannot write {path}")
            written += 1
            shares.append(float(regions.mean()))
    print(json.dumps({"images": len(samples), "with_regions": written,
                      "mean_share": float(np.mean(shares)) if shares else 0.0,
                      "sources": sorted(sources), "internal": list(size),
                      "flip": bool(args.flip), "threshold": rule.threshold,
                      "clearance": rule.clearance}, indent=1))
    return 0
