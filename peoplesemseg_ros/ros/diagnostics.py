"""Counters and latency windows of the node, rendered as diagnostic_msgs at 1 Hz.

:class:`NodeStats` is thread-safe (subscription callbacks, the worker thread and
the diagnostics timer all touch it) and free of rclpy; :func:`to_status` builds
the ``DiagnosticStatus``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["CameraCounters", "NodeStats", "Snapshot", "to_status"]

_WINDOW = 300  # latency samples kept per stage


@dataclass
class CameraCounters:
    received: int = 0
    processed: int = 0
    published: int = 0
    dropped: int = 0  # overwritten in the mailbox: the worker was busy
    rate_limited: int = 0  # overwritten while max_rate_hz held the camera back


@dataclass(frozen=True)
class Snapshot:
    """One diagnostics report's figures (:meth:`NodeStats.snapshot`)."""

    frames_in: int
    frames_out: int
    input_fps: float  # since the previous snapshot
    output_fps: float
    dropped: int
    rate_limited: int
    rejected: dict[str, int]  # reason -> frames
    errors: dict[str, int]  # exception type -> batches
    latency_ms: dict[str, tuple[float, float]]  # stage -> (p50, p95)
    cameras: dict[str, CameraCounters]


@dataclass
class NodeStats:
    """What the diagnostics report; every method takes the lock."""

    cameras: dict[str, CameraCounters] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latency: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last: tuple[float, int, int] = (0.0, 0, 0)  # time, received, published at last report

    def add(self, camera: str, *, received: int = 0, processed: int = 0, published: int = 0,
            dropped: int = 0, rate_limited: int = 0) -> None:
        with self._lock:
            c = self.cameras.setdefault(camera, CameraCounters())
            c.received += received
            c.processed += processed
            c.published += published
            c.dropped += dropped
            c.rate_limited += rate_limited

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def add_latency(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.latency.setdefault(stage, deque(maxlen=_WINDOW)).append(seconds)

    def snapshot(self, now: float | None = None) -> Snapshot:
        """Totals, rates since the previous snapshot and latency percentiles (ms)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            cams = {k: replace(v) for k, v in self.cameras.items()}
            received = sum(c.received for c in cams.values())
            published = sum(c.published for c in cams.values())
            t0, r0, p0 = self._last
            dt = now - t0 if t0 else 0.0
            self._last = (now, received, published)
            lat: dict[str, tuple[float, float]] = {}
            for k, v in self.latency.items():
                if v:
                    p50, p95 = np.percentile(np.asarray(v) * 1000.0, [50, 95]).tolist()
                    lat[k] = (float(p50), float(p95))
            return Snapshot(
                frames_in=received, frames_out=published,
                input_fps=(received - r0) / dt if dt > 0 else 0.0,
                output_fps=(published - p0) / dt if dt > 0 else 0.0,
                dropped=sum(c.dropped for c in cams.values()),
                rate_limited=sum(c.rate_limited for c in cams.values()),
                rejected=dict(self.rejected), errors=dict(self.errors), latency_ms=lat,
                cameras=cams)


def to_status(name: str, hardware_id: str, snap: Snapshot, info: dict[str, str],
              level: int, message: str) -> Any:
    """A diagnostic_msgs/DiagnosticStatus with one key per figure."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    values: list[tuple[str, str]] = list(info.items())
    values += [("frames_in", str(snap.frames_in)), ("frames_out", str(snap.frames_out)),
               ("input_fps", f"{snap.input_fps:.2f}"),
               ("output_fps", f"{snap.output_fps:.2f}"),
               ("dropped_frames", str(snap.dropped)),
               ("rate_limited_frames", str(snap.rate_limited)),
               ("rejected_frames", str(sum(snap.rejected.values())))]
    values += [(f"rejected.{k}", str(v)) for k, v in sorted(snap.rejected.items())]
    values += [(f"errors.{k}", str(v)) for k, v in sorted(snap.errors.items())]
    for stage, (p50, p95) in sorted(snap.latency_ms.items()):
        values += [(f"latency_ms.{stage}.p50", f"{p50:.2f}"),
                   (f"latency_ms.{stage}.p95", f"{p95:.2f}")]
    for cam, counters in sorted(snap.cameras.items()):
        label = cam or "camera"
        values += [(f"{label}.{k}", str(v)) for k, v in asdict(counters).items()]
    return DiagnosticStatus(level=bytes([level]), name=name, message=message,
                            hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=v) for k, v in values])
