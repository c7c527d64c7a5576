"""Model-only latency / throughput of any :class:`Backend` (``peoplesemseg bench model``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.backends.base import Backend

__all__ = ["bench_backend", "synthetic_batch", "time_infer"]


def synthetic_batch(backend: Backend, batch: int, seed: int = 0) -> NDArray[np.generic]:
    """A random batch in the backend's input shape and dtype (uint8 0..255, float [-1, 1])."""
    info = backend.io.input
    shape = (batch, *(int(d) for d in info.shape[1:] if d is not None))
    rng = np.random.default_rng(seed)
    if info.dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.uniform(-1.0, 1.0, shape).astype(info.dtype)


def time_infer(backend: Backend, data: NDArray[np.generic], warmup: int, iters: int,
               period_s: float = 0.0) -> NDArray[np.float64]:
    """Seconds of each of ``iters`` timed ``infer(data)`` calls after ``warmup`` untimed ones.

    ``period_s`` > 0 paces the calls like a camera (one call per period, idle in
    between): on a loaded box a call after an idle gap is slower than back-to-back
    calls (caches, scheduling), and that is the latency a node at that rate sees.
    """
    if iters < 1 or warmup < 0 or period_s < 0:
        raise ValueError(f"need iters >= 1, warmup >= 0, period_s >= 0, got {iters}, {warmup}, "
                         f"{period_s}")
    for _ in range(warmup):
        backend.infer(data)
    times = np.empty(iters, np.float64)
    next_t = time.perf_counter()
    for i in range(iters):
        if period_s > 0:
            next_t += period_s
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # the camera's frame period (pacing, not synchronisation)
        t0 = time.perf_counter()
        backend.infer(data)
        times[i] = time.perf_counter() - t0
    return times


def bench_backend(backend: Backend, batch: int = 1, warmup: int = 10,
                  iters: int = 100) -> dict[str, Any]:
    """Run ``warmup`` untimed then ``iters`` timed ``infer`` calls on one synthetic batch.

    Latency is per call (the whole batch); throughput is images per second over
    the timed calls. Host <-> device copies are included (``infer`` returns host data).
    """
    if batch < 1 or iters < 1 or warmup < 0:
        raise ValueError(f"need batch >= 1, iters >= 1, warmup >= 0 (got {batch}, {iters}, "
                         f"{warmup})")
    times = time_infer(backend, synthetic_batch(backend, batch), warmup, iters)
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
