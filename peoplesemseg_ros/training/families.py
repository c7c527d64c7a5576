"""Model families by name: one place that builds, describes and restores a network.

``FAMILIES`` maps the ``--family`` name of ``peoplesemseg train`` to a
:class:`Family` (its config class, a builder and a one-line description for the
ONNX metadata). Checkpoints store the family name and the config dict, so
:func:`restore` rebuilds any of them without the pretrained weight files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from .efficientnet import LiteSegConfig, build_liteseg
from .mediapipe import MediaPipeConfig, build_mediapipe
from .model import ShuffleSegConfig, build_model

__all__ = ["FAMILIES", "Family", "build", "restore"]


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    config_from_dict: Callable[[dict[str, Any]], Any]
    builder: Callable[[Any, Path | None], nn.Module]


def _shuffleseg(config: Any, _weights: Path | None) -> nn.Module:
    return build_model(config=config)


def _liteseg(config: Any, weights: Path | None) -> nn.Module:
    return build_liteseg(config=config, weights=weights)


def _mediapipe(config: Any, weights: Path | None) -> nn.Module:
    return build_mediapipe(config=config, weights=weights)


FAMILIES: dict[str, Family] = {
    "shuffleseg": Family("shuffleseg", "ShuffleSeg (ShuffleNet-V2 encoder, U-Net decoder)",
                         ShuffleSegConfig.from_dict, _shuffleseg),
    "liteseg": Family("liteseg", "LiteSeg (ImageNet EfficientNet-Lite0 encoder, U-Net decoder)",
                      LiteSegConfig.from_dict, _liteseg),
    "mediapipe": Family("mediapipe", "MediaPipe selfie segmentation (landscape), fine-tuned",
                        MediaPipeConfig.from_dict, _mediapipe),
}


def build(family: str, options: dict[str, Any], *, weights: Path | None = None
          ) -> tuple[nn.Module, Any]:
    """A new network of ``family`` with config ``options``; returns (model, config)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    fam = FAMILIES[family]
    config = fam.config_from_dict(options)
    return fam.builder(config, weights), config


def restore(state: dict[str, Any]) -> tuple[nn.Module, str]:
    """The trained network of a checkpoint (its weights loaded, eval mode) and its family."""
    family = str(state.get("family", "shuffleseg"))  # checkpoints before 2026-12: ShuffleSeg
    if family not in FAMILIES:
        raise ValueError(f"checkpoint of unknown model family {family!r}")
    config = FAMILIES[family].config_from_dict(dict(state["model_config"]))
    if isinstance(config, LiteSegConfig | MediaPipeConfig):
        config = replace(config, pretrained=False)  # the checkpoint holds the weights
    model = FAMILIES[family].builder(config, None)
    model.load_state_dict(state["model"])
    return model.eval(), family
