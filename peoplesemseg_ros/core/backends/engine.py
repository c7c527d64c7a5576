"""Build TensorRT engines from ONNX, cached (``peoplesemseg build-engine`` is in cli/).

Precision, the way each TensorRT generation wants it:

fp32  always.
fp16  TensorRT 8.6 / 10: ``BuilderFlag.FP16``. TensorRT >= 11 builds strongly typed
      networks only (the flag is gone), so the float ONNX is converted to FP16 first
      (``onnxruntime.transformers.float16``, I/O types kept; needs the ``onnx`` package).
int8  a QDQ ONNX (``peoplesemseg quantize``) is explicitly quantized on every version.
      A plain float ONNX needs TensorRT 8.6 and ``--calib-images``: the entropy
      calibrator of :mod:`.calibration`, with a calibration cache. TensorRT >= 10
      deprecated (11 removed) implicit calibration, so there it is refused with
      the command that makes the QDQ model.

GPUs without fast FP16 / INT8 fall back to FP32 with a logged warning.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from peoplesemseg_ros.core.backends.base import BackendOptions
from peoplesemseg_ros.core.backends.engine_cache import CacheResult, EngineCache, EngineKey
from peoplesemseg_ros.core.backends.errors import BackendError, ModelLoadError
from peoplesemseg_ros.core.backends.onnx_io import onnx_tensors
from peoplesemseg_ros.core.backends.trt_runtime import trt_logger, trt_version_tuple
from peoplesemseg_ros.core.hashing import sha256_file

__all__ = [
    "PRECISIONS",
    "OnnxInput",
    "build_engine",
    "build_or_load_engine",
    "fast_precisions_from_cc",
    "fp16_onnx_bytes",
    "onnx_input",
    "parse_hint",
    "qdq_problems",
    "qdq_required_message",
    "resolve_precision",
]

_LOG = logging.getLogger(__name__)
PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_WORKSPACE = 1 << 30


@dataclass(frozen=True)
class OnnxInput:
    name: str
    sample_shape: tuple[int, ...]  # dims after the batch dim, all static
    batch: int | None  # None: dynamic batch


def onnx_input(path: Path) -> OnnxInput:
    """The ONNX model's single input (read with ONNX Runtime on CPU, no optimization)."""
    inputs, _ = onnx_tensors(path)
    if len(inputs) != 1:
        raise ModelLoadError(f"{path}: expected 1 input, found {len(inputs)}")
    name, shape = inputs[0].name, inputs[0].shape
    rest = shape[1:]
    if not shape or any(d is None for d in rest):
        shown = ["?" if d is None else d for d in shape]
        raise ModelLoadError(f"{path}: input {name!r} {shown} needs static dims "
                             "after the batch dimension")
    return OnnxInput(name, tuple(int(d) for d in rest if d is not None), shape[0])


def fast_precisions_from_cc(cc: tuple[int, int]) -> tuple[bool, bool]:
    """(fast fp16, fast int8) from the CUDA compute capability (TensorRT's own rule)."""
    fp16 = cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0)
    return fp16, cc >= (6, 1)


def resolve_precision(requested: str, fast_fp16: bool, fast_int8: bool) -> tuple[str, str]:
    """(precision to build, warning or ""): FP16 / INT8 fall back to FP32 without fast support."""
    if requested not in PRECISIONS:
        raise BackendError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested == "fp16" and not fast_fp16:
        return "fp32", "this GPU has no fast FP16: building an FP32 engine instead"
    if requested == "int8" and not fast_int8:
        return "fp32", "this GPU has no fast INT8: building an FP32 engine instead"
    return requested, ""


def qdq_required_message(model: Path, trt_version: str) -> str:
    return (f"INT8 on TensorRT {trt_version} needs an explicitly quantized (QDQ) ONNX, and "
            f"{model} has no QuantizeLinear/DequantizeLinear nodes (implicit calibration is "
            "deprecated in TensorRT 10 and removed in 11). Make one with "
            f"`peoplesemseg quantize {model} --target tensorrt --out {model.stem}_int8_qdq.onnx "
            "--calib DIR` and "
            "build from it with --precision int8; or build fp16")


def parse_hint(errors: str) -> str:
    """Advice for ONNX parser errors we know the cause of ("" otherwise)."""
    low = errors.lower()
    if "symmetric" in low or "zero point" in low or "zero_point" in low:
        return (". TensorRT reads only signed, symmetric INT8 Q/DQ (zero point 0): make it with "
                "`peoplesemseg quantize MODEL --target tensorrt`")
    return ""


def qdq_problems(path: Path) -> list[str]:
    """Why TensorRT would reject this QDQ ONNX (empty: fine, no Q/DQ, or ``onnx`` missing).

    TensorRT reads only signed INT8 Q/DQ with zero point 0 (symmetric); ONNX Runtime's
    default static quantization (uint8 activations, asymmetric) is not accepted.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return []
    graph = onnx.load(str(path), load_external_data=False).graph
    inits = {t.name: t for t in graph.initializer}
    consts = {o: a.t for n in graph.node if n.op_type == "Constant" for o in n.output
              for a in n.attribute if a.name == "value"}
    problems: list[str] = []
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 3:
            continue
        zp = inits.get(node.input[2]) or consts.get(node.input[2])
        if zp is None:
            continue
        z = numpy_helper.to_array(zp)
        if z.dtype == np.uint8:
            problems.append(f"{node.op_type} {node.name!r} is uint8 (TensorRT needs int8)")
        elif z.dtype == np.int8 and bool(np.any(z != 0)):
            problems.append(f"{node.op_type} {node.name!r} has a nonzero zero point")
    return problems


def fp16_onnx_bytes(path: Path) -> bytes:
    """The float ONNX with FP16 weights and activations (I/O types kept)."""
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise BackendError(
            f"FP16 on a strongly typed TensorRT (>= 11) converts the ONNX to FP16 first, which "
            f"needs the 'onnx' package ({exc}): pip install onnx") from exc
    model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    data: bytes = model.SerializeToString()
    return data


def _platform_fast(builder: Any, cc: tuple[int, int]) -> tuple[bool, bool]:
    """Builder's answer where it still exists (deprecated in 10, gone in 11), else from cc."""
    by_cc = fast_precisions_from_cc(cc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fp16 = getattr(builder, "platform_has_fast_fp16", None)
        int8 = getattr(builder, "platform_has_fast_int8", None)
    return (by_cc[0] if fp16 is None else bool(fp16)), (by_cc[1] if int8 is None else bool(int8))


def _has_qdq(trt: Any, network: Any) -> bool:
    qdq = (trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE)
    return any(network.get_layer(i).type in qdq for i in range(network.num_layers))


def build_engine(model: Path, key: EngineKey, *, cc: tuple[int, int],
                 calib_images: Path | None = None, calib_cache: Path | None = None,
                 workspace: int = DEFAULT_WORKSPACE) -> bytes:
    """Serialize an engine for ``key`` (a CUDA context must be current)."""
    import tensorrt as trt

    logger = trt_logger()
    major = trt_version_tuple(trt.__version__)[0]
    strongly_typed = not hasattr(trt.BuilderFlag, "FP16")  # TensorRT >= 11
    builder = trt.Builder(logger)
    precision, why = resolve_precision(key.precision, *_platform_fast(builder, cc))
    if why:
        _LOG.warning("%s (%s, requested %s)", why, key.gpu_name, key.precision)
    if precision == "int8":  # before parsing: the parser's own error is less helpful
        problems = qdq_problems(model)
        if problems:
            raise ModelLoadError(
                f"{model} is not a TensorRT-compatible QDQ model ({len(problems)} Q/DQ nodes, "
                f"e.g. {problems[0]}){parse_hint('zero point')}")
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) if major < 10 else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if precision == "fp16" and strongly_typed:
        ok = parser.parse(fp16_onnx_bytes(model), str(model))
    else:
        ok = parser.parse_from_file(str(model))
    if not ok:
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelLoadError(f"TensorRT {trt.__version__} cannot parse {model}: {errors}"
                             + parse_hint(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    profile = builder.create_optimization_profile()
    shapes = key.profile()
    profile.set_shape(key.input_name, *(trt.Dims(list(s)) for s in shapes))
    config.add_optimization_profile(profile)
    if precision == "fp16" and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    calibrator: Any = None
    if precision == "int8":
        if _has_qdq(trt, network):
            if not strongly_typed:
                config.set_flag(trt.BuilderFlag.INT8)
                config.set_flag(trt.BuilderFlag.FP16)  # non-quantized layers may use fp16
        elif major >= 10 or not hasattr(trt, "IInt8EntropyCalibrator2"):
            raise BackendError(qdq_required_message(model, trt.__version__))
        else:
            if calib_images is None:
                raise BackendError(f"INT8 from the float model {model} on TensorRT "
                                   f"{trt.__version__} needs --calib-images DIR (or a QDQ ONNX)")
            from peoplesemseg_ros.core.backends.calibration import (
                CalibrationBatches,
                create_entropy_calibrator,
            )

            batches = CalibrationBatches.from_folder(calib_images, model, key.opt_batch)
            calibrator = create_entropy_calibrator(batches, calib_cache)
            config.set_flag(trt.BuilderFlag.INT8)
            config.set_flag(trt.BuilderFlag.FP16)
            config.int8_calibrator = calibrator
            calib_profile = builder.create_optimization_profile()
            calib_shape = trt.Dims([batches.batch_size, *key.input_shape])
            calib_profile.set_shape(key.input_name, calib_shape, calib_shape, calib_shape)
            config.set_calibration_profile(calib_profile)
    _LOG.info("building %s TensorRT %s engine for %s on %s (profile %s); this takes minutes",
              precision, trt.__version__, model, key.gpu_name, shapes)
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if serialized is None:
        raise ModelLoadError(f"TensorRT failed to build an engine for {model}: "
                             + " | ".join(getattr(logger, "errors", [])[-5:]))
    return bytes(serialized)


def build_or_load_engine(model: Path, options: BackendOptions, *, gpu_name: str,
                         workspace: int = DEFAULT_WORKSPACE) -> CacheResult:
    """The cached engine for (model, options, this TensorRT, this GPU), built if needed."""
    import pycuda.driver as cuda
    import tensorrt as trt

    inp = onnx_input(model)
    if inp.batch is None:
        bmin, bopt, bmax = 1, max(1, options.max_batch), max(1, options.max_batch)
    else:
        bmin = bopt = bmax = inp.batch
    calibration = ""
    major = trt_version_tuple(trt.__version__)[0]
    if options.precision == "int8" and options.calib_images is not None and major < 10:
        from peoplesemseg_ros.core.backends.calibration import (
            CALIB_LIMIT,
            image_set_digest,
            list_images,
        )

        calibration = image_set_digest(list_images(options.calib_images, CALIB_LIMIT))
    key = EngineKey(sha256_file(model), trt.__version__, gpu_name, options.precision,
                    inp.name, inp.sample_shape, bmin, bopt, bmax, calibration)
    cache = EngineCache(options.engine_cache_dir)
    cc = tuple(cuda.Device(options.device_id).compute_capability())
    calib_cache = cache.directory / f"{model.stem}-{key.digest[:16]}.calib"
    result = cache.get_or_build(
        key, lambda: build_engine(model, key, cc=(int(cc[0]), int(cc[1])),
                                  calib_images=options.calib_images, calib_cache=calib_cache,
                                  workspace=workspace),
        stem=model.stem)
    _LOG.info("TensorRT engine %s (%s)", result.path,
              "built" if result.built else "loaded from cache")
    return result
