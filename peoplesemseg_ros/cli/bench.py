"""`peoplesemseg bench`: model, pipeline, node (DDS), baseline and all, as JSON.

Every result carries the machine (CPU model, cores, load average, library
versions); the load average is taken at the start and the end, because other
work on the box (a training run, a browser) changes every absolute figure.
Ratios measured within one run are the figures to compare across machines.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Final

from peoplesemseg_ros.bench.frames import DEFAULT_INPUTS, parse_input
from peoplesemseg_ros.bench.machine import load_average, machine_info
from peoplesemseg_ros.bench.targets import evaluate_targets

__all__ = ["SUBCOMMANDS", "add_arguments", "run"]

SUBCOMMANDS: Final = ("model", "pipeline", "node", "baseline", "peers", "bag", "all")
IN_ALL: Final = ("model", "pipeline", "baseline", "node")
NODE_INPUTS: Final = ("960x544_rgb8", "1920x1080_bgr8", "1920x1080_jpeg")
BASELINE_INPUTS: Final = ("960x544_rgb8", "1920x1080_bgr8", "1920x1080_jpeg")


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") \
            from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def _inputs(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    try:
        for name in names:
            parse_input(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not names:
        raise argparse.ArgumentTypeError("no inputs given")
    return names


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="also write the JSON to this file")
    p.add_argument("--model", type=Path, default=None,
                   help="ONNX model (default: the embedded model)")
    p.add_argument("--threads", type=int, default=1,
                   help="ONNX Runtime intra-op threads of the pipeline / node (default 1: "
                        "leaves a core for conversion and DDS on a 2-core box)")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    p.add_argument("--iters", type=int, default=30, help="timed iterations (model, pipeline, "
                   "baseline)")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="auto",
                   help="onnxruntime, tensorrt or both comma-separated (default auto: every "
                        "backend that is usable here); a named backend that is not usable "
                        "is an error")
    p.add_argument("--batch", type=_ints, default=[1, 2], help="batch sizes, e.g. 1,2,4")
    p.add_argument("--thread-list", type=_ints, default=[1, 2],
                   help="ONNX Runtime intra-op thread counts to compare (0: runtime default)")
    p.add_argument("--precision", default="auto",
                   help="fp32, int8 or fp32,int8 (default auto: fp32, plus int8 when an INT8 "
                        "model is shipped or given)")
    p.add_argument("--int8-model", type=Path, default=None,
                   help="INT8 QDQ ONNX (default: models/peoplesemseg_default_int8.onnx "
                        "when shipped)")


def _add_pipeline(p: argparse.ArgumentParser, default: tuple[str, ...] = DEFAULT_INPUTS,
                  flag: str = "--inputs") -> None:
    p.add_argument(flag, type=_inputs, default=list(default),
                   help=f"inputs <W>x<H>_<rgb8|bgr8|jpeg>, comma-separated (default "
                        f"{','.join(default)})")


def _add_node(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node-inputs", type=_inputs, default=list(NODE_INPUTS),
                   help=f"inputs of bench node (default {','.join(NODE_INPUTS)})")
    p.add_argument("--frames", type=int, default=100,
                   help="measured frames of the sustained run, RSS growth is over these "
                        "(issue target: 5000); overload and control runs take at most 200")
    p.add_argument("--latency-frames", type=int, default=30,
                   help="measured frames of each latency / echo run")
    p.add_argument("--node-warmup", type=int, default=10, help="frames before measuring")
    p.add_argument("--no-multicam", action="store_true",
                   help="skip one-node-two-cameras vs two nodes")
    p.add_argument("--multicam-threads", type=int, default=0,
                   help="inference threads of the one two-camera node (default: --threads, "
                        "the same as each single-camera node)")
    p.add_argument("--batch-window-ms", type=float, default=10.0,
                   help="the multi-camera node's batch_window_ms")
    p.add_argument("--timeout", type=float, default=60.0, help="per-wait timeout, seconds")
    p.add_argument("--load", type=int, default=None, metavar="N",
                   help="instead of the runs above: start N busy processes and compare, in "
                        "alternating rounds, the bare model and the node with ONNX Runtime's "
                        "default thread settings against the node's defaults, plus the DDS "
                        "echo floor (0: the same comparison on an idle box)")
    p.add_argument("--rounds", type=int, default=6, help="alternating rounds of --load")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    helps = {"model": "model-only latency / throughput per backend, precision, batch, threads",
             "pipeline": "in-process per-stage times per input; overhead = all but inference",
             "node": "the node over real DDS: e2e latency, throughput, drops, CPU, RSS, "
                     "echo floor, multi-camera",
             "baseline": "the tutorial-style pipeline on the same frames: speed ratio",
             "peers": "our models against MediaPipe selfie segmentation (ai-edge-litert): "
                      "full-path time in alternating rounds, optionally val / dev quality",
             "bag": "bag process of a synthetic bag against the model-only batch throughput, "
                    "alternating rounds",
             "all": "model, pipeline, baseline and node in one run, with the targets"}
    for name in SUBCOMMANDS:
        p = sub.add_parser(name, help=helps[name], description=helps[name])
        _common(p)
        if name in ("model", "all"):
            _add_model(p)
        if name == "pipeline":
            _add_pipeline(p)
        if name == "baseline":
            _add_pipeline(p, BASELINE_INPUTS)
        if name == "all":
            _add_pipeline(p)
            _add_pipeline(p, BASELINE_INPUTS, "--baseline-inputs")
        if name in ("node", "all"):
            _add_node(p)
        if name == "peers":
            _add_peers(p)
        if name == "bag":
            p.add_argument("--input", type=parse_input, default=parse_input("960x544_rgb8"),
                           help="frame size of the bag, <W>x<H>_rgb8 (default 960x544_rgb8)")
            p.add_argument("--frames", type=int, default=48, help="frames in the bag")
            p.add_argument("--max-batch", type=int, default=4, help="batch of both cases")
            p.add_argument("--rounds", type=int, default=3, help="alternating rounds")


def _add_peers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default="default,fast",
                   help="comma-separated embedded model names or ONNX paths (default "
                        "default,fast)")
    p.add_argument("--peer-model", type=Path, default=None,
                   help="MediaPipe .tflite (default: selfie_segmentation_landscape.tflite "
                        "unpacked by make install-dev)")
    p.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    p.add_argument("--shared", type=Path, default=None,
                   help="also score every contender on val + dev_unseen of this data folder")


def _pipeline_config(args: argparse.Namespace) -> Any:
    from peoplesemseg_ros.core.pipeline import PipelineConfig

    return PipelineConfig(model_path=args.model, backend="onnxruntime",
                          num_threads=args.threads)


def _run_model(args: argparse.Namespace) -> dict[str, Any]:
    from peoplesemseg_ros.bench.model import (
        available_backends,
        bench_model,
        default_int8_model,
        model_cases,
    )

    names, skipped = available_backends()
    if args.backend != "auto":
        asked = [b.strip() for b in args.backend.split(",") if b.strip()]
        for name in asked:
            if name not in names:
                why = skipped.get(name, "unknown backend; choose onnxruntime or tensorrt")
                raise SystemExit(f"bench model: backend {name!r} is not usable here: {why}")
        names = asked
    wanted = {p.strip() for p in args.precision.split(",")} - {""}
    if not wanted <= {"auto", "fp32", "int8"}:
        raise SystemExit(f"bench model: --precision takes fp32 / int8 / auto, got "
                         f"{args.precision!r}")
    int8 = args.int8_model or default_int8_model()
    if "int8" in wanted and int8 is None:
        raise SystemExit("bench model: --precision int8 needs an INT8 model: ship "
                         "models/peoplesemseg_default_int8.onnx or pass --int8-model (make "
                         "one with `peoplesemseg quantize`)")
    if wanted == {"fp32"}:
        int8 = None
    cases = model_cases(args.model, int8, args.batch, args.thread_list, names)
    if wanted == {"int8"}:
        cases = [c for c in cases if c.precision == "int8"]
    return {"results": bench_model(cases, args.warmup, args.iters),
            "backends_skipped": skipped,
            "int8_model": str(int8.name) if int8 else None}


def _run_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    from peoplesemseg_ros.bench.pipeline import bench_pipeline

    return bench_pipeline(_pipeline_config(args), [parse_input(n) for n in args.inputs],
                          args.warmup, args.iters)


def _run_baseline(args: argparse.Namespace, inputs: list[str]) -> dict[str, Any]:
    from peoplesemseg_ros.bench.baseline import TutorialSegmenter, bench_baseline_input
    from peoplesemseg_ros.core.pipeline import Pipeline

    with Pipeline(_pipeline_config(args)) as pipe:
        tutorial = TutorialSegmenter(pipe.model_path, args.threads)
        return {"model": pipe.model_id, "threads": args.threads,
                "inputs": [bench_baseline_input(pipe, tutorial, parse_input(n), args.warmup,
                                                args.iters) for n in inputs]}


def _run_node(args: argparse.Namespace) -> dict[str, Any]:
    from peoplesemseg_ros.bench.node import NodeBenchConfig, bench_node

    if args.load is not None:
        from peoplesemseg_ros.bench.load import LoadBenchConfig, bench_node_load

        if args.load < 0 or args.rounds < 1:
            raise SystemExit("bench node: --load must be >= 0 and --rounds >= 1")
        return bench_node_load(LoadBenchConfig(
            spec=parse_input(args.node_inputs[0]), load=args.load, rounds=args.rounds,
            frames=args.latency_frames, warmup=args.node_warmup, model_path=args.model,
            timeout_s=args.timeout))

    cfg = NodeBenchConfig(inputs=tuple(parse_input(n) for n in args.node_inputs),
                          frames=args.frames, latency_frames=args.latency_frames,
                          warmup=args.node_warmup, threads=args.threads,
                          model_path=args.model, multicam=not args.no_multicam,
                          batch_window_ms=args.batch_window_ms, timeout_s=args.timeout,
                          multicam_threads=args.multicam_threads)
    return bench_node(cfg)


def _run_peers(args: argparse.Namespace) -> dict[str, Any]:
    from peoplesemseg_ros.bench.peers import PeerConfig, bench_peers
    from peoplesemseg_ros.core.pipeline import EMBEDDED_MODELS, embedded_model_path
    from peoplesemseg_ros.training.mediapipe_files import TFLiteWeightsError, find_tflite

    models: list[tuple[str, Path | None]] = []
    for item in (m.strip() for m in args.models.split(",") if m.strip()):
        path = embedded_model_path(item) if item in EMBEDDED_MODELS else Path(item)
        if not path.is_file():
            raise SystemExit(f"bench peers: no model {item!r} (embedded: "
                             f"{', '.join(EMBEDDED_MODELS)}, or an ONNX path)")
        models.append((item, path))
    try:
        peer = find_tflite("landscape", args.peer_model)
    except TFLiteWeightsError as exc:
        raise SystemExit(f"bench peers: {exc}") from None
    if args.rounds < 1:
        raise SystemExit("bench peers: --rounds must be >= 1")
    return bench_peers(PeerConfig(models=tuple(models), peer_model=peer,
                                  threads=max(1, args.threads), rounds=args.rounds,
                                  iters=args.iters, warmup=args.warmup, shared=args.shared))


def run(args: argparse.Namespace) -> int:
    if args.iters < 1 or args.warmup < 0 or args.threads < 0:
        print("bench: need --iters >= 1, --warmup >= 0, --threads >= 0", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    report: dict[str, Any] = {"command": "peoplesemseg bench " + " ".join(sys.argv[2:]),
                              "bench": args.bench, "machine": machine_info()}
    which = IN_ALL if args.bench == "all" else (args.bench,)
    if "model" in which:
        report["model"] = _run_model(args)
    if "pipeline" in which:
        report["pipeline"] = _run_pipeline(args)
    if "baseline" in which:
        inputs = args.baseline_inputs if args.bench == "all" else args.inputs
        report["baseline"] = _run_baseline(args, inputs)
    if "node" in which:
        report["node"] = _run_node(args)
    if args.bench == "peers":
        report["peers"] = _run_peers(args)
    if "bag" in which:
        from peoplesemseg_ros.bench.bag import BagBenchConfig, bench_bag

        report["bag"] = bench_bag(BagBenchConfig(
            spec=args.input, frames=args.frames, max_batch=args.max_batch,
            threads=args.threads, rounds=args.rounds, model_path=args.model))
    report["targets"] = evaluate_targets(report)
    report["load_average_end"] = load_average()
    report["duration_s"] = time.monotonic() - t0
    text = json.dumps(report, indent=2, sort_keys=False)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0
