"""INT8 calibration data for TensorRT 8.6 (implicit quantization, entropy calibrator 2).

Two layers, so the data side is testable without TensorRT or a GPU:

:class:`CalibrationBatches`
    a folder of images -> full batches in the model's input dtype and layout,
    through the node's own preprocessing (:mod:`peoplesemseg_ros.core.preprocess`:
    the same preset resolution and letterbox as at run time). Pure numpy / OpenCV.
:func:`create_entropy_calibrator`
    wraps the batches in a ``trt.IInt8EntropyCalibrator2`` that copies each batch
    into one device buffer, and reads / writes a calibration cache file so a
    rebuild of the same model skips calibration.

TensorRT >= 10 takes INT8 from a QDQ ONNX instead (explicit quantization, made by
``peoplesemseg quantize``); see :mod:`.engine`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core.backends.base import ModelIO
from peoplesemseg_ros.core.backends.engine_cache import atomic_write_bytes
from peoplesemseg_ros.core.backends.errors import BackendError
from peoplesemseg_ros.core.backends.onnx_io import onnx_model_io

__all__ = [
    "CALIB_LIMIT",
    "IMAGE_SUFFIXES",
    "CalibrationBatches",
    "create_entropy_calibrator",
    "image_set_digest",
    "list_images",
]

_LOG = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
CALIB_LIMIT = 512  # images used at most (evenly spread over the folder)


def list_images(folder: Path, limit: int | None = None) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted), evenly thinned to ``limit``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BackendError(f"calibration image folder not found: {folder}")
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise BackendError(f"no calibration images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    if limit is not None and len(found) > limit > 0:
        step = len(found) / limit
        found = [found[int(i * step)] for i in range(limit)]
    return found


def image_set_digest(images: Sequence[Path]) -> str:
    """Identity of a calibration set (names and sizes): part of the INT8 engine cache key."""
    h = hashlib.sha256()
    for p in images:
        h.update(f"{p.name}\0{p.stat().st_size}\n".encode())
    return h.hexdigest()


class CalibrationBatches:
    """Full batches of preprocessed images in the model's input form, in file order."""

    def __init__(self, images: Sequence[Path], io: ModelIO, batch_size: int,
                 preset: str = "auto", resize_mode: str = "letterbox") -> None:
        if not images:
            raise BackendError("no calibration images")
        if batch_size < 1:
            raise BackendError(f"calibration batch size must be >= 1, got {batch_size}")
        # The node's preprocessing, imported lazily (it pulls in OpenCV).
        from peoplesemseg_ros.core.preprocess import Preprocessor, resolve_spec

        self.images = list(images)
        self.io = io
        self.batch_size = min(batch_size, len(self.images))
        if io.max_batch is not None:
            self.batch_size = min(self.batch_size, io.max_batch)
        self._pre = Preprocessor(io, resolve_spec(preset, io), resize_mode, self.batch_size)
        if len(self.images) % self.batch_size:
            _LOG.info("calibration uses %d of %d images (whole batches of %d)",
                      len(self) * self.batch_size, len(self.images), self.batch_size)

    @classmethod
    def from_folder(cls, folder: Path, model: Path, batch_size: int,
                    limit: int | None = CALIB_LIMIT) -> CalibrationBatches:
        return cls(list_images(folder, limit), onnx_model_io(model), batch_size)

    def __len__(self) -> int:
        return len(self.images) // self.batch_size

    @property
    def batch_shape(self) -> tuple[int, ...]:
        rest = tuple(int(d) for d in self.io.input.shape[1:] if d is not None)
        return (self.batch_size, *rest)

    @property
    def dtype(self) -> np.dtype[np.generic]:
        return self.io.input.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.batch_shape)) * self.dtype.itemsize

    def __iter__(self) -> Iterator[NDArray[np.generic]]:
        import cv2

        for b in range(len(self)):
            rgbs: list[NDArray[np.uint8]] = []
            for path in self.images[b * self.batch_size:(b + 1) * self.batch_size]:
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise BackendError(f"cannot read calibration image {path}")
                rgbs.append(np.ascontiguousarray(bgr[..., ::-1]))
            batch, _ = self._pre.prepare(rgbs)
            yield batch  # a view of the preprocessor's buffer, valid until the next batch


def create_entropy_calibrator(batches: CalibrationBatches, cache_path: Path | None) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` over ``batches`` (needs TensorRT 8.6, a CUDA context).

    ``cache_path``: calibration cache read before and written after calibrating.
    Call ``.free()`` after the build; ``.error`` holds an exception raised while
    feeding a batch (TensorRT only sees "no more batches"), ``.batches_fed`` the count.
    """
    import pycuda.driver as cuda
    import tensorrt as trt

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)  # type: ignore[attr-defined]
            self._batches = iter(batches)
            self._host = cuda.pagelocked_empty(batches.batch_shape, batches.dtype)
            self._device = cuda.mem_alloc(batches.nbytes)
            self.batches_fed = 0
            self.error: BaseException | None = None

        def get_batch_size(self) -> int:
            return batches.batch_size

        # None ends calibration (TensorRT's documented contract; the stubs say list[int]).
        def get_batch(self, names: list[str]) -> list[int] | None:  # type: ignore[override]
            try:
                batch = next(self._batches, None)
            except Exception as exc:  # surfaced by the builder after the build returns
                _LOG.error("calibration stopped: %s", exc)
                self.error = exc
                return None
            if batch is None:
                return None
            self._host[...] = batch
            cuda.memcpy_htod(self._device, self._host)
            self.batches_fed += 1
            if self.batches_fed % 10 == 0:
                _LOG.info("calibration batch %d / %d", self.batches_fed, len(batches))
            return [int(self._device)]

        def read_calibration_cache(self) -> bytes | None:
            if cache_path is not None and cache_path.is_file():
                _LOG.info("using calibration cache %s", cache_path)
                return cache_path.read_bytes()
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            if cache_path is not None:
                atomic_write_bytes(cache_path, bytes(cache))
                _LOG.info("wrote calibration cache %s", cache_path)

        def free(self) -> None:
            self._device.free()
            if self.error is not None:
                raise BackendError(f"INT8 calibration failed: {self.error}") from self.error

    return EntropyCalibrator()
