"""Training losses: segmentation (weighted cross-entropy + soft Dice) and distillation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .transforms import IGNORE

__all__ = ["distill_loss", "seg_loss"]


def seg_loss(logits: Tensor, target: Tensor, dice_weight: float,
             weight: Tensor | None = None) -> Tensor:
    """Cross-entropy (255 ignored, optionally weighted per pixel) plus soft Dice on person."""
    if weight is None:
        ce = F.cross_entropy(logits.float(), target, ignore_index=IGNORE)
    else:
        per_pixel = F.cross_entropy(logits.float(), target, ignore_index=IGNORE,
                                    reduction="none")
        w = weight * (target != IGNORE).float()
        ce = (per_pixel * w).sum() / w.sum().clamp(min=1.0)
    if dice_weight <= 0:
        return ce
    valid = (target != IGNORE).float()
    prob = torch.softmax(logits.float(), dim=1)[:, 1] * valid
    truth = (target == 1).float()
    inter = (prob * truth).sum()
    dice = 1.0 - (2.0 * inter + 1.0) / (prob.sum() + truth.sum() + 1.0)
    return ce + dice_weight * dice


def distill_loss(logits: Tensor, teacher: nn.Module, x: Tensor, amp: bool) -> Tensor:
    """Binary cross-entropy of the student's person probability to the teacher's."""
    with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        t = teacher(x)
    soft = torch.sigmoid((t[:, 1] - t[:, 0]).float())
    return F.binary_cross_entropy_with_logits((logits[:, 1] - logits[:, 0]).float(), soft)
