"""``peoplesemseg build-engine``: a TensorRT engine from an ONNX model, into the cache.

The build itself is :func:`peoplesemseg_ros.core.backends.engine.build_or_load_engine`,
the same the tensorrt backend calls on first use.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from peoplesemseg_ros.core.backends import BackendError, BackendOptions
from peoplesemseg_ros.core.backends.engine import (
    DEFAULT_WORKSPACE,
    PRECISIONS,
    build_or_load_engine,
)
from peoplesemseg_ros.core.backends.engine_cache import atomic_write_bytes
from peoplesemseg_ros.core.backends.trt_runtime import CudaContext, tensorrt_available

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="ONNX model (float, or INT8 QDQ for --precision int8)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp16", help="default fp16")
    p.add_argument("--calib-images", type=Path, default=None,
                   help="INT8 on TensorRT 8.6 from a float ONNX: folder of calibration images")
    p.add_argument("--batch", type=int, default=1, help="largest batch (profile 1..N, opt N)")
    p.add_argument("--out", type=Path, default=None, help="also write the engine to this file")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="engine cache folder (default: $XDG_CACHE_HOME/peoplesemseg_ros/engines)")
    p.add_argument("--device", type=int, default=0, help="CUDA device id (default 0)")
    p.add_argument("--workspace-mib", type=int, default=DEFAULT_WORKSPACE >> 20,
                   help="builder workspace limit in MiB (default 1024)")


def run(args: argparse.Namespace) -> int:
    ok, why = tensorrt_available(args.device)
    if not ok:
        print(f"peoplesemseg build-engine: TensorRT is not usable here: {why}. Install TensorRT "
              "and pycuda on a machine with an NVIDIA GPU (docs/tensorrt.md); the CPU path "
              "(backend onnxruntime) needs no engine.", file=sys.stderr)
        return 2
    model: Path = args.model
    if model.suffix.lower() != ".onnx" or not model.is_file():
        print(f"peoplesemseg build-engine: {model} is not an existing .onnx file",
              file=sys.stderr)
        return 2
    if args.batch < 1:
        print("peoplesemseg build-engine: --batch must be >= 1", file=sys.stderr)
        return 2
    import pycuda.driver as cuda

    options = BackendOptions(precision=args.precision, engine_cache_dir=args.cache_dir,
                             calib_images=args.calib_images, max_batch=args.batch,
                             device_id=args.device)
    ctx = CudaContext(cuda, args.device)
    try:
        with ctx.active():
            result = build_or_load_engine(model, options, gpu_name=ctx.gpu_name,
                                          workspace=args.workspace_mib << 20)
    except BackendError as exc:
        print(f"peoplesemseg build-engine: {exc}", file=sys.stderr)
        return 1
    finally:
        ctx.release()
    if args.out is not None:
        atomic_write_bytes(args.out, result.engine)
    print(json.dumps({"engine": str(args.out or result.path), "cache": str(result.path),
                      "built": result.built, "reason": result.reason,
                      "precision": args.precision, "gpu": ctx.gpu_name}))
    return 0

