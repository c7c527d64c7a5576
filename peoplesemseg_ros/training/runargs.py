"""A training run's arguments as checkpoints store them, read back the same way everywhere.

``train --resume``, ``calibrate``, ``export`` and ``recover`` all read the ``args`` of a
checkpoint (or of a model's ``train_args`` metadata); this module is the one place that
fills in what older runs did not store, drops the CLI's private entries and derives the
size a run was evaluated at.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["LEGACY_ARGS", "checkpoint_args", "eval_size", "parse_size", "public_args",
           "require_checkpoint", "require_dataset"]

# What a checkpoint written before an option existed trained with (for --resume).
LEGACY_ARGS: dict[str, Any] = {
    "canvas": "", "family": "shuffleseg", "encoder_weights": None, "no_pretrained": False,
    "negatives": 0, "paste": 0.0, "small_weight": 1.0, "distill": 0.0, "dev": None,
    "resize": "letterbox", "hue": 0.0, "recolour": 0.0, "background": 0.0,
    "person_hue": 0.0, "extra_ignore": None,
}


def parse_size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    size = (int(h), int(w))
    if min(size) < 32:
        raise ValueError(f"--size must be HxW with both sides >= 32, got {text!r}")
    return size


def public_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The run's arguments without the CLI's private entries (``_run``, a function)."""
    return {k: v for k, v in args.items() if not k.startswith("_")}


def checkpoint_args(state: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's arguments, older checkpoints' missing options at their old values."""
    return {**LEGACY_ARGS, **public_args(state.get("args", {}))}


def eval_size(args: Mapping[str, Any]) -> tuple[int, int]:
    """The HxW a run was scored at: its ``--canvas``, else its ``--size``."""
    return parse_size(str(args["canvas"] or args["size"]))


def require_checkpoint(path: Path) -> None:
    """The commands' one message for a checkpoint that is not there."""
    if not path.is_file():
        raise SystemExit(f"checkpoint not found: {path}")


def require_dataset(root: Path, split: str = "train") -> None:
    """The commands' one message for a dataset root without ``splits/`` (``split``: the
    list the command reads, named in the message)."""
    if not (root / "splits").is_dir():
        raise SystemExit(f"no dataset at {root} (expected {root}/splits/{split}.txt)")
