"""An ONNX model's inputs and outputs as ONNX Runtime reports them: one dtype table.

Used by the onnxruntime backend (from its live session), by INT8 calibration and by
the TensorRT engine builder (from the file, read with a CPU session and no graph
optimization, so nothing is compiled). Unknown element types map to ``object``, which
:func:`~peoplesemseg_ros.core.backends.base.classify_io` refuses with its usual message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from peoplesemseg_ros.core.backends.base import ModelIO, TensorInfo, classify_io
from peoplesemseg_ros.core.backends.errors import ModelLoadError

__all__ = ["ORT_DTYPES", "onnx_model_io", "onnx_tensors", "onnx_type_to_dtype", "ort_tensor_info"]

ORT_DTYPES: dict[str, type[np.generic]] = {
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
    return np.dtype(ORT_DTYPES.get(type_str, np.object_))


def ort_tensor_info(arg: Any) -> TensorInfo:
    """An ``onnxruntime.NodeArg`` -> TensorInfo (symbolic or non-positive dims -> None)."""
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in arg.shape)
    return TensorInfo(name=str(arg.name), shape=shape, dtype=onnx_type_to_dtype(str(arg.type)))


def onnx_tensors(path: Path) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """(inputs, outputs) of the ONNX file (ModelLoadError when ONNX Runtime cannot read it)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph / ...
        raise ModelLoadError(f"cannot read ONNX model {path}: {exc}") from exc
    return ([ort_tensor_info(a) for a in sess.get_inputs()],
            [ort_tensor_info(a) for a in sess.get_outputs()])


def onnx_model_io(path: Path) -> ModelIO:
    """Classified I/O of an ONNX file (UnsupportedModelError for a model none of the forms fit)."""
    inputs, outputs = onnx_tensors(path)
    return classify_io(inputs, outputs)
