"""TensorRT backend: a serialized engine (or an ONNX built and cached) on one GPU.

Uses the TensorRT >= 8.6 name-based tensor API (``num_io_tensors``,
``get_tensor_name/mode/shape/dtype``, ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``) and pycuda: the device's primary
context (retained, pushed / popped around every call so any thread may call
:meth:`TensorRTBackend.infer`), one stream, page-locked host buffers and device
buffers allocated once for the largest batch. The engine's I/O goes through the
same :func:`classify_io` as ONNX Runtime, so both backends accept and refuse the
same models with the same message.

Importing this module never needs TensorRT or pycuda; they are imported when a
backend is created or :func:`tensorrt_available` is called.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.backends.base import BackendOptions, ModelIO, TensorInfo, classify_io
from peoplesemseg_ros.core.backends.engine import build_or_load_engine
from peoplesemseg_ros.core.backends.errors import (
    BackendUnavailableError,
    InferenceError,
    ModelLoadError,
    UnsupportedModelError,
)
from peoplesemseg_ros.core.backends.trt_runtime import (
    MIN_TRT_VERSION,
    CudaContext,
    tensorrt_available,
    trt_logger,
    trt_version_tuple,
)

if TYPE_CHECKING:  # checked against TensorRT type stubs where present (Any otherwise)
    import tensorrt as trt

__all__ = [
    "ENGINE_SUFFIXES",
    "MIN_TRT_VERSION",
    "TensorRTBackend",
    "TrtTensor",
    "classify_trt_io",
    "dims_tuple",
    "numpy_dtype",
    "tensor_info",
    "tensorrt_available",
    "trt_logger",
    "trt_version_tuple",
]

_LOG = logging.getLogger(__name__)
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


class TrtTensor(NamedTuple):
    """One engine I/O tensor as TensorRT reports it (-1 = dynamic)."""

    name: str
    is_input: bool
    shape: tuple[int, ...]
    dtype: np.dtype[np.generic]


def tensor_info(name: str, shape: Sequence[int], dtype: np.dtype[np.generic]) -> TensorInfo:
    return TensorInfo(name, tuple(None if int(d) < 0 else int(d) for d in shape), dtype)


def classify_trt_io(tensors: Sequence[TrtTensor]) -> ModelIO:
    """Engine I/O -> ModelIO (UnsupportedModelError exactly as for ONNX Runtime)."""
    inputs = [tensor_info(t.name, t.shape, t.dtype) for t in tensors if t.is_input]
    outputs = [tensor_info(t.name, t.shape, t.dtype) for t in tensors if not t.is_input]
    return classify_io(inputs, outputs)


def dims_tuple(dims: Any) -> tuple[int, ...]:
    """A ``trt.Dims`` (or any sequence) as a tuple of ints (-1 stays -1)."""
    return tuple(int(dims[i]) for i in range(len(dims)))


def numpy_dtype(nptype: Callable[[Any], Any], trt_dtype: Any, name: str) -> np.dtype[np.generic]:
    """numpy dtype of a TensorRT type via ``trt.nptype``; BF16 / FP8 / INT4 are refused."""
    try:
        dt: np.dtype[np.generic] = np.dtype(nptype(trt_dtype))
    except TypeError as exc:
        raise UnsupportedModelError(
            f"tensor {name!r} has TensorRT type {trt_dtype} with no numpy equivalent") from exc
    return dt


class TensorRTBackend:
    """A TensorRT engine behind the :class:`Backend` protocol."""

    name = "tensorrt"

    def __init__(self, model_path: Path, options: BackendOptions | None = None) -> None:
        opts = options or BackendOptions()
        ok, why = tensorrt_available(opts.device_id)
        if not ok:
            raise BackendUnavailableError(
                f"backend 'tensorrt' is not usable here: {why}. Use backend 'onnxruntime' (or "
                "'auto', which falls back to it); see docs/tensorrt.md to install TensorRT")
        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}")
        import pycuda.driver as cuda

        self._cuda = cuda
        self._lock = threading.Lock()
        self._closed = False
        self._device_mem: dict[str, Any] = {}
        self._host_in: NDArray[Any] | None = None
        self._host_out: NDArray[Any] | None = None
        self._runtime: trt.Runtime | None = None
        self._engine: trt.ICudaEngine | None = None
        self._context: trt.IExecutionContext | None = None
        self._dynamic = True
        self.capacity = 1
        self._stream: Any = None
        self._ctx = CudaContext(cuda, opts.device_id)
        self.gpu_name = self._ctx.gpu_name
        self.engine_path = path
        self.built = False
        try:
            with self._ctx.active():
                self._load(path, opts)
        except BaseException:
            self.close()
            raise

    # -- loading ---------------------------------------------------------------------------

    def _load(self, path: Path, opts: BackendOptions) -> None:
        import tensorrt as trt

        if path.suffix.lower() == ".onnx":
            result = build_or_load_engine(path, opts, gpu_name=self.gpu_name)
            blob, self.engine_path, self.built = result.engine, result.path, result.built
        elif path.suffix.lower() in ENGINE_SUFFIXES:
            blob = path.read_bytes()
        else:
            raise ModelLoadError(f"{path}: expected an .onnx, .engine or .plan file")
        self._runtime = runtime = trt.Runtime(trt_logger())
        self._engine = engine = runtime.deserialize_cuda_engine(blob)
        if engine is None:
            raise ModelLoadError(
                f"TensorRT {trt.__version__} could not deserialize {self.engine_path}: engines "
                "only load on the TensorRT version and GPU model they were built with; rebuild "
                "it (peoplesemseg build-engine) or pass the .onnx")
        tensors = []
        for i in range(engine.num_io_tensors):
            tname = engine.get_tensor_name(i)
            tensors.append(TrtTensor(
                tname, engine.get_tensor_mode(tname) == trt.TensorIOMode.INPUT,
                dims_tuple(engine.get_tensor_shape(tname)),
                numpy_dtype(trt.nptype, engine.get_tensor_dtype(tname), tname)))
        io = classify_trt_io(tensors)
        in_name = io.input.name
        declared = io.input.shape[0]
        if declared is None:
            profile_max = dims_tuple(engine.get_tensor_profile_shape(in_name, 0)[2])[0]
            capacity = max(1, min(opts.max_batch, profile_max))
            if opts.max_batch > profile_max:
                _LOG.warning("engine %s accepts batches up to %d; max_batch %d is split",
                             self.engine_path, profile_max, opts.max_batch)
        else:
            capacity = declared
        self._dynamic = declared is None
        # ModelIO.max_batch stays None for a dynamic engine (the pipeline pads only static
        # batches); ``capacity`` is the buffers' size, larger batches run in chunks.
        self.io = io
        self.capacity = capacity
        self._context = context = engine.create_execution_context()
        if context is None:
            raise ModelLoadError("TensorRT could not create an execution context (GPU memory?)")
        full_in = (capacity, *(int(d or 0) for d in io.input.shape[1:]))
        if self._dynamic and not context.set_input_shape(in_name, full_in):
            raise ModelLoadError(f"engine rejects input shape {full_in} for {in_name!r}")
        cuda = self._cuda
        for t in tensors:
            shape = full_in if t.is_input else dims_tuple(context.get_tensor_shape(t.name))
            if any(d < 0 for d in shape):
                raise UnsupportedModelError(
                    f"output {t.name!r} has a data-dependent shape {shape}; not supported")
            nbytes = int(np.prod(shape)) * t.dtype.itemsize
            self._device_mem[t.name] = cuda.mem_alloc(max(nbytes, 1))
            if not context.set_tensor_address(t.name, int(self._device_mem[t.name])):
                raise ModelLoadError(f"TensorRT refused the address of tensor {t.name!r}")
            if t.name == in_name:
                self._host_in = cuda.pagelocked_empty(shape, t.dtype)
            elif t.name == io.output.name:
                self._host_out = cuda.pagelocked_empty(shape, t.dtype)
        self._stream = cuda.Stream()
        _LOG.info("TensorRT %s engine %s on %s: %s -> %s, batch <= %d", trt.__version__,
                  self.engine_path, self.gpu_name, io.input, io.output, capacity)

    # -- inference -------------------------------------------------------------------------

    def infer(self, batch: NDArray[np.generic]) -> NDArray[np.generic]:
        expected = self.io.input
        if batch.ndim != len(expected.shape) or tuple(batch.shape[1:]) != tuple(
                expected.shape[1:]) or batch.shape[0] < 1:
            raise InferenceError(f"batch {batch.dtype}{list(batch.shape)} does not fit the "
                                 f"engine input {expected}")
        if batch.dtype != expected.dtype:
            raise InferenceError(f"batch dtype {batch.dtype} != engine input {expected}")
        with self._lock:
            if self._closed:
                raise InferenceError("the tensorrt backend is closed")
            cap = self.capacity
            parts = [self._run(batch[i:i + cap]) for i in range(0, batch.shape[0], cap)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _run(self, chunk: NDArray[np.generic]) -> NDArray[np.generic]:
        assert self._host_in is not None and self._host_out is not None
        context = self._context
        assert context is not None
        n = chunk.shape[0]
        in_name, out_name = self.io.input.name, self.io.output.name
        cuda = self._cuda
        try:
            with self._ctx.active():
                run_n = n if self._dynamic else self._host_in.shape[0]
                self._host_in[:n] = chunk
                if self._dynamic and not context.set_input_shape(
                        in_name, (n, *self._host_in.shape[1:])):
                    raise InferenceError(f"engine rejects batch {n} for {in_name!r}")
                out_shape = dims_tuple(context.get_tensor_shape(out_name))
                if out_shape != (run_n, *self._host_out.shape[1:]):
                    raise InferenceError(f"unexpected output shape {out_shape} for batch {run_n}")
                cuda.memcpy_htod_async(self._device_mem[in_name], self._host_in[:run_n],
                                       self._stream)
                if not context.execute_async_v3(stream_handle=self._stream.handle):
                    raise InferenceError("TensorRT execute_async_v3 failed (see the TensorRT log)")
                cuda.memcpy_dtoh_async(self._host_out[:run_n], self._device_mem[out_name],
                                       self._stream)
                self._stream.synchronize()
                return self._host_out[:n].copy()
        except cuda.Error as exc:
            raise InferenceError(f"CUDA error during TensorRT inference: {exc}") from exc

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        """Free buffers, context and engine, release the CUDA context. Idempotent."""
        lock = getattr(self, "_lock", None)
        with lock if lock is not None else contextlib.nullcontext():
            if getattr(self, "_closed", True) or not hasattr(self, "_ctx"):
                return
            self._closed = True
            errors: list[BaseException] = []
            try:
                with self._ctx.active():
                    if self._stream is not None:
                        self._stream.synchronize()
                    self._context = None  # TensorRT frees on the last reference
                    self._engine = None
                    self._runtime = None
                    for mem in self._device_mem.values():
                        mem.free()
                    self._device_mem.clear()
                    for host in (self._host_in, self._host_out):
                        base: Any = None if host is None else host.base
                        if base is not None and hasattr(base, "free"):
                            base.free()  # pycuda HostAllocation behind pagelocked_empty
                    self._host_in = self._host_out = None
                    self._stream = None
            except Exception as exc:
                _LOG.error("error while releasing TensorRT resources: %s", exc)
                errors.append(exc)
            self._ctx.release()
            if errors:
                raise InferenceError(f"closing the tensorrt backend failed: {errors[0]}") \
                    from errors[0]
