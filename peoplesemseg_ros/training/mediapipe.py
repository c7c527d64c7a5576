"""MediaPipe selfie segmentation ported to torch, fine-tunable.

Google's selfie segmentation networks (``selfie_segmentation.tflite`` 256x256 and
``selfie_segmentation_landscape.tflite`` 144x256, Apache-2.0, from the npm package
``@mediapipe/selfie_segmentation`` or the ``mediapipe`` wheel) are small
MobileNetV3-style encoder-decoders (~100k parameters, fp16 weights). This module
reads the flatbuffer with the ``tflite`` package and rebuilds the graph op by op
in torch (NCHW inside), every weight an ``nn.Parameter``: the same network, now
trainable at our resolutions and exportable to ONNX.

Ops covered: CONV_2D, DEPTHWISE_CONV_2D (TF "SAME" padding), ADD, MUL, RELU,
HARD_SWISH, LOGISTIC, MEAN (global pooling), RESIZE_BILINEAR, DEQUANTIZE (fp16
weights) and MediaPipe's custom ``Convolution2DTransposeBias``. The last
LOGISTIC is dropped: the module returns two-class logits ``[0, z]`` so that
``z > 0`` is the person decision, as for the other families. The network's
input is RGB in [0, 1]; :class:`MediaPipeSeg` takes our ImageNet-normalized
input and undoes that normalization first.
"""

from __future__ import annotations

import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mediapipe_files import TFLiteWeightsError, find_tflite
from .model import MEAN, STD

__all__ = ["MediaPipeConfig", "MediaPipeSeg", "TFLiteWeightsError", "find_tflite",
           "build_mediapipe"]

@dataclass(frozen=True)
class _Op:
    kind: str
    inputs: tuple[int, ...]
    output: int
    options: dict[str, Any]


def same_pads(size_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]
              ) -> tuple[int, int, int, int]:
    """TensorFlow 'SAME' padding (left, right, top, bottom): the extra pixel goes right /
    bottom. Computed once from the graph's shapes, so the export holds constants."""
    pads: list[int] = []
    for size, k, s in ((size_hw[1], kernel[1], stride[1]), (size_hw[0], kernel[0], stride[0])):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return pads[0], pads[1], pads[2], pads[3]


def _act(x: Tensor, code: int) -> Tensor:
    if code == 0:
        return x
    if code == 1:
        return F.relu(x)
    if code == 3:
        return F.relu6(x)
    raise TFLiteWeightsError(f"fused activation {code} is not ported")


class TFLiteNet(nn.Module):
    """A tflite graph of the ops above, rebuilt in torch; NCHW float in, last tensor out."""

    def __init__(self, path: Path, *, drop_final_logistic: bool = True) -> None:
        super().__init__()
        try:
            import tflite
        except ImportError as exc:
            raise TFLiteWeightsError("reading MediaPipe models needs the `tflite` package "
                                     "(pip install '.[train]')") from exc
        try:
            buf = path.read_bytes()
            model = tflite.Model.GetRootAsModel(buf, 0)
            graph = model.Subgraphs(0) if model.SubgraphsLength() else None
        except Exception as exc:  # the flatbuffer reader raises several types
            raise TFLiteWeightsError(f"{path}: not a readable .tflite file ({exc})") from exc
        if graph is None or not graph.OperatorsLength():
            raise TFLiteWeightsError(f"{path}: not a readable .tflite file (no graph)")
        names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items()
                 if not k.startswith("_")}
        consts: dict[int, np.ndarray[Any, Any]] = {}
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            data = model.Buffers(tensor.Buffer()).DataAsNumpy()
            if isinstance(data, np.ndarray) and data.size:
                dtype = {0: np.float32, 1: np.float16, 2: np.int32}.get(tensor.Type())
                if dtype is None:
                    raise TFLiteWeightsError(f"{path}: tensor type {tensor.Type()} not ported")
                shape = tuple(int(s) for s in tensor.ShapeAsNumpy()) if tensor.ShapeLength() \
                    else ()
                consts[t] = np.frombuffer(data.tobytes(), dtype=dtype).reshape(shape)
        self.params = nn.ParameterDict()
        ops: list[_Op] = []
        alias: dict[int, int] = {}
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code_entry = model.OperatorCodes(op.OpcodeIndex())
            code = max(code_entry.BuiltinCode(), code_entry.DeprecatedBuiltinCode())
            kind = names.get(code, str(code))
            if kind == "CUSTOM":
                kind = code_entry.CustomCode().decode()
            ins = [alias.get(int(j), int(j)) for j in op.InputsAsNumpy()]
            out = int(op.OutputsAsNumpy()[0])
            if kind == "DEQUANTIZE":
                consts[out] = consts[ins[0]].astype(np.float32)
                continue
            options = self._options(kind, op, tflite, consts, ins, lambda t: tuple(
                int(v) for v in graph.Tensors(t).ShapeAsNumpy()[1:3]))
            ops.append(_Op(kind, tuple(ins), out, options))
        if drop_final_logistic and ops and ops[-1].kind == "LOGISTIC":
            last = ops.pop()
            alias[last.output] = last.inputs[0]
        self.ops = ops
        self.input_index = int(graph.InputsAsNumpy()[0])
        self.output_index = ops[-1].output
        shape = graph.Tensors(self.input_index).ShapeAsNumpy()
        self.input_hw = (int(shape[1]), int(shape[2]))
        for op in ops:  # weights become parameters, in torch layout
            for j in op.inputs[1:]:
                if j in consts and op.kind not in ("MEAN", "RESIZE_BILINEAR"):
                    self.params[str(j)] = nn.Parameter(
                        torch.from_numpy(self._to_torch(op.kind, consts[j], j == op.inputs[1])))

    @staticmethod
    def _options(kind: str, op: Any, tflite: Any, consts: dict[int, Any], ins: list[int],
                 op_input_hw: Any) -> dict[str, Any]:
        table = op.BuiltinOptions()
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            cls = tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions
            o = cls()
            o.Init(table.Bytes, table.Pos)
            if o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
                raise TFLiteWeightsError(f"{kind} with dilation is not ported")
            stride = (o.StrideH(), o.StrideW())
            kh, kw = (int(v) for v in consts[ins[1]].shape[1:3])
            pads = same_pads(op_input_hw(ins[0]), (kh, kw), stride) if o.Padding() == 0 \
                else (0, 0, 0, 0)
            return {"stride": stride, "pads": pads, "act": o.FusedActivationFunction()}
        if kind in ("ADD", "MUL"):
            cls = tflite.AddOptions if kind == "ADD" else tflite.MulOptions
            o = cls()
            o.Init(table.Bytes, table.Pos)
            return {"act": o.FusedActivationFunction()}
        if kind == "MEAN":
            axes = tuple(int(a) for a in consts[ins[1]].reshape(-1))
            if sorted(axes) != [1, 2]:
                raise TFLiteWeightsError(f"MEAN over axes {axes} is not ported")
            return {}
        if kind == "RESIZE_BILINEAR":
            o = tflite.ResizeBilinearOptions()
            o.Init(table.Bytes, table.Pos)
            if o.AlignCorners():
                raise TFLiteWeightsError("RESIZE_BILINEAR with align_corners is not ported")
            size = tuple(int(s) for s in consts[ins[1]].reshape(-1))
            native = op_input_hw(ins[0])
            # relative to the input, so the network also runs at other resolutions
            return {"size": size, "factor": (size[0] / native[0], size[1] / native[1])}
        if kind == "Convolution2DTransposeBias":
            raw = bytes(op.CustomOptionsAsNumpy())
            padding, stride_w, stride_h = struct.unpack("<3i", raw[:12])
            return {"stride": (stride_h, stride_w), "same": padding == 1}
        if kind in ("RELU", "HARD_SWISH", "LOGISTIC"):
            return {}
        raise TFLiteWeightsError(f"tflite op {kind} is not ported")

    @staticmethod
    def _to_torch(kind: str, array: Any, is_weight: bool) -> Any:
        a = np.ascontiguousarray(array, dtype=np.float32)
        if not is_weight or a.ndim != 4:
            return a
        if kind == "CONV_2D":  # [O, KH, KW, I] -> [O, I, KH, KW]
            return np.ascontiguousarray(a.transpose(0, 3, 1, 2))
        if kind == "DEPTHWISE_CONV_2D":  # [1, KH, KW, C] -> [C, 1, KH, KW]
            return np.ascontiguousarray(a.transpose(3, 0, 1, 2))
        if kind == "Convolution2DTransposeBias":  # [O, KH, KW, I] -> [I, O, KH, KW]
            return np.ascontiguousarray(a.transpose(3, 0, 1, 2))
        return np.ascontiguousarray(a.transpose(0, 3, 1, 2))  # NHWC constant -> NCHW

    def _get(self, values: dict[int, Tensor], index: int) -> Tensor:
        if index in values:
            return values[index]
        param: Tensor = self.params[str(index)]
        return param

    def forward(self, x: Tensor) -> Tensor:
        values: dict[int, Tensor] = {self.input_index: x}
        for op in self.ops:
            a = values[op.inputs[0]]
            o = op.options
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = self._get(values, op.inputs[1])
                b = self._get(values, op.inputs[2]) if len(op.inputs) > 2 else None
                left, right, top, bottom = o["pads"]
                if left == right and top == bottom:  # symmetric: the conv pads itself
                    padding: tuple[int, int] = (top, left)
                else:
                    a = F.pad(a, [left, right, top, bottom])
                    padding = (0, 0)
                groups = int(w.shape[0]) if op.kind == "DEPTHWISE_CONV_2D" else 1
                y = _act(F.conv2d(a, w, b, o["stride"], padding, 1, groups), o["act"])
            elif op.kind in ("ADD", "MUL"):
                other = self._get(values, op.inputs[1])
                y = _act(a + other if op.kind == "ADD" else a * other, o["act"])
            elif op.kind == "RELU":
                y = F.relu(a)
            elif op.kind == "HARD_SWISH":
                y = F.hardswish(a)
            elif op.kind == "LOGISTIC":
                y = torch.sigmoid(a)
            elif op.kind == "MEAN":
                y = a.mean(dim=(2, 3), keepdim=True)
            elif op.kind == "RESIZE_BILINEAR":
                y = F.interpolate(a, scale_factor=o["factor"], mode="bilinear",
                                  align_corners=False)
            else:  # Convolution2DTransposeBias
                w = self._get(values, op.inputs[1])
                b = self._get(values, op.inputs[2])
                y = F.conv_transpose2d(a, w, b, o["stride"])
            values[op.output] = y
        return values[self.output_index]


@dataclass(frozen=True)
class MediaPipeConfig:
    variant: str = "landscape"
    pretrained: bool = True  # False: same graph, weights left as read (restored later)
    family: str = field(default="mediapipe", init=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaPipeConfig:
        return cls(**{k: v for k, v in data.items() if k != "family"})


class MediaPipeSeg(nn.Module):
    """ImageNet-normalized NCHW in -> two-class logits ``[0, z]`` at the input size."""

    mean: Tensor
    std: Tensor

    def __init__(self, config: MediaPipeConfig, path: Path | None = None) -> None:
        super().__init__()
        self.config = config
        self.net = TFLiteNet(find_tflite(config.variant, path))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        rgb01 = x * self.std + self.mean  # back to the [0, 1] RGB MediaPipe was trained on
        z = self.net(rgb01)
        if z.shape[-2:] != x.shape[-2:]:
            z = F.interpolate(z, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat((torch.zeros_like(z), z), dim=1)


def build_mediapipe(*, config: MediaPipeConfig | None = None,
                    weights: Path | None = None) -> MediaPipeSeg:
    """The ported network (MediaPipe's weights; a checkpoint then overwrites them)."""
    return MediaPipeSeg(config or MediaPipeConfig(), weights)
