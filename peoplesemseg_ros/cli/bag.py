"""`peoplesemseg bag`: rosbag2 tools (process offline, play, record, eval).

``process`` and ``eval`` need no DDS (rosbags only); ``play`` and ``record`` use
rclpy with raw CDR. Every subcommand prints one JSON summary line on stdout at the
end; logs and the progress bar go to stderr. Exit codes: 0 ok, 1 the work ran but
failed a check (bad frames with --strict, eval without any matched mask, a bag of
``process --out-dir`` that failed),
2 unusable input (missing / unfinished bag, unknown topic, existing output),
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from peoplesemseg_ros.bag.io import STORAGES, BagError

__all__ = ["add_arguments", "run"]

LOG = logging.getLogger("peoplesemseg.bag")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bag_command", metavar="ACTION", required=True)

    p = sub.add_parser("process", help="segment every image of bags into new bags",
                       description="Run the node's pipeline (same parameters file, backend, "
                       "pre/postprocessing and occupancy) over bags, offline, and write new "
                       "bags with the input topics plus <ns>/mask, <ns>/overlay (--overlay), "
                       "<ns>/person_occupancy and <ns>/people_scan per camera namespace. "
                       "With --out-dir: any number of bags, folders of bags and globs; each "
                       "input .../NAME gives DIR/NAME; resumable (complete outputs are "
                       "skipped); one bad bag is reported and the others go on; exit 1 if "
                       "any failed. Without --out-dir: IN_BAG OUT_BAG, one bag. See "
                       "docs/bags.md.")
    p.add_argument("inputs", nargs="+", metavar="IN",
                   help="input rosbag2 folders / .mcap / .db3 files, folders of bags, globs "
                   "(with --out-dir); or IN_BAG OUT_BAG")
    p.add_argument("--out-dir", type=Path, metavar="DIR",
                   help="output folder of a multi-bag job (created if missing)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="bags processed in N processes at a time (default 1); the cores are "
                   "shared out so that N x threads never oversubscribes them. With --ray: "
                   "at most N Ray tasks in flight (default: every bag, Ray queues them)")
    p.add_argument("--ray", action="store_true",
                   help="run one Ray task per bag on the cluster at RAY_ADDRESS, or on a "
                   "local Ray instance when it is unset (pip install .[fleet])")
    p.add_argument("--max-batch", type=int, metavar="N",
                   help="frames per inference batch (overrides max_batch)")
    p.add_argument("--image-topic", action="append", default=[], metavar="TOPIC",
                   help="image topic to process (repeatable; default: every sensor_msgs/Image "
                   "and CompressedImage topic)")
    p.add_argument("--params", type=Path, help="ROS parameters YAML of the node "
                   "(e.g. config/peoplesemseg.yaml)")
    p.add_argument("--model", type=Path, help="model file (overrides model_path)")
    p.add_argument("--backend", choices=("auto", "onnxruntime", "tensorrt"),
                   help="overrides the backend parameter")
    p.add_argument("--start", type=float, metavar="SEC", help="skip the first SEC seconds")
    p.add_argument("--end", type=float, metavar="SEC",
                   help="stop SEC seconds after the bag's start")
    p.add_argument("--stride", type=int, default=1, metavar="N",
                   help="keep every N-th frame of each image topic (others are left out of "
                   "the output)")
    p.add_argument("--storage", choices=tuple(STORAGES), default="mcap")
    p.add_argument("--overlay", action="store_true", help="also write <ns>/overlay (rgb8)")
    p.add_argument("--no-occupancy", action="store_true",
                   help="write no person_occupancy / people_scan")
    p.add_argument("--strict", action="store_true", help="exit 1 if any frame was bad")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("play", help="publish a bag's messages over DDS (raw CDR)",
                       description="Publish a bag's messages with their original timing "
                       "(scaled by --rate), raw CDR, optionally with /clock.")
    p.add_argument("in_bag", type=Path)
    p.add_argument("--rate", type=float, default=1.0, help="speed factor (default 1.0)")
    p.add_argument("--loop", action="store_true", help="replay until interrupted")
    p.add_argument("--topics", nargs="+", default=[], metavar="TOPIC",
                   help="only these topics (default: all)")
    p.add_argument("--clock", action="store_true",
                   help="publish /clock (rosgraph_msgs/Clock) with the bag time")
    p.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable")
    p.add_argument("--depth", type=int, default=10, help="publisher queue depth")
    p.add_argument("--wait-for-subscribers", type=int, default=0, metavar="N",
                   help="before playing, wait until every played topic has N subscribers")
    p.add_argument("--wait-timeout", type=float, default=30.0, metavar="SEC",
                   help="give up waiting for subscribers after SEC seconds (exit 2)")

    p = sub.add_parser("record", help="record live topics into a rosbag2 (raw CDR)",
                       description="Subscribe (raw) to TOPICs as they appear and write them "
                       "to a new rosbag2 until Ctrl-C / SIGTERM, --duration or --count.")
    p.add_argument("out_bag", type=Path)
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.add_argument("--duration", type=float, metavar="SEC", help="stop after SEC seconds")
    p.add_argument("--count", type=int, metavar="N",
                   help="stop once every topic has N messages")
    p.add_argument("--storage", choices=tuple(STORAGES), default="mcap")
    p.add_argument("--qos", choices=("auto", "reliable", "best_effort"), default="auto",
                   help="auto: reliable if every publisher offers it, else best effort")

    p = sub.add_parser("eval", help="IoU of a processed bag's masks against PNG masks",
                       description="Compare the masks in a processed bag with ground-truth "
                       "PNG masks named by frame index (000000.png or 0.png: the n-th message "
                       "of the mask topic, from 0) or by header stamp in nanoseconds "
                       "(1763000000100000000.png). Non-zero pixels are person.")
    p.add_argument("out_bag", type=Path)
    p.add_argument("--masks", type=Path, required=True, metavar="DIR")
    p.add_argument("--topic", help="mask topic (default: the only */mask topic)")
    p.add_argument("--ignore-value", type=int, metavar="V",
                   help="ground-truth pixels equal to V are not scored (255 for 0/1/255 "
                   "training masks)")


def _print(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, sort_keys=False), flush=True)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="[%(levelname)s] %(name)s: %(message)s")
    try:
        if args.bag_command == "process":
            return _process(args)
        if args.bag_command == "play":
            from peoplesemseg_ros.bag.play import PlayOptions, play_bag
            summary = play_bag(args.in_bag, PlayOptions(
                rate=args.rate, loop=args.loop, topics=tuple(args.topics), clock=args.clock,
                qos=args.qos, depth=args.depth, wait_for_subscribers=args.wait_for_subscribers,
                wait_timeout=args.wait_timeout))
            _print(summary)
            return 130 if summary.get("interrupted") else 0
        if args.bag_command == "record":
            from peoplesemseg_ros.bag.record import RecordOptions, record_bag
            summary = record_bag(args.out_bag, RecordOptions(
                topics=tuple(args.topics), duration=args.duration, count=args.count,
                storage=args.storage, qos=args.qos))
            _print(summary)
            return 0
        if args.bag_command == "eval":
            from peoplesemseg_ros.bag.evaluate import evaluate_bag
            summary = evaluate_bag(args.out_bag, args.masks, args.topic, args.ignore_value)
            _print(summary)
            return 0 if summary["matched"] else 1
    except BagError as err:
        print(f"peoplesemseg bag {args.bag_command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"peoplesemseg bag {args.bag_command}: interrupted; a rerun resumes",
              file=sys.stderr)
        return 130
    raise AssertionError(f"unknown bag command {args.bag_command}")


def _process(args: argparse.Namespace) -> int:
    from peoplesemseg_ros.bag.process import ProcessOptions

    if args.workers is not None and args.workers < 1:
        raise BagError(f"--workers must be >= 1, got {args.workers}")
    if args.max_batch is not None and not 1 <= args.max_batch <= 32:
        raise BagError(f"--max-batch must be in 1..32, got {args.max_batch}")
    options = ProcessOptions(
        image_topics=tuple(args.image_topic), start_s=args.start, end_s=args.end,
        stride=args.stride, storage=args.storage, overlay=args.overlay,
        progress=not args.no_progress, strict=args.strict)
    if args.out_dir is None:
        if len(args.inputs) != 2 or args.workers is not None or args.ray:
            raise BagError("give IN_BAG OUT_BAG for one bag, or inputs and --out-dir DIR for "
                           f"many (got {len(args.inputs)} paths and no --out-dir)")
        in_bag, out_bag = (Path(p) for p in args.inputs)
        if out_bag.exists():  # before the model loads
            raise BagError(f"output {out_bag} exists already; not overwriting")
        settings = _settings(args)
        return _process_one(in_bag, out_bag, settings, options, not args.no_occupancy)
    settings = _settings(args)
    return _process_many(args, settings, options)


def _settings(args: argparse.Namespace) -> Any:
    """The node's parameters file with the command line's overrides."""
    import dataclasses

    from peoplesemseg_ros.bag.settings import load_settings

    settings = load_settings(args.params, args.model, args.backend)
    if args.max_batch is None:
        return settings
    pipeline = dataclasses.replace(settings.pipeline, max_batch=args.max_batch)
    return dataclasses.replace(settings, pipeline=pipeline)


def _process_one(in_bag: Path, out_bag: Path, settings: Any, options: Any,
                 occupancy: bool) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from peoplesemseg_ros.bag.process import process_bag
    from peoplesemseg_ros.core.pipeline import Pipeline

    with Pipeline(settings.pipeline) as pipeline, logging_redirect_tqdm():
        LOG.info("model %s, backend %s", pipeline.model_id, pipeline.backend_name)
        extra = settings.occupancy_factory(in_bag) if occupancy else None
        summary = process_bag(in_bag, out_bag, pipeline, options, extra)
    result = summary.as_json()
    result.update(model=pipeline.model_id, backend=pipeline.backend_name)
    _print(result)
    return 1 if options.strict and summary.bad_frames else 0


def _process_many(args: argparse.Namespace, settings: Any, options: Any) -> int:
    import dataclasses
    import time

    from tqdm.contrib.logging import logging_redirect_tqdm

    from peoplesemseg_ros.bag.fleet import FleetOptions, exit_code, fleet_summary, plan_jobs
    from peoplesemseg_ros.bag.runners import Progress, run_local, run_workers
    from peoplesemseg_ros.core.pipeline import model_id

    jobs = plan_jobs(args.inputs, args.out_dir)
    try:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BagError(f"cannot create --out-dir {args.out_dir}: {err}") from err
    fleet = FleetOptions(settings, dataclasses.replace(options, progress=False),
                         occupancy=not args.no_occupancy)
    progress = Progress(jobs, options.progress)
    t0 = time.perf_counter()
    extra: dict[str, Any] = {"model": model_id(settings.pipeline.resolved_model_path()),
                             "max_batch": settings.pipeline.max_batch}
    try:
        with logging_redirect_tqdm():
            if args.ray:
                from peoplesemseg_ros.bag.ray_runner import run_ray
                results, info = run_ray(jobs, fleet, args.workers or 0, progress)
                extra.update(runner="ray", **info)
            elif (args.workers or 1) > 1 and len(jobs) > 1:
                workers = min(args.workers, len(jobs))
                results = run_workers(jobs, fleet, workers, progress)
                extra.update(runner="workers", workers=workers)
            else:
                results = run_local(jobs, fleet, progress)
                extra.update(runner="local", workers=1)
    finally:
        progress.close()
    summary = fleet_summary(results, time.perf_counter() - t0, extra)
    _print(summary)
    return exit_code(summary)
