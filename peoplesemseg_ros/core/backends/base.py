"""The Backend protocol and the model I/O forms every backend understands.

A backend loads one model file and runs batches through it. It reports the
model's I/O as a :class:`ModelIO`, classified from the names, shapes and dtypes
the file declares (never guessed from the file name):

input
    ``uint8`` NHWC ``[N,H,W,3]`` (the embedded model: normalization in-graph), or
    ``float32``/``float16`` NHWC ``[N,H,W,3]`` or NCHW ``[N,3,H,W]``.
output
    class ids ``[N,H,W]`` or ``[N,1,H,W]`` (uint8 / int32 / int64),
    2-class logits NCHW ``[N,2,H,W]`` or NHWC ``[N,H,W,2]``,
    or a 1-channel person probability / sigmoid ``[N,1,H,W]`` / ``[N,H,W,1]`` (float).

Anything else raises :class:`UnsupportedModelError` with the model's I/O in the
message. :func:`to_class_map` turns any supported output into uint8 ids
``[N,H,W]`` (1 = person) with the fast path ``logit1 > logit0``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.backends.errors import UnsupportedModelError

__all__ = [
    "BackendOptions",
    "Backend",
    "InputLayout",
    "ModelIO",
    "OutputKind",
    "TensorInfo",
    "classify_io",
    "describe_io",
    "to_class_map",
]

Dim = int | None  # None (or a symbolic name mapped to None) = dynamic


class InputLayout(enum.Enum):
    NHWC = "NHWC"
    NCHW = "NCHW"


class OutputKind(enum.Enum):
    CLASS_IDS = "class_ids"  # [N,H,W] or [N,1,H,W] integer ids
    LOGITS_NCHW = "logits_nchw"  # [N,2,H,W] float
    LOGITS_NHWC = "logits_nhwc"  # [N,H,W,2] float
    SIGMOID_NCHW = "sigmoid_nchw"  # [N,1,H,W] float person probability
    SIGMOID_NHWC = "sigmoid_nhwc"  # [N,H,W,1] float person probability


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output as the model file declares it."""

    name: str
    shape: tuple[Dim, ...]
    dtype: np.dtype[np.generic]

    def __str__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype.name}[{dims}]"


@dataclass(frozen=True)
class ModelIO:
    """The classified I/O of a model: what the preprocessing must produce."""

    input: TensorInfo
    output: TensorInfo
    layout: InputLayout
    height: int
    width: int
    output_kind: OutputKind
    max_batch: int | None  # None: dynamic batch without a known bound

    @property
    def input_dtype(self) -> np.dtype[np.generic]:
        return self.input.dtype

    @property
    def takes_uint8(self) -> bool:
        return self.input.dtype == np.uint8


@dataclass(frozen=True)
class BackendOptions:
    """Options every factory accepts (each uses what applies to it)."""

    num_threads: int = 0  # 0: the runtime's default
    spinning: bool = False  # CPU threads spin-wait for work (ONNX Runtime's own default: True)
    precision: str = "fp32"  # fp32 | fp16 | int8 (TensorRT engine build)
    engine_cache_dir: Path | None = None  # None: the user's cache directory
    calib_images: Path | None = None  # INT8 calibration images (TensorRT)
    max_batch: int = 1  # largest batch the engine / session must accept
    device_id: int = 0


@runtime_checkable
class Backend(Protocol):
    """What the pipeline needs from an inference engine."""

    name: str
    io: ModelIO

    def infer(self, batch: NDArray[np.generic]) -> NDArray[np.generic]:
        """Run one batch (shape and dtype as ``io.input``, N >= 1); raw output."""
        ...

    def close(self) -> None:
        """Release the session / engine / device buffers. Idempotent."""
        ...


def describe_io(inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> str:
    ins = "; ".join(str(t) for t in inputs) or "none"
    outs = "; ".join(str(t) for t in outputs) or "none"
    return f"inputs [{ins}], outputs [{outs}]"


_FLOATS = (np.dtype(np.float32), np.dtype(np.float16))
_IDS = (np.dtype(np.uint8), np.dtype(np.int32), np.dtype(np.int64))


def _static(d: Dim) -> bool:
    return isinstance(d, int) and d > 0


def classify_io(inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> ModelIO:
    """Classify a model's declared I/O or raise UnsupportedModelError showing it."""

    def refuse(why: str) -> UnsupportedModelError:
        return UnsupportedModelError(
            f"unsupported model I/O ({why}): {describe_io(inputs, outputs)}. Supported: "
            "input uint8 NHWC [N,H,W,3] or float NHWC [N,H,W,3] / NCHW [N,3,H,W]; output "
            "class ids [N,H,W] (uint8/int32/int64), logits [N,2,H,W] / [N,H,W,2], or "
            "sigmoid [N,1,H,W] / [N,H,W,1]"
        )

    if len(inputs) != 1:
        raise refuse(f"expected exactly 1 input, found {len(inputs)}")
    if len(outputs) < 1:
        raise refuse("no output")
    inp = inputs[0]
    if len(inp.shape) != 4:
        raise refuse(f"input {inp.name!r} has rank {len(inp.shape)}, expected 4")
    _, a, b, c = inp.shape
    if c == 3 and _static(a) and _static(b):
        layout, height, width = InputLayout.NHWC, int(a), int(b)  # type: ignore[arg-type]
    elif a == 3 and _static(b) and _static(c):
        layout, height, width = InputLayout.NCHW, int(b), int(c)  # type: ignore[arg-type]
    else:
        raise refuse(f"input {inp.name!r} is neither NHWC [N,H,W,3] nor NCHW [N,3,H,W] "
                     "with a static height and width")
    if inp.dtype == np.uint8:
        if layout is not InputLayout.NHWC:
            raise refuse("uint8 input must be NHWC")
    elif inp.dtype not in _FLOATS:
        raise refuse(f"input dtype {inp.dtype.name} is not uint8, float32 or float16")

    out = outputs[0]
    shape = out.shape
    kind: OutputKind | None = None
    if out.dtype in _IDS:
        if len(shape) == 3 or (len(shape) == 4 and shape[1] == 1):
            kind = OutputKind.CLASS_IDS
    elif out.dtype in _FLOATS and len(shape) == 4:
        if shape[1] == 2:
            kind = OutputKind.LOGITS_NCHW
        elif shape[3] == 2:
            kind = OutputKind.LOGITS_NHWC
        elif shape[1] == 1:
            kind = OutputKind.SIGMOID_NCHW
        elif shape[3] == 1:
            kind = OutputKind.SIGMOID_NHWC
    if kind is None:
        raise refuse(f"output {out.name!r} is not class ids, 2-class logits or a sigmoid")
    batch = inp.shape[0]
    return ModelIO(input=inp, output=out, layout=layout, height=height, width=width,
                   output_kind=kind,
                   max_batch=batch if isinstance(batch, int) and batch > 0 else None)


def to_class_map(output: NDArray[np.generic], kind: OutputKind,
                 threshold: float = 0.5) -> NDArray[np.uint8]:
    """Any supported raw output -> uint8 ids [N,H,W], 1 = person."""
    if kind is OutputKind.CLASS_IDS:
        ids = output.reshape(output.shape[0], output.shape[-2], output.shape[-1]) \
            if output.ndim == 4 else output
        return ids.astype(np.uint8, copy=False)
    person: NDArray[np.bool_]
    if kind is OutputKind.LOGITS_NCHW:
        person = np.greater(output[:, 1], output[:, 0])
    elif kind is OutputKind.LOGITS_NHWC:
        person = np.greater(output[..., 1], output[..., 0])
    elif kind is OutputKind.SIGMOID_NCHW:
        person = np.greater(output[:, 0], threshold)
    else:
        person = np.greater(output[..., 0], threshold)
    return person.view(np.uint8)
