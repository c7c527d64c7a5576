"""Model-only latency / throughput of any :class:`Backend` (``peoplesemseg bench model``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .base import Backend

__all__ = ["bench_backend", "synthetic_batch"]


def synthetic_batch(backend: Backend, batch: int, seed: int = 0) -> NDArray[np.generic]:
    """A random batch in the backend's input shape and dtype (uint8 0..255, float [-1, 1])."""
    info = backend.io.input
    shape = (batch, *(int(d) for d in info.shape[1:] if d is not None))
    rng = np.random.default_rng(seed)
    if info.dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.uniform(-1.0, 1.0, shape).astype(info.dtype)


def bench_backend(backend: Backend, batch: int = 1, warmup: int = 10,
                  iters: int = 100) -> dict[str, Any]:
    """Run ``warmup`` untimed then ``iters`` timed ``infer`` calls on one synthetic batch.

    Latency is per call (the whole batch); throughput is images per second over
    the timed calls. Host <-> device copies are included (``infer`` returns host data).
    """
    if batch < 1 or iters < 1 or warmup < 0:
        raise ValueError(f"need batch >= 1, iters >= 1, warmup >= 0 (got {batch}, {iters}, "
                         f"{warmup})")
    data = synthetic_batch(backend, batch)
    for _ in range(warmup):
        backend.infer(data)
    times = np.empty(iters, np.float64)
    for i in range(iters):
        t0 = time.perf_counter()
        backend.infer(data)
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    return {
        "backend": backend.name,
        # the GPU (tensorrt) or execution providers (onnxruntime), when the backend says
        "device": getattr(backend, "gpu_name", None)
        or ",".join(getattr(backend, "providers", None) or []) or None,
        "batch": batch,
        "warmup": warmup,
        "iters": iters,
        "input": str(backend.io.input),
        "latency_ms_p50": float(np.percentile(ms, 50)),
        "latency_ms_p95": float(np.percentile(ms, 95)),
        "latency_ms_mean": float(ms.mean()),
        "throughput_fps": float(batch * iters / times.sum()),
    }
