"""Errors of the backend layer."""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "InferenceError",
    "ModelLoadError",
    "UnsupportedModelError",
]


class BackendError(Exception):
    """Base class of every backend error."""


class BackendUnavailableError(BackendError):
    """The backend's runtime (TensorRT, pycuda, a GPU, ...) is not present."""


class ModelLoadError(BackendError):
    """The model file is missing, truncated or cannot be parsed."""


class UnsupportedModelError(BackendError):
    """The model's inputs / outputs fit none of the supported forms."""


class InferenceError(BackendError):
    """Running a batch failed (the backend stays usable for the next one)."""
