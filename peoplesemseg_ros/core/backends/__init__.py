"""Inference backends: one Protocol, a name -> factory map, and ``auto`` selection.

Factories are imported lazily so that a missing optional runtime (TensorRT,
pycuda) never breaks importing the package; it surfaces as
:class:`BackendUnavailableError` when that backend is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from peoplesemseg_ros.core.backends.base import (
    Backend,
    BackendOptions,
    InputLayout,
    ModelIO,
    OutputKind,
    TensorInfo,
    classify_io,
    to_class_map,
)
from peoplesemseg_ros.core.backends.errors import (
    BackendError,
    BackendUnavailableError,
    InferenceError,
    ModelLoadError,
    UnsupportedModelError,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendOptions",
    "BackendUnavailableError",
    "InferenceError",
    "InputLayout",
    "ModelIO",
    "ModelLoadError",
    "OutputKind",
    "TensorInfo",
    "UnsupportedModelError",
    "classify_io",
    "create_backend",
    "select_backend",
    "to_class_map",
]


Factory = Callable[[Path, BackendOptions], Backend]

# name -> "module:callable"; the callable is Factory-shaped.
BACKENDS: dict[str, str] = {
    "onnxruntime": "peoplesemseg_ros.core.backends.onnxruntime:OnnxRuntimeBackend",
    "tensorrt": "peoplesemseg_ros.core.backends.tensorrt:TensorRTBackend",
}


def _factory(name: str) -> Factory:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise BackendError(
            f"unknown backend {name!r}; choose one of: auto, {', '.join(sorted(BACKENDS))}"
        ) from None
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailableError(f"backend {name!r} cannot be imported: {exc}") from exc
    factory: Factory = getattr(module, attr)
    return factory


def select_backend(requested: str) -> tuple[str, str]:
    """Resolve ``auto`` to a concrete backend name; returns (name, why)."""
    if requested != "auto":
        _factory(requested)  # validates the name
        return requested, "requested explicitly"
    try:
        from peoplesemseg_ros.core.backends.tensorrt import tensorrt_available
    except ImportError as exc:
        return "onnxruntime", f"TensorRT backend not importable ({exc})"

    ok, why = tensorrt_available()
    if ok:
        return "tensorrt", why
    return "onnxruntime", f"TensorRT not usable ({why}); {_onnxruntime_device()}"


def _onnxruntime_device() -> str:
    """Where the onnxruntime backend will run: its CUDA provider when this build has one."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return f"onnxruntime does not import either ({exc})"
    if "CUDAExecutionProvider" in ort.get_available_providers():
        return "ONNX Runtime with the CUDA execution provider (GPU)"
    return "ONNX Runtime on CPU (no CUDA execution provider in this onnxruntime build)"


def create_backend(name: str, model_path: Path, options: BackendOptions | None = None) -> Backend:
    """Load ``model_path`` with backend ``name`` (``auto`` allowed)."""
    resolved, _ = select_backend(name)
    return _factory(resolved)(Path(model_path), options or BackendOptions())
