"""`peoplesemseg eval`: accuracy of a model on the deployed path.

Images go through the same :class:`~peoplesemseg_ros.core.pipeline.Pipeline` the
node uses (backend, letterbox, postprocessing back to camera resolution), and
the predicted masks are compared with ground truth at the image's own size:
0 background, 1 person (any non-zero but 255 counts as person), 255 ignored.

Prints progress to stderr and one JSON object as the last stdout line:
per-class IoU, mIoU, pixel accuracy, and the same broken down by person size
(share of the image that is person in the ground truth) and by brightness
(mean luma of the image), plus the people-free figure: of the images with no
person in the ground truth, how many get more than 0.5 % person pixels
(``people_free``).

``--shared DIR`` scores the two sets a model is judged on, in one run: the
in-domain val split (``DIR/train/splits/val.txt``) and the unseen-domain
``DIR/dev_unseen``; the JSON then holds ``val``, ``dev_unseen`` and their
``mean_miou``. ``--failures PNG`` draws the worst images of the last set
(lowest person IoU, people-free images with phantoms) as a picture.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["Confusion", "EvalItem", "add_arguments", "evaluate", "pairs_from_dirs",
           "pairs_from_split", "run", "size_bucket", "brightness_bucket"]

IGNORE = 255
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# person share of the image (ground truth): small < 2 % <= medium < 15 % <= large
SIZE_EDGES = (0.02, 0.15)
# mean luma 0..255: dark < 70 <= normal < 170 <= bright
BRIGHTNESS_EDGES = (70.0, 170.0)
# a people-free image "has phantom people" when more than this share is predicted person
PHANTOM_SHARE = 0.005


@dataclass
class Confusion:
    """2x2 confusion counts: rows truth (bg, person), columns prediction."""

    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros((2, 2), np.int64))
    images: int = 0

    def add(self, pred: NDArray[np.uint8], truth: NDArray[np.uint8]) -> None:
        valid = truth != IGNORE
        t = (truth[valid] != 0).astype(np.int64)
        p = (pred[valid] != 0).astype(np.int64)
        self.counts += np.bincount(t * 2 + p, minlength=4).reshape(2, 2)
        self.images += 1

    def metrics(self) -> dict[str, float | int]:
        c = self.counts.astype(np.float64)
        tp = np.diag(c)
        union = c.sum(0) + c.sum(1) - tp
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
        total = c.sum()
        return {
            "images": self.images,
            "iou_background": float(iou[0]),
            "iou_person": float(iou[1]),
            "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
            "pixel_acc": float(tp.sum() / total) if total else float("nan"),
        }


@dataclass(frozen=True)
class EvalItem:
    image: Path
    mask: Path


def size_bucket(truth: NDArray[np.uint8]) -> str:
    valid = truth != IGNORE
    share = float(((truth != 0) & valid).sum()) / max(1, int(valid.sum()))
    if share == 0:
        return "none"
    return "small" if share < SIZE_EDGES[0] else "medium" if share < SIZE_EDGES[1] else "large"


def brightness_bucket(rgb: NDArray[np.uint8]) -> str:
    luma = float(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).mean())
    return "dark" if luma < BRIGHTNESS_EDGES[0] else \
        "normal" if luma < BRIGHTNESS_EDGES[1] else "bright"


def pairs_from_dirs(images: Path, masks: Path) -> list[EvalItem]:
    """Images in ``images`` with a same-stem PNG in ``masks`` (others are reported)."""
    items = []
    for img in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        mask = masks / (img.stem + ".png")
        if mask.is_file():
            items.append(EvalItem(img, mask))
    return items


def pairs_from_split(split: Path) -> list[EvalItem]:
    """A split list (``<source>/images/<id>.jpg`` per line, relative to its parent's parent)."""
    root = split.parent.parent
    items = []
    for line in split.read_text().splitlines():
        if line.strip():
            img = root / line.strip()
            items.append(EvalItem(img, img.parent.parent / "masks" / (img.stem + ".png")))
    return items


def _read(item: EvalItem) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    bgr = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
    truth = cv2.imread(str(item.mask), cv2.IMREAD_UNCHANGED)
    if bgr is None or truth is None:
        raise OSError(f"cannot read {item.image if bgr is None else item.mask}")
    if truth.ndim == 3:
        truth = truth[..., 0]
    if truth.shape != bgr.shape[:2]:
        raise ValueError(f"{item.mask}: mask {truth.shape} != image {bgr.shape[:2]}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(rgb), truth.astype(np.uint8)


@dataclass
class PeopleFree:
    """Predicted person share on images whose ground truth has no person."""

    shares: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, pred: NDArray[np.uint8], truth: NDArray[np.uint8]) -> None:
        valid = truth != IGNORE
        if valid.any() and not ((truth != 0) & valid).any():
            self.shares[name] = float((pred[valid] != 0).mean())

    def metrics(self) -> dict[str, Any]:
        values = list(self.shares.values())
        return {"images": len(values),
                "with_phantoms": sum(v > PHANTOM_SHARE for v in values),
                "phantom_share_above": PHANTOM_SHARE,
                "mean_person_share": float(np.mean(values)) if values else float("nan")}


def evaluate(items: Sequence[EvalItem], segment: Any, *, batch: int = 1,
             progress: bool = True, per_image: dict[str, float] | None = None
             ) -> dict[str, Any]:
    """``segment(list of RGB) -> list of masks`` over ``items``; the metrics dict.

    ``per_image``, when given, receives each image's person IoU (people-free
    images: 1 - predicted person share), for failure pictures.
    """
    overall = Confusion()
    free = PeopleFree()
    by_size: dict[str, Confusion] = {}
    by_light: dict[str, Confusion] = {}
    chunks: Iterable[Sequence[EvalItem]] = [items[i:i + batch] for i in range(0, len(items), batch)]
    if progress:
        from tqdm import tqdm

        chunks = tqdm(list(chunks), desc="eval", unit="batch", file=sys.stderr)
    for chunk in chunks:
        loaded = [_read(item) for item in chunk]
        preds = segment([rgb for rgb, _ in loaded])
        for item, (rgb, truth), pred in zip(chunk, loaded, preds, strict=True):
            overall.add(pred, truth)
            key = str(item.image)
            free.add(key, pred, truth)
            if per_image is not None:
                one = Confusion()
                one.add(pred, truth)
                per_image[key] = 1.0 - free.shares[key] if key in free.shares \
                    else float(one.metrics()["iou_person"])
            by_size.setdefault(size_bucket(truth), Confusion()).add(pred, truth)
            by_light.setdefault(brightness_bucket(rgb), Confusion()).add(pred, truth)
    result: dict[str, Any] = overall.metrics()
    result["by_person_size"] = {k: v.metrics() for k, v in sorted(by_size.items())}
    result["by_brightness"] = {k: v.metrics() for k, v in sorted(by_light.items())}
    result["people_free"] = free.metrics()
    result["size_edges"] = {"small_below": SIZE_EDGES[0], "large_from": SIZE_EDGES[1]}
    result["brightness_edges"] = {"dark_below": BRIGHTNESS_EDGES[0],
                                  "bright_from": BRIGHTNESS_EDGES[1]}
    return result


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", type=Path, help="folder of images")
    p.add_argument("--masks", type=Path, help="folder of same-stem PNG masks (0/1, 255 ignore)")
    p.add_argument("--split", type=Path, help="a split list instead, e.g. "
                   "../shared/data/train/splits/val.txt")
    p.add_argument("--shared", type=Path, help="the shared data folder: score its val split "
                   "and dev_unseen together (e.g. ../shared/data)")
    p.add_argument("--model", type=Path, default=None, help="ONNX / engine (default: embedded)")
    p.add_argument("--backend", default="onnxruntime", help="auto | onnxruntime | tensorrt")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--resize-mode", choices=["auto", "letterbox", "stretch"], default="auto",
                   help="auto (default): what the model asks for in its metadata, else letterbox")
    p.add_argument("--preprocessing", default="auto", help="preprocessing preset")
    p.add_argument("--failures", type=Path, default=None,
                   help="write a PNG of the worst images of the (last) set")
    p.add_argument("--no-progress", action="store_true")


def _sets(args: argparse.Namespace) -> dict[str, list[EvalItem]]:
    if args.shared:
        split = args.shared / "train" / "splits" / "val.txt"
        dev = args.shared / "dev_unseen"
        if not split.is_file() or not (dev / "images").is_dir():
            raise SystemExit(f"--shared {args.shared}: expected train/splits/val.txt and "
                             "dev_unseen/images + dev_unseen/masks there")
        return {"val": pairs_from_split(split),
                "dev_unseen": pairs_from_dirs(dev / "images", dev / "masks")}
    if args.split:
        if not args.split.is_file():
            raise SystemExit(f"split list not found: {args.split}")
        return {"": pairs_from_split(args.split)}
    if args.images and args.masks:
        for d in (args.images, args.masks):
            if not d.is_dir():
                raise SystemExit(f"not a folder: {d}")
        return {"": pairs_from_dirs(args.images, args.masks)}
    raise SystemExit("give --images DIR --masks DIR, --split FILE or --shared DIR")


def run(args: argparse.Namespace) -> int:
    sets = _sets(args)
    for name, items in sets.items():
        if not items:
            raise SystemExit(f"no image/mask pairs found{' in ' + name if name else ''}")
    from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig

    config = PipelineConfig(model_path=args.model, backend=args.backend,
                            preprocessing=args.preprocessing, resize_mode=args.resize_mode,
                            mask_value=255, num_threads=args.threads, max_batch=args.batch)
    pipeline = Pipeline(config)
    results: dict[str, Any] = {}
    per_image: dict[str, float] = {}
    try:
        for name, items in sets.items():
            per_image.clear()
            results[name] = evaluate(items, pipeline.segment, batch=args.batch,
                                     progress=not args.no_progress, per_image=per_image)
        if args.failures:
            from .eval_figure import failures_figure

            failures_figure(per_image, pipeline.segment, args.failures)
    finally:
        pipeline.close()
    result: dict[str, Any] = results[""] if "" in results else dict(results)
    if "" not in results:
        result["mean_miou"] = float(np.mean([r["miou"] for r in results.values()]))
    result["model"] = pipeline.model_id
    result["backend"] = pipeline.backend_name
    print(json.dumps(result))
    return 0
