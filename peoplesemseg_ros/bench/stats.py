"""Latency summaries: percentiles in milliseconds, throughput."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["summarize", "summarize_ms", "tail_ms"]


def summarize_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """Durations in seconds -> ``{n, p50_ms, p95_ms, mean_ms, min_ms, max_ms}``."""
    if len(seconds) == 0:
        raise ValueError("no samples to summarize")
    arr = np.asarray(seconds, dtype=np.float64) * 1000.0
    if not np.all(np.isfinite(arr)):
        raise ValueError("non-finite duration in samples")
    return {
        "n": int(arr.size),
        "p50_ms": float(np.percentile(arr, 50)),
        "p95_ms": float(np.percentile(arr, 95)),
        "mean_ms": float(arr.mean()),
        "min_ms": float(arr.min()),
        "max_ms": float(arr.max()),
    }


def summarize(seconds: Sequence[float], items_per_sample: int = 1) -> dict[str, float | int]:
    """:func:`summarize_ms` plus ``throughput_fps`` = items / mean duration."""
    out = summarize_ms(seconds)
    mean_s = float(out["mean_ms"]) / 1000.0
    out["throughput_fps"] = items_per_sample / mean_s if mean_s > 0 else math.inf
    return out


def tail_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Durations in seconds -> ``{p50_ms, p90_ms, max_ms, n}`` (NaNs and n 0 when empty):
    the median and tail figures of the alternating-round benchmarks."""
    if len(seconds) == 0:
        return {"p50_ms": math.nan, "p90_ms": math.nan, "max_ms": math.nan, "n": 0}
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "max_ms": float(ms.max()), "n": int(ms.size)}
