"""`peoplesemseg`: the command-line entry point.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their subcommand runs, so
``peoplesemseg infer`` never imports torch and ``peoplesemseg train`` never
imports rclpy. A subcommand whose optional dependency is not installed (torch for
``train``, psutil for ``soak`` and ``bench node``, ray for ``bag process --ray``)
says so in one line, with what to install, and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "INSTALL_HINTS", "main", "missing_dependency"]

# top-level module -> what to install (default: pip install <module>)
INSTALL_HINTS: dict[str, str] = {
    "torch": "the [train] extra: pip install 'peoplesemseg_ros[train]' (or make install-dev)",
    "onnx": "pip install onnx (part of the [train] extra)",
    "onnxscript": "pip install onnxscript (part of the [train] extra)",
    "psutil": "the [qa] extra: pip install psutil (or make install-dev)",
    "ray": "the [fleet] extra: pip install 'ray>=2.9'",
    "tensorrt": "TensorRT and pycuda on a machine with an NVIDIA GPU (docs/tensorrt.md)",
    "pycuda": "TensorRT and pycuda on a machine with an NVIDIA GPU (docs/tensorrt.md)",
}

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "infer": ("peoplesemseg_ros.cli.infer", "segment image files, write one mono8 PNG mask each"),
    "eval": ("peoplesemseg_ros.cli.evaluate", "IoU / mIoU on images + masks (the deployed path)"),
    "bench": ("peoplesemseg_ros.cli.bench", "benchmarks: model, pipeline, node, baseline (JSON)"),
    "bag": ("peoplesemseg_ros.cli.bag", "rosbag2: process offline, play, record, eval"),
    "demo": ("peoplesemseg_ros.cli.demo", "run the live node on the shipped sample over DDS"),
    "build-engine": ("peoplesemseg_ros.cli.build_engine", "build a TensorRT engine from ONNX"),
    "soak": ("peoplesemseg_ros.cli.soak",
             "drive the live node with good and bad frames for M minutes"),
    "train": ("peoplesemseg_ros.training.train",
              "train a segmentation model (needs the [train] extra)"),
    "export": ("peoplesemseg_ros.training.export", "export a checkpoint to ONNX (needs [train])"),
    "quantize": ("peoplesemseg_ros.training.quantize", "INT8 QDQ ONNX, calibrated on images"),
    "calibrate": ("peoplesemseg_ros.training.calibrate",
                  "choose a checkpoint's person decision margin on val (needs [train])"),
    "recover": ("peoplesemseg_ros.training.recover",
                "rebuild a training checkpoint from a shipped ONNX model (needs [train])"),
    "average": ("peoplesemseg_ros.training.average",
                "weight average of checkpoints of one network (needs [train])"),
    "pseudo-ignore": ("peoplesemseg_ros.training.pseudo_ignore",
                      "don't-care maps for people a source did not label (needs [train])"),
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


def missing_dependency(command: str, exc: ModuleNotFoundError) -> str | None:
    """The one line for an optional package that is not installed (None: not that case).

    A missing module of this package itself is a broken install or a bug, not a
    missing extra: None, so the caller re-raises it.
    """
    name = (exc.name or "").split(".")[0]
    if not name or name == "peoplesemseg_ros":
        return None
    hint = INSTALL_HINTS.get(name, f"pip install {name}")
    return (f"peoplesemseg {command}: needs the Python package '{name}', which is not "
            f"installed here; install {hint}")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), "")
    try:
        parser = _build_parser(args_list)
        args = parser.parse_args(args_list)
        code: int = args._run(args)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        line = missing_dependency(command, exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
