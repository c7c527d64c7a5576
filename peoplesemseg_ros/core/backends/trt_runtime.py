"""TensorRT runtime plumbing shared by the backend and the engine builder.

:func:`tensorrt_available` (what is installed, never raises), the version parser,
the process-wide TensorRT logger and :class:`CudaContext` (the device's primary
context, pushed / popped around every call). :mod:`.tensorrt` (the backend) and
:mod:`.engine` (build + cache) both import from here, so neither imports the other
back. Importing this module needs neither TensorRT nor pycuda.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from peoplesemseg_ros.core.backends.errors import InferenceError

__all__ = ["MIN_TRT_VERSION", "CudaContext", "tensorrt_available", "trt_logger",
           "trt_version_tuple"]

MIN_TRT_VERSION = (8, 6)


def trt_version_tuple(version: str) -> tuple[int, ...]:
    """``"10.13.0.35"`` -> ``(10, 13, 0, 35)``; ``"8.6.1.post1"`` -> ``(8, 6, 1)``."""
    parts: list[int] = []
    for piece in version.split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def _trt_module_problem(module: ModuleType) -> str | None:
    """Why an importable ``tensorrt`` is not a usable TensorRT (None: it is)."""
    version = getattr(module, "__version__", None)
    if not isinstance(version, str) or not hasattr(module, "Runtime"):
        where = getattr(module, "__path__", None) or getattr(module, "__file__", "?")
        return (f"the importable 'tensorrt' ({where}) is not the TensorRT runtime; a stubs-only "
                "package such as tensorrt-stubs installs a bare 'tensorrt' folder")
    if trt_version_tuple(version) < MIN_TRT_VERSION:
        return f"TensorRT {version} is too old (need >= 8.6 for the name-based tensor API)"
    return None


def tensorrt_available(device_id: int = 0) -> tuple[bool, str]:
    """(True, what was found) or (False, why not). Never raises."""
    try:
        import tensorrt as trt
    except Exception as exc:  # ImportError, or OSError when libnvinfer is missing
        return False, f"the tensorrt Python package does not import ({exc})"
    problem = _trt_module_problem(trt)
    if problem:
        return False, problem
    try:
        import pycuda.driver as cuda
    except Exception as exc:
        return False, f"pycuda does not import ({exc})"
    try:
        cuda.init()
        count = int(cuda.Device.count())
        if count == 0:
            return False, "no CUDA GPU found"
        if not 0 <= device_id < count:
            return False, f"device_id {device_id} out of range ({count} CUDA GPU(s))"
        gpu = str(cuda.Device(device_id).name())
    except Exception as exc:  # pycuda.driver.Error: no driver, no device, ...
        return False, f"CUDA driver not usable ({exc})"
    return True, f"TensorRT {trt.__version__} + pycuda on GPU {device_id} ({gpu})"


_LOGGER: Any = None


def trt_logger() -> Any:
    """The process-wide TensorRT logger, forwarding to Python logging."""
    global _LOGGER
    if _LOGGER is None:
        import tensorrt as trt

        levels = {
            trt.ILogger.Severity.INTERNAL_ERROR: logging.CRITICAL,
            trt.ILogger.Severity.ERROR: logging.ERROR,
            trt.ILogger.Severity.WARNING: logging.WARNING,
            trt.ILogger.Severity.INFO: logging.DEBUG,
            trt.ILogger.Severity.VERBOSE: logging.DEBUG,
        }
        log = logging.getLogger("tensorrt")

        class _Logger(trt.ILogger):  # type: ignore[misc]
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.errors: list[str] = []

            def log(self, severity: Any, msg: str) -> None:
                level = levels.get(severity, logging.INFO)
                if level < logging.WARNING and not log.isEnabledFor(level):
                    return  # the builder's many INFO / VERBOSE lines: skip cheaply
                if level >= logging.ERROR:
                    self.errors.append(msg)
                    del self.errors[:-20]
                log.log(level, "%s", msg)

        _LOGGER = _Logger()
    return _LOGGER


class CudaContext:
    """The device's primary context, retained once, made current per call."""

    def __init__(self, cuda: Any, device_id: int) -> None:
        cuda.init()
        device = cuda.Device(device_id)
        self.gpu_name = str(device.name())
        self._cuda = cuda
        self._ctx: Any = device.retain_primary_context()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        if self._ctx is None:
            raise InferenceError("the CUDA context was released (backend closed)")
        self._ctx.push()
        try:
            yield
        finally:
            self._cuda.Context.pop()

    def release(self) -> None:
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            ctx.detach()
