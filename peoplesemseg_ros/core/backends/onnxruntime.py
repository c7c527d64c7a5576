"""ONNX Runtime backend: CPU everywhere, CUDA / TensorRT execution providers when present.

The model's I/O is read from the session (names, shapes, dtypes) and classified
by :func:`~peoplesemseg_ros.core.backends.base.classify_io`; a model that fits none of
the supported forms is refused with its I/O in the message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.backends.base import ModelIO, TensorInfo, classify_io
from peoplesemseg_ros.core.backends.errors import (
    BackendUnavailableError,
    InferenceError,
    ModelLoadError,
)

__all__ = ["OnnxRuntimeBackend", "onnx_type_to_dtype"]

_ORT_TYPES: dict[str, type[np.generic]] = {
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(bool)": np.bool_,
}


def onnx_type_to_dtype(type_str: str) -> np.dtype[np.generic]:
    """ONNX Runtime's ``tensor(float)`` -> ``np.dtype('float32')``; unknown -> object."""
    return np.dtype(_ORT_TYPES.get(type_str, np.object_))


def _info(arg: Any) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in arg.shape)
    return TensorInfo(name=str(arg.name), shape=shape, dtype=onnx_type_to_dtype(str(arg.type)))


class OnnxRuntimeBackend:
    """``Backend`` over an ``onnxruntime.InferenceSession``."""

    name = "onnxruntime"

    def __init__(self, model_path: Path, options: Any = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailableError(f"onnxruntime cannot be imported: {exc}") from exc
        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}")
        so = ort.SessionOptions()
        threads = int(getattr(options, "num_threads", 0) or 0)
        if threads > 0:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        wanted = os.environ.get("PEOPLESEMSEG_ORT_PROVIDERS", "")
        available = ort.get_available_providers()
        if wanted:
            providers = [p for p in wanted.split(",") if p in available] or ["CPUExecutionProvider"]
        else:
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                         if p in available]
        try:
            self._session = ort.InferenceSession(str(path), sess_options=so, providers=providers)
        except Exception as exc:  # onnxruntime raises several private exception types
            raise ModelLoadError(f"cannot load {path} with ONNX Runtime: {exc}") from exc
        inputs = [_info(a) for a in self._session.get_inputs()]
        outputs = [_info(a) for a in self._session.get_outputs()]
        self.io: ModelIO = classify_io(inputs, outputs)
        self.providers: list[str] = list(self._session.get_providers())
        self.precision = "fp16" if self.io.input_dtype == np.float16 else "fp32"
        self._in = self.io.input.name
        self._out = [self.io.output.name]
        self._closed = False

    def infer(self, batch: NDArray[np.generic]) -> NDArray[np.generic]:
        if self._closed:
            raise InferenceError("backend is closed")
        try:
            result = self._session.run(self._out, {self._in: batch})
        except Exception as exc:  # runtime errors surface as private onnxruntime types
            raise InferenceError(f"ONNX Runtime failed on a batch of {batch.shape}: {exc}") \
                from exc
        out: NDArray[np.generic] = np.asarray(result[0])
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            del self._session
