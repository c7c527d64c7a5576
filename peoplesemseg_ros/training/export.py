"""`peoplesemseg export`: a training checkpoint -> deployable ONNX files.

Two variants, both opset 17 with a dynamic batch dimension:

``ids`` (the embedded contract)
    input ``image`` uint8 RGB NHWC ``[N,544,960,3]``; normalization, the network
    and the class decision (logit1 > logit0) in the graph; output ``class_ids``
    uint8 ``[N,544,960]``. The node only resizes.
``logits`` (TensorRT INT8 calibration, NVIDIA-style pipelines)
    input ``input`` float32 RGB NCHW ``[N,3,544,960]`` in 0..255 (normalization
    in the graph: preprocessing ``unit`` with ``scale: [255.0]``); output
    ``logits`` float32 ``[N,2,544,960]``.

``--from-onnx IDS.onnx --variant logits`` cuts the logits variant out of a
shipped ids model (no torch, no checkpoint): the subgraph from the float cast
of the input to the logits feeding the class decision.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from peoplesemseg_ros.core.hashing import sha256_file

from .families import FAMILIES, restore
from .model import DeployWrapper, LogitsWrapper
from .runargs import checkpoint_args, eval_size, parse_size, public_args
from .variants import logits_from_ids

__all__ = ["add_arguments", "export_onnx", "load_checkpoint_model", "logits_from_ids", "run"]

OPSET = 17
HEIGHT, WIDTH = 544, 960


def load_checkpoint_model(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The trained network of a checkpoint (any family, eval mode) and the checkpoint."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model, _ = restore(state)
    return model, state


def export_onnx(model: nn.Module, out: Path, *, variant: str = "ids",
                height: int = HEIGHT, width: int = WIDTH,
                internal: tuple[int, int] | None = None, family: str = "shuffleseg",
                metadata: dict[str, str] | None = None, person_margin: float = 0.0,
                flip: bool = False, seed_margin: float | None = None) -> Path:
    """Export ``model`` (eval mode) to ``out``; returns ``out``.

    The graph's input is ``height`` x ``width``; with ``internal`` the network
    runs at that size inside the graph (see :class:`.model.DeployWrapper`); with
    ``person_margin`` the decision is logit1 - logit0 > margin (both variants' logits
    carry the shift); with ``flip`` the logits are the mean over the frame and its mirror
    image (test-time flip, twice the compute); with ``seed_margin`` (ids only) a person
    region is kept only if one of its pixels has logit1 - logit0 > seed_margin
    (:class:`.model.SeedFilter`).
    """
    model = model.eval()
    wrapper: nn.Module
    if variant == "ids":
        wrapper = DeployWrapper(model, internal, person_margin=person_margin, flip=flip,
                                seed_margin=seed_margin).eval()
        example = torch.zeros(1, height, width, 3, dtype=torch.uint8)
        names_in, names_out = ["image"], ["class_ids"]
    elif variant == "logits":
        if seed_margin is not None:
            raise ValueError("a seed margin filters the class decision: only the ids "
                             "variant has one")
        wrapper = LogitsWrapper(model, internal, person_margin=person_margin, flip=flip).eval()
        example = torch.zeros(1, 3, height, width, dtype=torch.float32)
        names_in, names_out = ["input"], ["logits"]
    else:
        raise ValueError(f"variant must be 'ids' or 'logits', got {variant!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(
            wrapper, (example,), str(tmp), opset_version=OPSET, dynamo=False,
            input_names=names_in, output_names=names_out,
            dynamic_axes={names_in[0]: {0: "N"}, names_out[0]: {0: "N"}},
            do_constant_folding=True,
        )
    import onnx

    proto = onnx.load(str(tmp))
    props = {"model_family": FAMILIES[family].description,
             "classes": "0 background, 1 person", "variant": variant,
             "network_input": "x".join(map(str, internal or (height, width))),
             "person_margin": f"{person_margin:g}",
             "test_time_flip": "1" if flip else "0",
             "seed_margin": "none" if seed_margin is None else f"{seed_margin:g}",
             **(metadata or {})}
    # The tracer leaves the resize-derived output dims symbolic; they are static.
    static = [height, width] if variant == "ids" else [2, height, width]
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    for dim, size in zip(list(dims)[1:], static, strict=True):
        dim.Clear()
        dim.dim_value = size
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    return out


def _portable(value: Any) -> str:
    """A training argument as text for the model's metadata; an absolute path keeps only
    its last part, so no machine's directory layout ships inside a model file."""
    text = str(value)
    return f".../{Path(text).name}" if Path(text).is_absolute() else text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, nargs="?", help="training checkpoint (best.pt)")
    p.add_argument("--from-onnx", type=Path,
                   help="instead of a checkpoint: cut --variant logits from this ids ONNX")
    p.add_argument("--out", type=Path, required=True, help="output .onnx path")
    p.add_argument("--variant", choices=["ids", "logits"], default="ids")
    p.add_argument("--height", type=int, default=HEIGHT)
    p.add_argument("--width", type=int, default=WIDTH)
    p.add_argument("--internal", default="",
                   help="HxW the network runs at inside the graph (default: the input size; "
                   "use the training scale, e.g. 288x512, or `train`: the checkpoint's "
                   "evaluation size, its --canvas or else --size)")
    p.add_argument("--person-margin", type=float, default=0.0,
                   help="person where logit1 - logit0 > this (default 0: argmax); choose it "
                   "on val with `peoplesemseg calibrate`")
    p.add_argument("--flip", action="store_true",
                   help="test-time flip inside the graph: average the logits of the frame "
                   "and its mirror image (twice the compute; see MODEL.md for what it buys)")
    p.add_argument("--seed-margin", type=float, default=None,
                   help="hysteresis (ids variant): keep a person region only if one of its "
                   "pixels has logit1 - logit0 above this (>= --person-margin); weak regions "
                   "without such a seed, typical phantoms, are dropped (default: off)")


def run(args: argparse.Namespace) -> int:
    if args.from_onnx:
        if args.variant != "logits" or not args.from_onnx.is_file():
            raise SystemExit("--from-onnx needs an existing ids ONNX and --variant logits")
        out = logits_from_ids(args.from_onnx, args.out)
        print(json.dumps({"onnx": str(out), "bytes": out.stat().st_size, "variant": "logits"}))
        return 0
    if args.checkpoint is None or not args.checkpoint.is_file():
        raise SystemExit(f"checkpoint not found: {args.checkpoint}")
    model, state = load_checkpoint_model(args.checkpoint)
    saved = checkpoint_args(state)
    if args.internal == "train":
        internal: tuple[int, int] | None = eval_size(saved)
    else:
        internal = parse_size(args.internal) if args.internal else None
    if internal == (args.height, args.width):
        internal = None
    meta = {"epoch": str(state.get("epoch")),
            "val_miou_torch": f"{state.get('metrics', {}).get('miou', float('nan')):.4f}",
            "train_args": json.dumps({k: _portable(v) for k, v in
                                      public_args(state.get("args", {})).items()}),
            # the node's resize_mode `auto` follows this
            "resize_mode": str(saved["resize"])}
    try:
        out = export_onnx(model, args.out, variant=args.variant, height=args.height,
                          width=args.width, internal=internal,
                          family=str(state.get("family", "shuffleseg")), metadata=meta,
                          person_margin=args.person_margin, flip=args.flip,
                          seed_margin=args.seed_margin)
    except ValueError as exc:  # a seed margin on logits, or below the person margin
        raise SystemExit(f"export: {exc}") from exc
    digest = sha256_file(out)[:12]
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"onnx": str(out), "bytes": out.stat().st_size, "sha256_12": digest,
                      "parameters": params, "variant": args.variant}))
    return 0
