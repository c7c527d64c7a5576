"""`peoplesemseg recover`: a shipped ONNX model -> a training checkpoint for ``--init``.

Training checkpoints live outside the repository (an ignored run folder), so a fresh
clone has only the exported models. This command turns one back into a checkpoint
that ``peoplesemseg train --init``, ``export`` and ``calibrate`` accept, so the
shipped weights can be fine-tuned instead of trained again from ImageNet.

The export folds each BatchNorm into the convolution before it (the file holds
``W' = W g / sqrt(v + eps)`` and ``b'``, not the network's parameters). Recovery:

1. rebuilds the network its metadata names (``train_args``: family and preset) inside
   the same deploy wrapper (internal size, person and seed margins, test-time flip) the
   export used; the checkpoint holds the plain network either way (``export --flip
   --seed-margin M`` adds them again);
2. loads the initializers that kept their names (head, MediaPipe weights, buffers);
3. gives each folded convolution its ``W'`` / ``b'``, matched in execution order with
   shape and group checks;
4. scales each folded channel back to the weight norm training started from (ImageNet
   encoder, initialised decoder: AdamW's step size does not scale with a weight, so the
   fold's factors of 0.1-4 would otherwise change the fine-tune's effective rates),
   measures each BatchNorm's input mean / variance on training images and sets its
   running statistics and affine so that the eval-mode network again computes exactly
   ``W' x + b'``, while train mode's batch statistics start where the running ones are;
5. checks the result against the file: the torch masks must agree with ONNX Runtime's
   on >= 99.9 % of the pixels of real images, or it fails.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from peoplesemseg_ros.core.hashing import sha256_file

from .dataset import SegmentationDataset, load_sample, read_split
from .efficientnet import WeightsError
from .families import FAMILIES, build
from .model import DeployWrapper, LogitsWrapper
from .runargs import parse_size, public_args, require_dataset
from .train import add_arguments as train_arguments
from .train import atomic_save, family_options, to_input

__all__ = ["RecoverError", "add_arguments", "recover", "run"]

MIN_AGREEMENT = 0.999
_MISMATCH = "not an export of the family / preset its metadata names"


class RecoverError(RuntimeError):
    """The ONNX file is not one of our exports, or the rebuilt network does not match it."""


def _typed_train_args(text: str) -> dict[str, Any]:
    """``train_args`` metadata (every value stored as text) -> typed like ``train``'s
    parser would give them (``None``, bools, numbers, paths)."""
    raw = public_args(json.loads(text))
    parser = argparse.ArgumentParser()
    train_arguments(parser)
    actions = {a.dest: a for a in parser._actions}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        action = actions.get(key)
        if value == "None":
            out[key] = None
        elif action is not None and isinstance(action.default, bool):
            out[key] = value == "True"
        elif action is not None and action.type in (int, float, Path):
            out[key] = action.type(value)
        else:
            out[key] = value
    return out


def _conv_order(net: nn.Module, example: Tensor) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    """The network's convolutions in execution order, each with the BatchNorm that
    takes its output (``None`` when none does)."""
    made: dict[int, nn.Conv2d] = {}
    keep: list[Tensor] = []  # outputs stay alive so no id is reused during the pass
    order: list[nn.Conv2d] = []
    bn_of: dict[int, nn.BatchNorm2d] = {}

    def on_conv(module: nn.Module, _inp: Any, out: Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        made[id(out)] = module
        keep.append(out)
        order.append(module)

    def on_bn(module: nn.Module, inp: tuple[Tensor, ...]) -> None:
        conv = made.get(id(inp[0]))
        if conv is not None and isinstance(module, nn.BatchNorm2d):
            bn_of[id(conv)] = module

    hooks = [m.register_forward_hook(on_conv) for m in net.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_pre_hook(on_bn) for m in net.modules()
              if isinstance(m, nn.BatchNorm2d)]
    try:
        with torch.no_grad():
            net.eval()(example)
    finally:
        for h in hooks:
            h.remove()
    return [(c, bn_of.get(id(c))) for c in order]


Fixup = tuple[nn.Conv2d, nn.BatchNorm2d, Tensor]  # a folded pair and the bias it must give


def _load_weights(wrapper: nn.Module, net: nn.Module, proto: Any, example: Tensor
                  ) -> list[Fixup]:
    """Steps 2 and 3; returns each folded convolution, its BatchNorm and the folded bias."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    state = wrapper.state_dict()
    named = {k for k in inits if k in state}
    with torch.no_grad():
        for key in named:
            if tuple(state[key].shape) != inits[key].shape:
                raise RecoverError(f"{key}: shape {inits[key].shape} in the file, "
                                   f"{tuple(state[key].shape)} in the network: {_MISMATCH}")
            state[key].copy_(torch.from_numpy(inits[key].copy()))
    names = {id(p): n for n, p in wrapper.named_parameters()}
    convs = [(c, bn) for c, bn in _conv_order(net, example)
             if names.get(id(c.weight), "") not in named]
    folded = [n for n in proto.graph.node if n.op_type == "Conv" and n.input[1] not in named]
    if len(convs) != len(folded):
        raise RecoverError(f"the file has {len(folded)} folded convolutions, the network "
                           f"{len(convs)}: {_MISMATCH}")
    fixups: list[Fixup] = []
    with torch.no_grad():
        for k, ((conv, bn), node) in enumerate(zip(convs, folded, strict=True)):
            w = inits.get(node.input[1])
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if w is None or w.shape != tuple(conv.weight.shape) or group != conv.groups:
                raise RecoverError(f"convolution {k} ({node.name}): the file's weight "
                                   f"{None if w is None else w.shape} / group {group}, the "
                                   f"network's {tuple(conv.weight.shape)} / {conv.groups}: "
                                   f"{_MISMATCH}")
            b = torch.from_numpy(inits[node.input[2]].copy()) if len(node.input) > 2 \
                else torch.zeros(conv.out_channels)
            conv.weight.copy_(torch.from_numpy(w.copy()))
            if bn is None:
                if conv.bias is None:
                    if bool(b.abs().max() > 0):
                        raise RecoverError(f"convolution {k} ({node.name}) has a bias in "
                                           "the file but none in the network")
                else:
                    conv.bias.copy_(b)
                continue
            if conv.bias is not None:
                conv.bias.zero_()
            bn.running_mean.zero_()  # type: ignore[union-attr]
            bn.running_var.fill_(1.0 - bn.eps)  # type: ignore[union-attr]
            bn.weight.fill_(1.0)
            bn.bias.copy_(b)
            fixups.append((conv, bn, b))
    return fixups


@torch.no_grad()
def _restatisticize(net: nn.Module, fixups: list[Fixup], batches: list[Tensor],
                    ref_norms: dict[int, Tensor]) -> None:
    """Step 4: running statistics from real inputs, the eval-mode function unchanged.

    The fold multiplied each output channel's weights by g / sqrt(v + eps), a factor
    between about 0.1 and 4 here; AdamW's steps do not scale with a weight, so left
    like that a fine-tune would move some channels ten times faster than training did.
    Each channel is scaled back to the weight norm it had when training started
    (``ref_norms``: the ImageNet encoder, the decoder's initialisation), the BatchNorm's
    gamma taking the factor.
    """
    sums: dict[int, list[Tensor]] = {}

    def on_bn(module: nn.Module, inp: tuple[Tensor, ...]) -> None:
        x = inp[0].double()
        s = sums.setdefault(id(module), [torch.zeros(x.shape[1], dtype=torch.float64),
                                         torch.zeros(x.shape[1], dtype=torch.float64),
                                         torch.zeros((), dtype=torch.float64)])
        s[0] += x.sum(dim=(0, 2, 3))
        s[1] += (x * x).sum(dim=(0, 2, 3))
        s[2] += x.shape[0] * x.shape[2] * x.shape[3]

    hooks = [bn.register_forward_pre_hook(on_bn) for _, bn, _ in fixups]
    try:
        net.eval()
        for x in batches:
            net(x)
    finally:
        for h in hooks:
            h.remove()
    for conv, bn, b in fixups:
        total, squares, count = sums[id(bn)]
        mean = total / count  # of z' = W' x
        var = (squares / count - mean * mean).clamp(min=0.0)
        norm = conv.weight.double().flatten(1).norm(dim=1)
        scale = torch.ones_like(norm)
        ref = ref_norms.get(id(conv))
        if ref is not None:
            ok = (norm > 0) & (ref > 0)
            scale[ok] = norm[ok] / ref[ok]
        # W = W' / s, so z = z' / s; BN then computes s (z - mean / s) + b' + mean = z' + b'
        conv.weight.div_(scale.view(-1, 1, 1, 1).float())
        bn.running_mean.copy_((mean / scale).float())  # type: ignore[union-attr]
        bn.running_var.copy_((var / scale**2).float())  # type: ignore[union-attr]
        bn.weight.copy_((scale * torch.sqrt(var / scale**2 + bn.eps)).float())
        bn.bias.copy_(b + mean.float())


def _start_norms(family: str, options: dict[str, Any], args: dict[str, Any], net: nn.Module
                 ) -> tuple[dict[int, Tensor], str]:
    """Per-output-channel weight norms of each convolution of ``net`` as training began:
    the family built as ``train`` built it (ImageNet encoder unless the run said
    ``--no-pretrained``), keyed by the id of ``net``'s convolution."""
    start = dict(options)
    reference = "initialisation"
    if family == "liteseg" and not args.get("no_pretrained", False):
        start["pretrained"] = True
        reference = "imagenet encoder, initialised decoder"
    try:
        ref, _ = build(family, start, weights=args.get("encoder_weights"))
    except WeightsError:  # no ImageNet file here: the initialisation's norms still bound it
        start["pretrained"], reference = False, "initialisation (no ImageNet weights found)"
        ref, _ = build(family, start)
    mods = dict(ref.named_modules())
    norms: dict[int, Tensor] = {}
    for name, conv in net.named_modules():
        other = mods.get(name)
        if isinstance(conv, nn.Conv2d) and isinstance(other, nn.Conv2d):
            norms[id(conv)] = other.weight.detach().double().flatten(1).norm(dim=1)
    return norms, reference


def _agreement(wrapper: nn.Module, session: Any, variant: str, images: np.ndarray) -> float:
    """Share of pixels where the rebuilt network's mask equals ONNX Runtime's."""
    with torch.no_grad():
        if variant == "ids":
            want = wrapper.eval()(torch.from_numpy(images)).numpy()
            got = session.run(None, {"image": images})[0]
        else:
            nchw = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).astype(np.float32)
            t = wrapper.eval()(torch.from_numpy(nchw)).numpy()
            o = session.run(None, {"input": nchw})[0]
            want, got = t[:, 1] > t[:, 0], o[:, 1] > o[:, 0]
    return float((want == got).mean())


def recover(onnx_path: Path, data: Path, *, images: int = 48, seed: int = 0
            ) -> dict[str, Any]:
    """The checkpoint (``train``'s layout) of one of our exported ONNX files."""
    import cv2
    import onnx
    import onnxruntime as ort

    try:
        proto = onnx.load(str(onnx_path))
    except Exception as exc:  # protobuf raises several types for a damaged file
        raise RecoverError(f"{onnx_path}: not a readable ONNX file ({exc})") from exc
    meta = {p.key: p.value for p in proto.metadata_props}
    if any(n.op_type in ("DequantizeLinear", "QLinearConv") for n in proto.graph.node):
        raise RecoverError(f"{onnx_path}: an INT8 (quantized) model; recover from the fp32 "
                           "file it was quantized from")
    if "train_args" not in meta or meta.get("variant") not in ("ids", "logits"):
        raise RecoverError(f"{onnx_path}: no train_args / variant metadata: not exported "
                           "by `peoplesemseg export` (a checkpoint cannot be rebuilt)")
    args = _typed_train_args(meta["train_args"])
    family, preset = str(args.get("family", "shuffleseg")), str(args.get("preset", "default"))
    if family not in FAMILIES:
        raise RecoverError(f"{onnx_path}: unknown model family {family!r}")
    options = family_options(family, preset)
    if family != "shuffleseg":
        options["pretrained"] = False  # the file holds the weights
    net, config = build(family, options)
    variant = meta["variant"]
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    height, width = (dims[1], dims[2]) if variant == "ids" else (dims[2], dims[3])
    internal: tuple[int, int] | None = parse_size(meta.get("network_input",
                                                           f"{height}x{width}"))
    if internal == (height, width):
        internal = None
    margin = float(meta.get("person_margin", "0"))
    flip = meta.get("test_time_flip", "0")
    if flip not in ("0", "1"):
        raise RecoverError(f"{onnx_path}: test_time_flip metadata {flip!r} (expected 0 or 1)")
    seed_text = meta.get("seed_margin", "none")
    try:
        seed_margin = None if seed_text == "none" else float(seed_text)
    except ValueError as exc:
        raise RecoverError(f"{onnx_path}: seed_margin metadata {seed_text!r} (expected a "
                           "number or none)") from exc
    wrapper: nn.Module
    if variant == "ids":
        wrapper = DeployWrapper(net, internal, person_margin=margin, flip=flip == "1",
                                seed_margin=seed_margin)
    else:
        wrapper = LogitsWrapper(net, internal, person_margin=margin, flip=flip == "1")
    net_size = internal or (height, width)
    example = torch.zeros(1, 3, *net_size)
    fixups = _load_weights(wrapper, net, proto, example)
    ref_norms, reference = _start_norms(family, options, args, net)

    samples = read_split(data, "train", redistributable=bool(args.get("redistributable")))
    if not samples:
        raise RecoverError(f"no training images under {data} to measure BatchNorm statistics")
    rng = np.random.default_rng(seed)
    picked = [samples[int(i)] for i in rng.permutation(len(samples))[:images]]
    ds = SegmentationDataset(picked, net_size, train=False,
                             resize=str(args.get("resize", "letterbox")))
    batches = [to_input(torch.stack([ds[j][0] for j in range(i, min(i + 8, len(ds)))]),
                        torch.device("cpu")) for i in range(0, len(ds), 8)]
    _restatisticize(net, fixups, batches, ref_norms)

    check = np.stack([cv2.resize(load_sample(s)[0], (width, height)) for s in picked[:8]])
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    agreement = _agreement(wrapper, session, variant, check)
    if agreement < MIN_AGREEMENT:
        raise RecoverError(f"the rebuilt network agrees with {onnx_path.name} on only "
                           f"{agreement:.4%} of the pixels (needs {MIN_AGREEMENT:.1%})")
    val_miou = float(meta.get("val_miou_torch", "nan"))
    return {"model": net.state_dict(), "family": family, "model_config": config.to_dict(),
            "args": args, "epoch": int(meta.get("epoch", "-1")), "metrics": {"miou": val_miou},
            "recovered_from": {"onnx": onnx_path.name, "sha256_12": sha256_file(onnx_path)[:12],
                               "pixel_agreement": agreement, "person_margin": margin,
                               "test_time_flip": flip == "1", "seed_margin": seed_margin,
                               "internal": list(net_size), "bn_images": len(picked),
                               "weight_scale_reference": reference}}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("onnx", type=Path, help="an ids or logits ONNX written by `peoplesemseg "
                   "export` (e.g. peoplesemseg_ros/models/peoplesemseg_default.onnx)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    p.add_argument("--data", type=Path, default=Path("../shared/data/train"),
                   help="dataset root with splits/train.txt: images for the BatchNorm "
                   "statistics (default: ../shared/data/train)")
    p.add_argument("--images", type=int, default=48,
                   help="training images the statistics are measured on (default 48)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")


def run(args: argparse.Namespace) -> int:
    if not args.onnx.is_file():
        raise SystemExit(f"model not found: {args.onnx}")
    require_dataset(args.data)
    if args.images < 1:
        raise SystemExit("--images must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        state = recover(args.onnx, args.data, images=args.images)
    except RecoverError as exc:
        raise SystemExit(f"recover: {exc}") from exc
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(state, args.out)
    print(json.dumps({"checkpoint": str(args.out), "family": state["family"],
                      **state["recovered_from"]}))
    return 0

