"""``bench model``: model-only latency and throughput per backend, precision, batch, threads.

Each configuration loads its own backend, runs ``warmup`` untimed batches, then
``iters`` timed ``infer`` calls on a fixed batch of real frames letterboxed to
the model input (the preprocessing is outside the timed region). ONNX Runtime
runs with sequential execution (its default; ``inter_op`` = 1) and the given
``intra_op`` thread count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.bench.frames import load_source_frames
from peoplesemseg_ros.bench.stats import summarize
from peoplesemseg_ros.bench.timing import time_infer
from peoplesemseg_ros.core.backends import Backend, BackendOptions, create_backend
from peoplesemseg_ros.core.pipeline import EMBEDDED_MODELS, embedded_model_path, model_id
from peoplesemseg_ros.core.preprocess import Preprocessor, resolve_spec

__all__ = [
    "INT8_MODEL_NAME",
    "ModelCase",
    "available_backends",
    "bench_model",
    "default_int8_model",
    "input_batch",
    "model_cases",
    "time_backend",
]

INT8_MODEL_NAME: Final = EMBEDDED_MODELS["default_int8"]


@dataclass(frozen=True)
class ModelCase:
    backend: str
    precision: str  # fp32 | int8 (ONNX file) | fp16 / int8 (TensorRT build)
    model_path: Path
    batch: int
    threads: int


def default_int8_model() -> Path | None:
    """The shipped INT8 QDQ model next to the embedded one, if present."""
    path = embedded_model_path().parent / INT8_MODEL_NAME
    return path if path.is_file() else None


def available_backends() -> tuple[list[str], dict[str, str]]:
    """Backends usable here and, for the others, why not."""
    names = ["onnxruntime"]
    skipped: dict[str, str] = {}
    try:
        from peoplesemseg_ros.core.backends.tensorrt import tensorrt_available
    except ImportError as exc:
        skipped["tensorrt"] = f"not importable: {exc}"
    else:
        ok, why = tensorrt_available()
        if ok:
            names.append("tensorrt")
        else:
            skipped["tensorrt"] = why
    return names, skipped


def input_batch(backend: Backend, batch: int) -> NDArray[np.generic]:
    io = backend.io
    spec = resolve_spec("auto", io)
    pre = Preprocessor(io, spec, "letterbox", batch)
    frames = load_source_frames(batch)
    images = [frames[i % len(frames)] for i in range(batch)]
    data, _ = pre.prepare(images)
    return np.array(data, copy=True)


def time_backend(backend: Backend, batch: int, warmup: int, iters: int,
                 period_s: float = 0.0) -> dict[str, Any]:
    """Latency summary (ms per batch) and throughput (frames/s) of ``backend.infer``.

    ``period_s`` > 0 paces the calls like a camera (one call per period, idle in
    between): on a loaded box a call after an idle gap is slower than back-to-back
    calls (caches, scheduling), and that is the latency a node at that rate sees.
    Throughput is always items / mean call time.
    """
    times = time_infer(backend, input_batch(backend, batch), warmup, iters, period_s)
    out = summarize(times.tolist(), items_per_sample=batch)
    out["per_frame_p50_ms"] = float(out["p50_ms"]) / batch
    return out


def bench_model(cases: Sequence[ModelCase], warmup: int, iters: int) -> list[dict[str, Any]]:
    results = []
    for case in cases:
        options = BackendOptions(num_threads=case.threads, max_batch=case.batch,
                                 precision="fp32" if case.backend == "onnxruntime"
                                 else case.precision)
        backend = create_backend(case.backend, case.model_path, options)
        try:
            timing = time_backend(backend, case.batch, warmup, iters)
            providers = getattr(backend, "providers", None)
        finally:
            backend.close()
        entry: dict[str, Any] = {
            "backend": case.backend, "precision": case.precision, "batch": case.batch,
            "intra_op_threads": case.threads, "inter_op_threads": 1,
            "execution_mode": "sequential", "model": model_id(case.model_path),
            "warmup": warmup, "iters": iters, **timing,
        }
        if providers is not None:
            entry["providers"] = providers
        results.append(entry)
    return results


def model_cases(model: Path | None, int8_model: Path | None, batches: Sequence[int],
                threads: Sequence[int], backends: Sequence[str]) -> list[ModelCase]:
    """The cross product the CLI asks for (int8 ONNX only for onnxruntime)."""
    fp32 = model or embedded_model_path()
    cases = []
    for name in backends:
        models = [("fp32", fp32)]
        if int8_model is not None and name == "onnxruntime":
            models.append(("int8", int8_model))
        for precision, path in models:
            for b in batches:
                for t in (threads if name == "onnxruntime" else [0]):
                    cases.append(ModelCase(name, precision, path, b, t))
    return cases
