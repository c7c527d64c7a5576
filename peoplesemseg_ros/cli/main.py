"""`peoplesemseg`: the command-line entry point.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their subcommand runs, so
``peoplesemseg infer`` never imports torch and ``peoplesemseg train`` never
imports rclpy.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "infer": ("peoplesemseg_ros.cli.infer", "segment image files, write one mono8 PNG mask each"),
    "eval": ("peoplesemseg_ros.cli.evaluate", "IoU / mIoU on images + masks (the deployed path)"),
    "bench": ("peoplesemseg_ros.cli.bench", "benchmarks: model, pipeline, node, baseline (JSON)"),
    "bag": ("peoplesemseg_ros.cli.bag", "rosbag2: process offline, play, record, eval"),
    "demo": ("peoplesemseg_ros.cli.demo", "run the live node on the shipped sample over DDS"),
    "build-engine": ("peoplesemseg_ros.cli.build_engine", "build a TensorRT engine from ONNX"),
    "soak": ("peoplesemseg_ros.testing.soak",
             "drive the live node with good and bad frames for M minutes"),
    "train": ("peoplesemseg_ros.training.train", "train ShuffleSeg (needs the [train] extra)"),
    "export": ("peoplesemseg_ros.training.export", "export a checkpoint to ONNX (needs [train])"),
    "quantize": ("peoplesemseg_ros.training.quantize", "INT8 QDQ ONNX, calibrated on images"),
}


def _build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peoplesemseg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Only the chosen subcommand's module is imported (fast start, optional extras).
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser(args_list)
    args = parser.parse_args(args_list)
    try:
        code: int = args._run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
