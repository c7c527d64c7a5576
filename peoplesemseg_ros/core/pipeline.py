"""The one inference path: RGB images -> masks (node, bag processing, infer, bench).

``Pipeline(config)`` loads a backend, resolves the preprocessing for the model's
I/O and runs batches: preprocess into a preallocated buffer -> backend ->
class map -> mono8 mask at each image's own resolution. Per-stage wall times of
the last batch are in :attr:`Pipeline.last_timings` (seconds).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.core import postprocess
from peoplesemseg_ros.core.backends import (
    Backend,
    BackendOptions,
    ModelLoadError,
    create_backend,
    select_backend,
)
from peoplesemseg_ros.core.backends.base import to_class_map
from peoplesemseg_ros.core.hashing import sha256_file
from peoplesemseg_ros.core.preprocess import (
    RESIZE_MODES,
    Preprocessor,
    PreprocessSpec,
    resolve_spec,
)

__all__ = [
    "EMBEDDED_MODELS",
    "EMBEDDED_MODEL_NAME",
    "STAGES",
    "Pipeline",
    "PipelineConfig",
    "embedded_model_path",
    "resolve_resize_mode",
    "model_id",
]

# The models shipped under models/ by name (parameter `model`); see models/MODEL.md.
EMBEDDED_MODELS: Final = {
    "default": "peoplesemseg_default.onnx",
    "default_int8": "peoplesemseg_default_int8.onnx",
    "default_single": "peoplesemseg_default_single.onnx",
    "fast": "peoplesemseg_fast.onnx",
    "fast_int8": "peoplesemseg_fast_int8.onnx",
}
EMBEDDED_MODEL_NAME: Final = EMBEDDED_MODELS["default"]
STAGES: Final = ("preprocess", "inference", "postprocess")


def embedded_model_path(name: str = "default") -> Path:
    """The ONNX model ``name`` shipped inside the package (package data under ``models/``)."""
    if name not in EMBEDDED_MODELS:
        raise ModelLoadError(f"unknown embedded model {name!r}; choose one of "
                             f"{', '.join(EMBEDDED_MODELS)} or set model_path")
    path = Path(__file__).resolve().parents[1] / "models" / EMBEDDED_MODELS[name]
    if not path.is_file():
        raise ModelLoadError(
            f"the embedded model {name!r} ({EMBEDDED_MODELS[name]}) is missing from "
            f"{path.parent} (a broken install, or a checkout without the trained model): "
            "reinstall the package or set model_path to an ONNX / engine file")
    return path


def model_id(path: Path) -> str:
    """``<file name>@<first 12 hex digits of its sha256>``."""
    return f"{Path(path).name}@{sha256_file(path)[:12]}"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that decides what a mask looks like (and how fast it comes)."""

    model_path: Path | None = None  # None: the embedded model named by `model`
    model: str = "default"  # default | default_single | fast | default_int8 | fast_int8
    backend: str = "auto"  # auto | onnxruntime | tensorrt
    preprocessing: str = "auto"  # auto | embedded | tao_unet | isaac_ros | unit
    color_order: str = ""  # "" (preset) | rgb | bgr
    scale: tuple[float, ...] = ()  # () (preset) | 1 or 3 values
    offset: tuple[float, ...] = ()  # () (preset) | 1 or 3 values
    resize_mode: str = "auto"  # auto (the model's metadata, else letterbox) | letterbox | stretch
    mask_value: int = 255
    num_threads: int = 0  # 0: the runtime's default
    spinning: bool = False  # ONNX Runtime threads spin-wait between inferences (its default: on)
    max_batch: int = 1
    precision: str = "fp32"  # fp32 | fp16 | int8 (TensorRT engine build)
    engine_cache_dir: Path | None = None
    calib_images: Path | None = None
    overlay_alpha: float = 0.5
    overlay_color: tuple[int, int, int] = field(default=postprocess.DEFAULT_OVERLAY_COLOR)

    def resolved_model_path(self) -> Path:
        return embedded_model_path(self.model) if self.model_path is None \
            else Path(self.model_path)


def resolve_resize_mode(mode: str, backend: Backend) -> str:
    """``auto``: the ``resize_mode`` the model's metadata names (our exports record how
    the network was trained), else ``letterbox``; any other value is used as given."""
    if mode != "auto":
        return mode
    metadata = getattr(backend, "metadata", None) or {}
    wanted = str(metadata.get("resize_mode", "letterbox"))
    return wanted if wanted in RESIZE_MODES else "letterbox"


class Pipeline:
    """Loads the model once; ``segment`` turns RGB images into masks."""

    def __init__(self, config: PipelineConfig) -> None:
        if config.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {config.max_batch}")
        if not 1 <= config.mask_value <= 255:
            raise ValueError(f"mask_value must be in 1..255, got {config.mask_value}")
        self.config = config
        path = config.resolved_model_path()
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}")
        self.model_path = path
        self.model_id = model_id(path)
        self.backend_name, self.backend_reason = select_backend(config.backend)
        options = BackendOptions(num_threads=config.num_threads, spinning=config.spinning,
                                 precision=config.precision,
                                 engine_cache_dir=config.engine_cache_dir,
                                 calib_images=config.calib_images, max_batch=config.max_batch)
        self.backend: Backend = create_backend(self.backend_name, path, options)
        try:
            io = self.backend.io
            self.spec: PreprocessSpec = resolve_spec(
                config.preprocessing, io, config.color_order, config.scale, config.offset)
            # A static model batch B runs every chunk as B images (padded); dynamic: max_batch.
            self._chunk = io.max_batch if io.max_batch is not None else config.max_batch
            self._pad = io.max_batch is not None
            self.resize_mode = resolve_resize_mode(config.resize_mode, self.backend)
            self.preprocessor = Preprocessor(io, self.spec, self.resize_mode,
                                             max(self._chunk, 1))
        except Exception:
            self.backend.close()
            raise
        self.precision = str(getattr(self.backend, "precision", config.precision))
        self.last_timings: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._closed = False

    @property
    def io_description(self) -> str:
        io = self.backend.io
        return f"in {io.input}, out {io.output} ({io.output_kind.value})"

    def segment(self, images: Sequence[NDArray[np.uint8]],
                mask_value: int | None = None) -> list[NDArray[np.uint8]]:
        """RGB ``HxWx3`` uint8 images (any sizes) -> mono8 ``HxW`` masks, same order."""
        if self._closed:
            raise RuntimeError("pipeline is closed")
        value = self.config.mask_value if mask_value is None else mask_value
        times = dict.fromkeys(STAGES, 0.0)
        masks: list[NDArray[np.uint8]] = []
        kind = self.backend.io.output_kind
        for start in range(0, len(images), self._chunk):
            chunk = images[start:start + self._chunk]
            t0 = time.perf_counter()
            batch, geoms = self.preprocessor.prepare(
                chunk, pad_to=self._chunk if self._pad else None)
            t1 = time.perf_counter()
            raw = self.backend.infer(batch)
            t2 = time.perf_counter()
            ids = to_class_map(raw, kind)
            masks.extend(postprocess.class_map_to_mask(ids[i], g, value)
                         for i, g in enumerate(geoms))
            t3 = time.perf_counter()
            times["preprocess"] += t1 - t0
            times["inference"] += t2 - t1
            times["postprocess"] += t3 - t2
        self.last_timings = times
        return masks

    def overlay(self, rgb: NDArray[np.uint8], mask: NDArray[np.uint8],
                alpha: float | None = None) -> NDArray[np.uint8]:
        a = self.config.overlay_alpha if alpha is None else alpha
        return postprocess.overlay(rgb, mask, a, self.config.overlay_color)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.backend.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
