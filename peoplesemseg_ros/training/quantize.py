"""`peoplesemseg quantize`: a statically quantized INT8 (QDQ) ONNX for CPU and TensorRT.

Two targets: ``cpu`` (uint8 activations with zero points, int8 weights: ONNX
Runtime's fastest x86 kernels) and ``tensorrt`` (int8 activations and weights,
symmetric, zero point 0: the only QDQ form TensorRT's explicit quantization
accepts).

Calibration runs images through the same letterbox the node uses (centred,
aspect kept, zero padding) into the model's input, collects activation ranges
with ONNX Runtime and writes QuantizeLinear/DequantizeLinear pairs around the
convolutions (QDQ format): ONNX Runtime CPU fuses them into integer kernels,
and TensorRT >= 10 reads the same file as an explicitly quantized network.
Needs only onnx + onnxruntime (no torch).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.preprocess import letterbox

__all__ = ["add_arguments", "calibration_batches", "quantize_int8", "run"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def _find_images(sources: Sequence[Path], limit: int) -> list[Path]:
    found: list[Path] = []
    for src in sources:
        if src.is_file() and src.suffix == ".txt":  # a split list relative to its parent's parent
            root = src.parent.parent
            found += [root / line.strip() for line in src.read_text().splitlines() if line.strip()]
        elif src.is_dir():
            found += sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif src.is_file():
            found.append(src)
    if not found:
        raise FileNotFoundError(f"no calibration images in {', '.join(map(str, sources))}")
    # spread the picks over the whole list (sources are grouped in split files)
    step = max(1, len(found) // limit) if limit else 1
    return found[::step][: limit or None]


def calibration_batches(images: Sequence[Path], height: int, width: int, *,
                        nchw_float: bool = False, resize_mode: str = "letterbox",
                        ) -> Iterator[NDArray[np.generic]]:
    """One image per batch, resized as the node will (letterbox or stretch), in the
    model's input form."""
    for path in images:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"cannot read calibration image {path}")
        full = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)
        rgb = np.asarray(cv2.resize(full, (width, height), interpolation=cv2.INTER_LINEAR),
                         np.uint8) if resize_mode == "stretch" else letterbox(full, height, width)
        if nchw_float:
            yield rgb.transpose(2, 0, 1)[None].astype(np.float32)
        else:
            yield rgb[None]


TARGETS = ("cpu", "tensorrt")


def quantize_int8(model: Path, out: Path, images: Sequence[Path], *,
                  per_channel: bool = True, target: str = "cpu") -> Path:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    symmetric = target == "tensorrt"
    proto = onnx.load(str(model))
    inp = proto.graph.input[0]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    nchw = dims[1] == 3
    height, width = (dims[2], dims[3]) if nchw else (dims[1], dims[2])
    metadata = {p.key: p.value for p in proto.metadata_props}
    batches = calibration_batches(images, height, width, nchw_float=nchw,
                                  resize_mode=metadata.get("resize_mode", "letterbox"))

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def get_next(self) -> dict[str, NDArray[np.generic]] | None:
            batch = next(batches, None)
            return None if batch is None else {inp.name: batch}

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        pre = Path(tmpdir) / "pre.onnx"
        quant_pre_process(str(model), str(pre), skip_symbolic_shape=True)
        tmp_out = Path(tmpdir) / "int8.onnx"
        quantize_static(
            str(pre), str(tmp_out), Reader(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel, calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=["Conv", "ConvTranspose", "MaxPool", "Add", "Mul", "Concat",
                                  "Resize", "Relu", "Clip"],
            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True},
        )
        quantized = onnx.load(str(tmp_out))
        del quantized.metadata_props[:]  # the float model's notes (resize_mode, family...)
        for key, value in {**metadata, "variant": f"{metadata.get('variant', 'ids')} int8 "
                           f"QDQ ({target})"}.items():
            entry = quantized.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(quantized, str(out))
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="float ONNX (the embedded ids model or logits)")
    p.add_argument("--out", type=Path, required=True, help="output INT8 QDQ .onnx")
    p.add_argument("--calib", type=Path, nargs="+", required=True,
                   help="image folders, files or split lists (splits/train.txt)")
    p.add_argument("--num-images", type=int, default=128, help="calibration images (default 128)")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")
    p.add_argument("--target", choices=TARGETS, default="cpu",
                   help="cpu: ONNX Runtime (uint8 activations); tensorrt: symmetric int8 QDQ")


def run(args: argparse.Namespace) -> int:
    if not args.model.is_file():
        raise SystemExit(f"model not found: {args.model}")
    images = _find_images(args.calib, args.num_images)
    out = quantize_int8(args.model, args.out, images, per_channel=not args.per_tensor,
                        target=args.target)
    print(json.dumps({"onnx": str(out), "bytes": out.stat().st_size,
                      "calibration_images": len(images), "target": args.target}))
    return 0
