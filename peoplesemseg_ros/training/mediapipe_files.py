"""Where the MediaPipe selfie segmentation files are (no torch: the benchmark uses it too)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["ENV_DIR", "FILES", "TFLiteWeightsError", "find_tflite"]

FILES = {"landscape": "selfie_segmentation_landscape.tflite",
         "square": "selfie_segmentation.tflite"}
ENV_DIR = "PEOPLESEMSEG_MEDIAPIPE_DIR"


class TFLiteWeightsError(RuntimeError):
    """The MediaPipe model file is missing, unreadable or holds an op we do not port."""


def find_tflite(variant: str, path: Path | None = None) -> Path:
    """The ``.tflite`` file of ``variant``: ``path``, else ``$PEOPLESEMSEG_MEDIAPIPE_DIR``,
    else ``<venv>/share/peoplesemseg/mediapipe`` (where ``make install-dev`` puts it)."""
    if variant not in FILES:
        raise TFLiteWeightsError(f"unknown MediaPipe variant {variant!r}; known: "
                                 f"{', '.join(FILES)}")
    candidates = [path] if path else [
        Path(os.environ[ENV_DIR]) / FILES[variant] if os.environ.get(ENV_DIR) else None,
        Path(sys.prefix) / "share" / "peoplesemseg" / "mediapipe" / FILES[variant]]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise TFLiteWeightsError(
        f"MediaPipe model {FILES[variant]} not found (looked at "
        f"{', '.join(str(c) for c in candidates if c)}); run `make install-dev`, which "
        f"unpacks it from the npm package @mediapipe/selfie_segmentation, or set {ENV_DIR}")
