"""ShuffleSeg: a ShuffleNet-V2 encoder with a light U-Net decoder.

The encoder follows ShuffleNet V2 (Ma et al., 2018): a strided 3x3 stem, a max
pool, three stages of channel-split / channel-shuffle units whose first unit is
a strided projection unit, all with batch norm. The decoder upsamples with a
bilinear resize and fuses the encoder skip at each scale with a depthwise
separable convolution (no transposed convolutions: at 960x544 they dominate
CPU time). Logits are produced at half resolution and resized to the input.

`DeployWrapper` puts the deployment contract of the embedded model into the
graph: uint8 RGB NHWC in, normalization inside, uint8 class ids out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "DeployWrapper",
    "FlipAverage",
    "LogitsWrapper",
    "SeedFilter",
    "ShuffleSeg",
    "ShuffleSegConfig",
    "build_model",
    "MEAN",
    "STD",
]

# Normalization of the embedded model: x / 255, then (x - MEAN) / STD per channel.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, c, h, w)


def conv_bn_relu(cin: int, cout: int, kernel: int = 1, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def depthwise_bn(channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False),
        nn.BatchNorm2d(channels),
    )


class InvertedResidual(nn.Module):
    """ShuffleNet V2 unit: basic (stride 1, channel split) or projection (stride 2)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        branch = cout // 2
        if stride == 1 and cin != cout:
            raise ValueError("a stride-1 unit needs cin == cout")
        self.stride = stride
        if stride == 2:
            self.branch1: nn.Module = nn.Sequential(
                depthwise_bn(cin, stride), conv_bn_relu(cin, branch)
            )
        else:
            self.branch1 = nn.Identity()
        b2_in = cin if stride == 2 else branch
        self.branch2 = nn.Sequential(
            conv_bn_relu(b2_in, branch),
            depthwise_bn(branch, stride),
            conv_bn_relu(branch, branch),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class SeparableBlock(nn.Module):
    """Depthwise 3x3 + pointwise projection, batch norm and ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dw = depthwise_bn(cin, 1)
        self.pw = conv_bn_relu(cin, cout)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.pw(F.relu(self.dw(x)))
        return out


class UpBlock(nn.Module):
    """Bilinear x2 resize of the deeper map, concat the skip, fuse."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.fuse = SeparableBlock(cin + cskip, cout)
        self.refine = SeparableBlock(cout, cout)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        out: Tensor = self.refine(self.fuse(torch.cat((x, skip), dim=1)))
        return out


@dataclass(frozen=True)
class ShuffleSegConfig:
    """Architecture hyper-parameters (stored in checkpoints)."""

    stage_repeats: tuple[int, int, int] = (4, 8, 4)
    stage_channels: tuple[int, int, int, int] = (24, 96, 192, 384)
    decoder_channels: tuple[int, int, int, int] = (128, 64, 32, 24)
    num_classes: int = 2
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShuffleSegConfig:
        data = {**asdict(cls()), **data}
        return cls(
            stage_repeats=tuple(data["stage_repeats"]),  # type: ignore[arg-type]
            stage_channels=tuple(data["stage_channels"]),  # type: ignore[arg-type]
            decoder_channels=tuple(data["decoder_channels"]),  # type: ignore[arg-type]
            num_classes=int(data["num_classes"]),
            extra=dict(data.get("extra", {})),
        )


class ShuffleSeg(nn.Module):
    """ShuffleNet-V2 encoder + U-Net decoder; float NCHW in, logits NCHW out."""

    def __init__(self, config: ShuffleSegConfig) -> None:
        super().__init__()
        self.config = config
        c0, c1, c2, c3 = config.stage_channels
        d0, d1, d2, d3 = config.decoder_channels
        self.stem = conv_bn_relu(3, c0, 3, 2)  # 1/2
        self.pool = nn.MaxPool2d(3, 2, 1)  # 1/4
        stages: list[nn.Module] = []
        cin = c0
        for repeats, cout in zip(config.stage_repeats, (c1, c2, c3), strict=True):
            units: list[nn.Module] = [InvertedResidual(cin, cout, 2)]
            units += [InvertedResidual(cout, cout, 1) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            cin = cout
        self.stage2, self.stage3, self.stage4 = stages  # 1/8, 1/16, 1/32
        self.up16 = UpBlock(c3, c2, d0)
        self.up8 = UpBlock(d0, c1, d1)
        self.up4 = UpBlock(d1, c0, d2)
        self.up2 = UpBlock(d2, c0, d3)
        self.head = nn.Conv2d(d3, config.num_classes, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        s2 = self.stem(x)
        s4 = self.pool(s2)
        s8 = self.stage2(s4)
        s16 = self.stage3(s8)
        s32 = self.stage4(s16)
        y = self.up16(s32, s16)
        y = self.up8(y, s8)
        y = self.up4(y, s4)
        y = self.up2(y, s2)
        logits = self.head(y)
        out: Tensor = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return out


def build_model(*, config: ShuffleSegConfig | None = None) -> ShuffleSeg:
    return ShuffleSeg(config or ShuffleSegConfig())


class _Normalize(nn.Module):
    mean: Tensor
    inv_std: Tensor
    def __init__(self) -> None:
        super().__init__()
        mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255.0
        inv_std = 1.0 / (torch.tensor(STD).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("mean", mean)
        self.register_buffer("inv_std", inv_std)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) * self.inv_std


def logits_at(model: nn.Module, x: Tensor, internal: tuple[int, int] | None) -> Tensor:
    """``model(x)``; with ``internal`` run at that size and resize the logits back."""
    if internal is None or tuple(x.shape[-2:]) == internal:
        out: Tensor = model(x)
        return out
    size = x.shape[-2:]
    x = F.interpolate(x, size=internal, mode="bilinear", align_corners=False)
    return F.interpolate(model(x), size=size, mode="bilinear", align_corners=False)


class _Wrapped(nn.Module):
    """A network with the embedded model's in-graph normalization and optional internal size."""

    def __init__(self, model: nn.Module, internal: tuple[int, int] | None = None, *,
                 person_margin: float = 0.0, flip: bool = False) -> None:
        super().__init__()
        net = FlipAverage(model) if flip else model
        self.model = _PersonMargin(net, person_margin) if person_margin else net
        self.norm = _Normalize()
        self.internal = internal


class FlipAverage(nn.Module):
    """Test-time flip: the mean of the logits of the frame and of its mirror image (mirrored
    back). One pass at twice the batch; the result is left-right symmetric by
    construction. Exported as ONNX Slice with step -1 (TensorRT parses it)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.net = model

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        both: Tensor = self.net(torch.cat([x, x.flip(-1)]))
        out: Tensor = (both[:n] + both[n:].flip(-1)) * 0.5
        return out


class _PersonMargin(nn.Module):
    """``logit1 -= margin``: the decision becomes logit1 - logit0 > margin (calibrated on
    val by ``peoplesemseg calibrate``). Applied before any resize back (bilinear keeps a
    constant offset), so it costs one add at the network's own size."""

    shift: Tensor

    def __init__(self, model: nn.Module, margin: float) -> None:
        super().__init__()
        self.net = model
        self.register_buffer("shift", torch.tensor([0.0, float(margin)]).view(1, 2, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x) - self.shift
        return out


class SeedFilter(nn.Module):
    """Hysteresis on the person decision: a person region is kept only where it holds a
    *seed*, a pixel whose (margin-shifted) logit gap exceeds ``seed_gap``; weak regions
    without one (the typical phantom on a wall or a red object) are dropped whole.

    Computed on a coarse grid so it stays a few cheap ONNX ops (Pad, MaxPool, Greater,
    Mul, nearest Resize: all in TensorRT's ONNX parser's operator list; no engine of it
    was built here): the gap is max-pooled into cells of
    ``cell`` x ``cell`` pixels, seed cells grow ``steps`` times through the cells that hold
    any person pixel (a geodesic reconstruction, 3x3 per step), and a full-resolution
    person pixel survives where its cell was reached. ``steps`` cells of reach (64 x 8 px
    by default) cover a 960x544 frame's regions from any seed in them but the longest.
    """

    def __init__(self, seed_gap: float, *, cell: int = 8, steps: int = 64) -> None:
        super().__init__()
        if seed_gap < 0 or cell < 1 or steps < 1:
            raise ValueError(f"seed gap must be >= 0, cell and steps >= 1 (got {seed_gap}, "
                             f"{cell}, {steps})")
        self.seed_gap, self.cell, self.steps = float(seed_gap), cell, steps

    def forward(self, gap: Tensor) -> Tensor:
        """``gap`` [N,H,W] (person where > 0) -> the kept-region mask [N,H,W] (bool)."""
        h, w = int(gap.shape[-2]), int(gap.shape[-1])
        pad_h, pad_w = -h % self.cell, -w % self.cell
        g = gap[:, None]
        if pad_h or pad_w:
            g = F.pad(g, (0, pad_w, 0, pad_h), value=-1e4)
        cells = F.max_pool2d(g, self.cell, self.cell)
        weak = (cells > 0).to(gap.dtype)
        grown = (cells > self.seed_gap).to(gap.dtype)
        for _ in range(self.steps):
            grown = F.max_pool2d(grown, 3, 1, 1) * weak
        full = F.interpolate(grown, scale_factor=float(self.cell), mode="nearest")
        keep: Tensor = full[:, 0, :h, :w] > 0.5
        return keep


class DeployWrapper(_Wrapped):
    """uint8 RGB NHWC [N,H,W,3] -> uint8 class ids [N,H,W] (the embedded contract).

    With ``internal`` (height, width) the network runs at that size inside the
    graph: the input is resized (bilinear) after normalization and the logits
    are resized back, so a 544x960 interface can run a network trained at
    288x512 at the scale it was trained at. With ``seed_margin`` (a logit gap, at
    least ``person_margin``) person regions without a pixel above it are dropped
    (:class:`SeedFilter`).
    """

    def __init__(self, model: nn.Module, internal: tuple[int, int] | None = None, *,
                 person_margin: float = 0.0, flip: bool = False,
                 seed_margin: float | None = None) -> None:
        super().__init__(model, internal, person_margin=person_margin, flip=flip)
        if seed_margin is not None and seed_margin < person_margin:
            raise ValueError(f"seed margin {seed_margin} is below the person margin "
                             f"{person_margin}: every person pixel would be a seed")
        self.seeds = None if seed_margin is None else SeedFilter(seed_margin - person_margin)

    def forward(self, image: Tensor) -> Tensor:
        logits = logits_at(self.model, self.norm(image.permute(0, 3, 1, 2).float()),
                           self.internal)
        # class map as logit1 > logit0 (no softmax, no full argmax needed for 2 classes)
        # kept as Greater(logit1, logit0), not gap > 0: variants.cut_logits finds the
        # logits through this node, so the seed filter takes its own difference
        person = logits[:, 1] > logits[:, 0]
        if self.seeds is not None:
            person = person & self.seeds(logits[:, 1] - logits[:, 0])
        ids: Tensor = person.to(torch.uint8)
        return ids


class LogitsWrapper(_Wrapped):
    """float RGB NCHW in [0, 255] -> logits [N,2,H,W] (TensorRT / NVIDIA-style variant)."""

    def forward(self, image: Tensor) -> Tensor:
        return logits_at(self.model, self.norm(image), self.internal)
