"""`peoplesemseg calibrate`: choose the person decision margin of a checkpoint on val.

The exported graph decides ``person`` where ``logit1 - logit0 > margin``
(``peoplesemseg export --person-margin M``; 0 is the plain argmax). A network
trained with a small-person loss weight and copy-paste tends to over-paint, so a
small positive margin can raise mIoU; this command sweeps margins on the **val
split only** (torch, at the checkpoint's evaluation size and resize mode) and
prints one JSON with every margin's figures and the chosen one (best val mIoU).
dev_unseen figures are printed beside them for information; they take no part in
the choice (dev_unseen is an evaluation set). With ``--flip`` the logits are those of
``export --flip`` (the mean over the frame and its mirror image), so the margin is
chosen for the graph that will ship. With ``--internal HxW`` the margins are scored at
the size the exported graph runs the network at (``export --internal``) instead of the
checkpoint's evaluation size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from .dataset import Sample, SegmentationDataset, read_folder, read_split
from .export import load_checkpoint_model
from .model import FlipAverage
from .runargs import checkpoint_args, eval_size, parse_size, require_checkpoint, require_dataset
from .train import confusion, iou_from_confusion, people_free_phantom, to_input

__all__ = ["add_arguments", "run", "sweep_margins"]

DEFAULT_MARGINS = (-1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


@torch.no_grad()
def sweep_margins(model: torch.nn.Module, samples: list[Sample], size: tuple[int, int],
                  margins: tuple[float, ...], *, resize: str = "letterbox"
                  ) -> list[dict[str, float]]:
    """Pooled mIoU, person IoU and people-free images with phantoms for each margin
    (scored as training scores its epochs, :func:`.train.evaluate_torch`)."""
    if not margins:
        raise ValueError("no margins to sweep")
    model.eval()
    ds = SegmentationDataset(samples, size, train=False, resize=resize)
    conf = torch.zeros(len(margins), 2, 2, dtype=torch.int64)
    phantoms = [0] * len(margins)
    free = 0
    for i in range(len(ds)):
        image, mask, _ = ds[i]
        logits = model(to_input(image[None], torch.device("cpu")))[0].float()
        diff = logits[1] - logits[0]
        for k, margin in enumerate(margins):
            pred = (diff > margin).long()
            conf[k] += confusion(pred, mask)
            is_free, has_phantom = people_free_phantom(pred, mask)
            phantoms[k] += has_phantom
        free += is_free
    rows = []
    for k, margin in enumerate(margins):
        ious = iou_from_confusion(conf[k])
        rows.append({"margin": margin, "miou": ious["miou"], "iou_person": ious["iou_person"],
                     "people_free": free, "people_free_with_phantoms": phantoms[k]})
    return rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="training checkpoint (best.pt)")
    p.add_argument("--data", type=Path, default=Path("../shared/data/train"),
                   help="dataset root holding splits/ (default: ../shared/data/train)")
    p.add_argument("--dev", type=Path, default=None,
                   help="unseen-domain set reported beside val, never used for the choice "
                   "(default DATA/../dev_unseen, skipped when absent)")
    p.add_argument("--margins", default=",".join(map(str, DEFAULT_MARGINS)),
                   help="comma-separated logit margins to try (write --margins=-1,0,1 when "
                   "one is negative)")
    p.add_argument("--flip", action="store_true",
                   help="score the test-time flip (logits averaged over the frame and its "
                   "mirror image), as `export --flip` will run it")
    p.add_argument("--internal", default="",
                   help="HxW to score at, as `export --internal HxW` will run the network "
                   "(default: the checkpoint's evaluation size, its --canvas or else --size)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")


def run(args: argparse.Namespace) -> int:
    require_checkpoint(args.checkpoint)
    require_dataset(args.data, "val")
    try:
        margins = tuple(float(v) for v in str(args.margins).split(",") if v.strip())
    except ValueError as exc:
        raise SystemExit(f"--margins must be comma-separated numbers: {exc}") from exc
    if not margins:
        raise SystemExit("--margins is empty")
    try:
        internal = parse_size(args.internal) if args.internal else None
    except ValueError as exc:
        raise SystemExit(f"--internal: {exc}") from exc
    if args.threads:
        torch.set_num_threads(args.threads)
    model, state = load_checkpoint_model(args.checkpoint)
    if args.flip:
        model = FlipAverage(model)
    # what the run trained with, older checkpoints' defaults filled in as --resume does
    train_args = checkpoint_args(state)
    size = internal or eval_size(train_args)
    resize = str(train_args["resize"])
    redistributable = bool(train_args.get("redistributable", False))
    val = sweep_margins(model, read_split(args.data, "val", redistributable=redistributable),
                        size, margins, resize=resize)
    best = max(val, key=lambda r: r["miou"])
    report: dict[str, Any] = {"checkpoint": args.checkpoint.name, "size": list(size),
                              "resize": resize, "test_time_flip": bool(args.flip),
                              "chosen_on": "val mIoU",
                              "margin": best["margin"], "val": val}
    dev = read_folder(args.dev or args.data.parent / "dev_unseen")
    if dev:
        report["dev_unseen_for_information"] = sweep_margins(model, dev, size, margins,
                                                              resize=resize)
    print(json.dumps(report, indent=1))
    return 0

