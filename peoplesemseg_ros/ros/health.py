"""The node's diagnostics level and message, decided from its counters (no rclpy).

Worst first: ERROR when configure failed or the last ``max_consecutive_failures``
inference batches all failed; WARN when not active, when a camera sent nothing
for ``input_timeout`` seconds, or when masks out per second fell below
``min_output_ratio`` of images in per second (capped at ``max_rate_hz`` per
camera); else OK. Every problem found is in the message, worst first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from peoplesemseg_ros.ros.diagnostics import Snapshot

__all__ = ["ERROR", "OK", "WARN", "Health", "evaluate", "load_error"]

OK: Final = 0
WARN: Final = 1
ERROR: Final = 2


@dataclass(frozen=True)
class Health:
    level: int
    message: str


def evaluate(*, state: str, last_error: str, failures: int, failure_message: str,
             snap: Snapshot, last_rx: Mapping[str, float], now: float,
             input_timeout: float, min_output_ratio: float, max_consecutive_failures: int,
             max_rate_hz: float) -> Health:
    """``snap`` is :meth:`~peoplesemseg_ros.ros.diagnostics.NodeStats.snapshot`;
    ``last_rx`` camera -> time of its newest image."""
    if last_error:
        return Health(ERROR, f"configure failed: {last_error}")
    if state != "active":
        return Health(WARN, f"not active ({state})")
    errors: list[str] = []
    warns: list[str] = []
    if failures >= max_consecutive_failures:
        errors.append(f"inference failed {failures} times in a row (frames dropped): "
                      f"{failure_message}")
    if input_timeout > 0:
        for cam, t in sorted(last_rx.items()):
            idle = now - t
            if idle > input_timeout:
                warns.append(f"no image on camera {cam or '(default)'} for {idle:.1f} s "
                             f"(input_timeout {input_timeout:g} s)")
    fps_in, fps_out = snap.input_fps, snap.output_fps
    expected = fps_in
    if max_rate_hz > 0:
        expected = min(expected, max_rate_hz * max(1, len(last_rx)))
    # below 2 fps one frame straddling the 1 s window would flap the level
    if min_output_ratio > 0 and expected >= 2.0 and fps_out < min_output_ratio * expected:
        warns.append(f"output {fps_out:.1f} fps is below {min_output_ratio:g} x input "
                     f"{expected:.1f} fps")
    counts = (f"{fps_out:.1f} fps out, {snap.dropped} dropped, "
              f"{sum(snap.rejected.values())} rejected")
    if errors:
        return Health(ERROR, "; ".join([*errors, *warns, counts]))
    if warns:
        return Health(WARN, "; ".join([*warns, counts]))
    return Health(OK, counts)


def load_error(exc: Exception, cfg: Any) -> str:
    """``Type: message`` of a model load failure, naming the model file when it does not."""
    text = f"{type(exc).__name__}: {exc}"
    model = cfg.model_path or "the embedded model"
    return text if (cfg.model_path and cfg.model_path in text) else f"{text} [model_path: {model}]"
