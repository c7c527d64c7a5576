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

from peoplesemseg_ros.core.backends.base import ModelIO, classify_io
from peoplesemseg_ros.core.backends.errors import (
    BackendUnavailableError,
    InferenceError,
    ModelLoadError,
)
from peoplesemseg_ros.core.backends.onnx_io import ort_tensor_info

__all__ = ["OnnxRuntimeBackend"]

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
        # Spin-waiting threads burn a core between inferences; on a busy CPU they compete
        # with the very work they wait for (docs/performance.md, "A busy CPU").
        spin = "1" if bool(getattr(options, "spinning", True)) else "0"
        so.add_session_config_entry("session.intra_op.allow_spinning", spin)
        so.add_session_config_entry("session.inter_op.allow_spinning", spin)
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
        inputs = [ort_tensor_info(a) for a in self._session.get_inputs()]
        outputs = [ort_tensor_info(a) for a in self._session.get_outputs()]
        self.io: ModelIO = classify_io(inputs, outputs)
        self.providers: list[str] = list(self._session.get_providers())
        # the exporter's notes (family, resize_mode, ...): the pipeline's `auto` reads them
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)
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
