"""`peoplesemseg infer IMAGES... --out DIR`: one mono8 PNG mask per image, named by its stem.

Runs the same :class:`~peoplesemseg_ros.core.pipeline.Pipeline` as the node. Person
pixels are ``--mask-value`` (255), background 0. Optionally writes overlays.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2

from peoplesemseg_ros.core.backends import BackendError
from peoplesemseg_ros.core.images import read_rgb, write_rgb
from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig
from peoplesemseg_ros.core.preprocess import PRESET_NAMES, RESIZE_MODES
from peoplesemseg_ros.params import ParameterError
from peoplesemseg_ros.params_file import load_params_file

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=Path, help="image files (jpg, png, ...)")
    parser.add_argument("--out", type=Path, required=True, help="folder for <stem>.png masks")
    parser.add_argument("--params", type=Path, help="the node's ROS params YAML (model, "
                        "preprocessing, resize_mode, mask_value, ...); flags below override it")
    parser.add_argument("--model", type=Path, help="ONNX model / engine (default: embedded)")
    parser.add_argument("--backend", choices=("auto", "onnxruntime", "tensorrt"))
    parser.add_argument("--preprocessing", choices=PRESET_NAMES)
    parser.add_argument("--resize-mode", choices=RESIZE_MODES)
    parser.add_argument("--mask-value", type=int, help="person pixel value, 1..255")
    parser.add_argument("--num-threads", type=int, help="CPU threads (0: runtime default)")
    parser.add_argument("--overlay-dir", type=Path, help="also write <stem>.png overlays here")


def _config(args: argparse.Namespace) -> PipelineConfig:
    base = load_params_file(args.params).pipeline_config() if args.params else PipelineConfig()
    changes = {"model_path": args.model, "backend": args.backend,
               "preprocessing": args.preprocessing, "resize_mode": args.resize_mode,
               "mask_value": args.mask_value, "num_threads": args.num_threads}
    return replace(base, **{k: v for k, v in changes.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    stems = [p.stem for p in args.images]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        print(f"peoplesemseg infer: several inputs share the stem(s) {', '.join(dupes)}; "
              "their masks would overwrite each other", file=sys.stderr)
        return 2
    try:
        config = _config(args)
        pipe = Pipeline(config)
    except (BackendError, ParameterError, ValueError, OSError) as exc:
        print(f"peoplesemseg infer: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    if args.overlay_dir:
        args.overlay_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    started = time.perf_counter()
    with pipe:
        for path in args.images:
            rgb = read_rgb(path)
            if rgb is None:
                print(f"peoplesemseg infer: cannot read {path} as an image", file=sys.stderr)
                failed += 1
                continue
            mask = pipe.segment([rgb])[0]
            if not cv2.imwrite(str(args.out / f"{path.stem}.png"), mask):
                print(f"peoplesemseg infer: cannot write {args.out / path.stem}.png",
                      file=sys.stderr)
                failed += 1
                continue
            if args.overlay_dir:
                write_rgb(args.overlay_dir / f"{path.stem}.png", pipe.overlay(rgb, mask))
        done = len(args.images) - failed
        ms = (time.perf_counter() - started) * 1000 / max(done, 1)
        print(f"{done}/{len(args.images)} masks written to {args.out} ({pipe.model_id} on "
              f"{pipe.backend_name}, {ms:.1f} ms per image)")
    return 1 if failed else 0
