"""``bench bag``: one bag's throughput against the model-only batch throughput, one run.

Writes a synthetic bag (``frames`` raw rgb8 frames of the input size with their
CameraInfo, at 10 Hz, from the bench's source pictures) to a temporary folder, then
in alternating rounds (order reversed every other round):

``model``  the backend alone, ``infer`` on batches of ``max_batch`` back to back
           (the same session options as the bag run): frames per second
``bag``    ``process_bag`` of the whole bag with the same pipeline (decode, batched
           inference, masks, occupancy and scan, writing; a fresh output each round)

and reports the medians over rounds and ``bag_over_model`` (the issue's target is
>= 0.85), from the per-round ratios and from the medians.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from peoplesemseg_ros.bag.io import create_writer, typestore
from peoplesemseg_ros.bag.process import ProcessOptions, process_bag
from peoplesemseg_ros.bag.settings import load_settings
from peoplesemseg_ros.bench.frames import InputSpec, load_source_frames
from peoplesemseg_ros.bench.model import input_batch
from peoplesemseg_ros.bench.timing import time_infer
from peoplesemseg_ros.core.pipeline import Pipeline

__all__ = ["BagBenchConfig", "bench_bag", "write_bench_bag"]

TARGET: Final = 0.85


@dataclass(frozen=True)
class BagBenchConfig:
    spec: InputSpec
    frames: int = 48
    max_batch: int = 4
    threads: int = 0  # 0: the runtime's default
    rounds: int = 3
    model_path: Path | None = None


def write_bench_bag(path: Path, spec: InputSpec, frames: int) -> Path:
    """A bag with ``frames`` rgb8 images (and CameraInfo) on /camera at 10 Hz."""
    store = typestore()
    t = store.types
    sources = load_source_frames(4)
    w, h = spec.width, spec.height
    writer = create_writer(path, "mcap")
    try:
        img = writer.add_connection("/camera/image", "sensor_msgs/msg/Image", typestore=store)
        info = writer.add_connection("/camera/camera_info", "sensor_msgs/msg/CameraInfo",
                                     typestore=store)
        import cv2

        pictures = [np.ascontiguousarray(cv2.resize(s, (w, h))) for s in sources]
        for i in range(frames):
            ns = 1_700_000_000_000_000_000 + i * 100_000_000
            sec, nsec = divmod(ns, 1_000_000_000)
            header = t["std_msgs/msg/Header"](
                stamp=t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec),
                frame_id="camera_optical_frame")
            f = 0.8 * w
            cam = t["sensor_msgs/msg/CameraInfo"](
                header=header, height=h, width=w, distortion_model="plumb_bob", d=np.zeros(5),
                k=np.array([f, 0, w / 2, 0, f, h / 2, 0, 0, 1], np.float64),
                r=np.eye(3).reshape(-1),
                p=np.array([f, 0, w / 2, 0, 0, f, h / 2, 0, 0, 0, 1, 0], np.float64),
                binning_x=0, binning_y=0,
                roi=t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0,
                                                          width=0, do_rectify=False))
            writer.write(info, ns, store.serialize_cdr(cam, "sensor_msgs/msg/CameraInfo"))
            msg = t["sensor_msgs/msg/Image"](header=header, height=h, width=w, encoding="rgb8",
                                             is_bigendian=0, step=3 * w,
                                             data=pictures[i % len(pictures)].reshape(-1))
            writer.write(img, ns + 1, store.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    finally:
        writer.close()
    return path


def bench_bag(cfg: BagBenchConfig) -> dict[str, Any]:
    settings = load_settings(None, cfg.model_path, "onnxruntime")
    from dataclasses import replace

    pipeline_cfg = replace(settings.pipeline, max_batch=cfg.max_batch, num_threads=cfg.threads)
    settings = replace(settings, pipeline=pipeline_cfg)
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="peoplesemseg_bench_bag_") as tmp, \
            Pipeline(pipeline_cfg) as pipeline:
        bag = write_bench_bag(Path(tmp) / "in", cfg.spec, cfg.frames)
        data = input_batch(pipeline.backend, cfg.max_batch)
        iters = max(2, cfg.frames // cfg.max_batch)
        options = ProcessOptions(progress=False)
        last: dict[str, Any] = {}
        for r in range(cfg.rounds):
            row: dict[str, float] = {}
            for case in (("model", "bag") if r % 2 == 0 else ("bag", "model")):
                if case == "model":
                    times = time_infer(pipeline.backend, data, 1, iters)
                    row["model_fps"] = cfg.max_batch * len(times) / float(np.sum(times))
                else:
                    t0 = time.perf_counter()
                    summary = process_bag(bag, Path(tmp) / f"out{r}", pipeline, options,
                                          settings.occupancy_factory(bag))
                    row["bag_fps"] = summary.masks / (time.perf_counter() - t0)
                    last = summary.as_json()
            row["bag_over_model"] = row["bag_fps"] / row["model_fps"]
            rounds.append(row)
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    return {"input": cfg.spec.name, "frames": cfg.frames, "max_batch": cfg.max_batch,
            "threads": cfg.threads, "rounds": rounds,
            "median_model_fps": med["model_fps"], "median_bag_fps": med["bag_fps"],
            "bag_over_model_median_of_rounds": med["bag_over_model"],
            "bag_over_model_of_medians": med["bag_fps"] / med["model_fps"],
            "target": TARGET, "meets_target": med["bag_over_model"] >= TARGET,
            "last_bag_stage_ms_per_frame": last.get("stage_ms_per_frame", {})}
