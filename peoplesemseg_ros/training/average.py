"""`peoplesemseg average`: the weighted mean of checkpoints of one network (a weight
average, "model soup" / WiSE-FT).

Fine-tunes that start from the same weights stay close enough that their mean is a
network too, often better on unseen scenes than either (MODEL.md: the default is the mean
of its weights before and after the pseudo-ignore fine-tune). Every floating-point
tensor, BatchNorm statistics included, is averaged; integer ones (BatchNorm's batch
counter) come from the first checkpoint, as do the family, the model configuration and
the training arguments, so the result is a valid ``export``, ``calibrate`` and ``--init``
input. Checkpoints of different families or shapes are refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from .runargs import require_checkpoint
from .train import atomic_save

__all__ = ["add_arguments", "average_states", "run"]


def average_states(states: list[dict[str, torch.Tensor]], weights: list[float]
                   ) -> dict[str, torch.Tensor]:
    """The weighted mean of state dicts with the same keys and shapes."""
    if len(states) != len(weights) or not states:
        raise ValueError(f"{len(states)} checkpoints, {len(weights)} weights")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
    total = float(sum(weights))
    first = states[0]
    for i, other in enumerate(states[1:], start=2):
        if other.keys() != first.keys():
            raise ValueError(f"checkpoint {i} has other parameters than the first "
                             "(another network?)")
        for key, value in first.items():
            if other[key].shape != value.shape:
                raise ValueError(f"checkpoint {i}: {key} is {tuple(other[key].shape)}, "
                                 f"the first's {tuple(value.shape)}")
    out: dict[str, torch.Tensor] = {}
    for key, value in first.items():
        if value.is_floating_point():
            mean = sum((s[key].double() * (w / total) for s, w in zip(states, weights,
                                                                        strict=True)),
                       torch.zeros_like(value, dtype=torch.float64))
            out[key] = mean.to(value.dtype)
        else:
            out[key] = value.clone()
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", type=Path, nargs="+",
                   help="training checkpoints of one network (e.g. before and after a "
                   "fine-tune)")
    p.add_argument("--out", type=Path, required=True, help="the averaged checkpoint")
    p.add_argument("--weights", default="",
                   help="comma-separated weights, one per checkpoint (default: equal)")


def run(args: argparse.Namespace) -> int:
    paths: list[Path] = list(args.checkpoints)
    if len(paths) < 2:
        raise SystemExit("give at least two checkpoints to average")
    try:
        weights = ([float(v) for v in str(args.weights).split(",")] if args.weights
                   else [1.0] * len(paths))
    except ValueError as exc:
        raise SystemExit(f"--weights must be comma-separated numbers: {exc}") from exc
    loaded: list[dict[str, Any]] = []
    for path in paths:
        require_checkpoint(path)
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or "model" not in state or "family" not in state:
            raise SystemExit(f"{path} is not a training checkpoint (no model / family)")
        loaded.append(state)
    families = {str(s["family"]) for s in loaded}
    if len(families) != 1:
        raise SystemExit(f"checkpoints of different families: {sorted(families)}")
    try:
        model = average_states([s["model"] for s in loaded], weights)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    first = loaded[0]
    out: dict[str, Any] = {key: first[key] for key in ("family", "model_config", "args",
                                                        "epoch") if key in first}
    out["model"] = model
    out["metrics"] = {}
    out["averaged_from"] = [{"checkpoint": p.name, "weight": w}
                            for p, w in zip(paths, weights, strict=True)]
    atomic_save(out, args.out)
    print(f"wrote {args.out}: the mean of {len(paths)} checkpoints (weights "
          f"{', '.join(f'{w:g}' for w in weights)})")
    return 0
