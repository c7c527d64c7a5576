"""``bench pipeline``: per-stage times of the in-process path, per input kind.

Stages, each timed on its own (seconds -> p50/p95 ms):

``decode``       received Image / CompressedImage -> RGB (``images.image_to_rgb`` /
                 ``compressed_to_rgb``)
``preprocess``   letterbox into the model's input buffer (``Pipeline.last_timings``)
``inference``    the backend's ``infer``
``postprocess``  class map -> mono8 mask at camera resolution
``overlay``      the tinted RGB image (the node computes it only while subscribed)
``occupancy``    the node's occupancy stage (foot points -> OccupancyGrid + LaserScan)
``serialize``    mask Image built with ``.tobytes()`` + ``serialize_message``

``overhead`` = everything except inference (per frame, then percentiles), also
given without the overlay (``overhead_no_overlay``); ``overhead_replay`` runs the
same non-inference stages back to back on a fixed class map and gives wall and
thread CPU time (CPU time is what the code costs, whatever else runs on the box).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.bench.frames import InputSpec, received_messages
from peoplesemseg_ros.bench.stats import summarize_ms
from peoplesemseg_ros.core.images import (
    compressed_to_rgb,
    fill_image,
    image_to_rgb,
    mask_to_image_fields,
)
from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig
from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose
from peoplesemseg_ros.occupancy.stage import OccupancyStage
from peoplesemseg_ros.params import NodeConfig, validate

__all__ = ["STAGES", "bench_pipeline", "bench_pipeline_input", "bench_camera", "decoder_for"]

STAGES: Final = ("decode", "preprocess", "inference", "postprocess", "overlay", "occupancy",
                 "serialize")


def bench_camera(width: int, height: int) -> tuple[CameraModel, CameraPose]:
    """A plausible AMR camera: ~90 deg horizontal FOV, 0.8 m high, pitched 15 deg down."""
    f = width / (2.0 * math.tan(math.radians(45.0)))
    k = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    return CameraModel(width=width, height=height, K=k), CameraPose(z=0.8,
                                                                    pitch=math.radians(15.0))


class _Occupancy:
    """The node's occupancy stage for the bench camera, called like the node does."""

    def __init__(self, width: int, height: int) -> None:
        from sensor_msgs.msg import CameraInfo

        camera, pose = bench_camera(width, height)
        info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
        info.k = [float(v) for v in camera.K.ravel()]
        info.d = [0.0] * 5
        self.pose = (pose.x, pose.y, pose.z, pose.roll, pose.pitch, pose.yaw)
        self.config: NodeConfig = validate({})
        self.stage = OccupancyStage("bench/camera_info", lambda text, throttled: None)
        self.stage.set_info(info)

    def process(self, mask: NDArray[np.uint8], header: Any) -> None:
        self.stage.messages(mask, header, self.pose, self.config)


def decoder_for(spec: InputSpec) -> Callable[[Any], NDArray[np.uint8]]:
    return compressed_to_rgb if spec.compressed else image_to_rgb


def bench_pipeline_input(pipe: Pipeline, spec: InputSpec, warmup: int,
                         iters: int) -> dict[str, Any]:
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    msgs = received_messages(spec)
    decode = decoder_for(spec)
    mapper = _Occupancy(spec.width, spec.height)
    samples: dict[str, list[float]] = {s: [] for s in STAGES}
    overhead: list[float] = []
    overhead_no_overlay: list[float] = []
    for i in range(warmup + iters):
        msg = msgs[i % len(msgs)]
        t0 = time.perf_counter()
        rgb = decode(msg)
        t1 = time.perf_counter()
        mask = pipe.segment([rgb])[0]
        t2 = time.perf_counter()
        pipe.overlay(rgb, mask)
        t3 = time.perf_counter()
        mapper.process(mask, msg.header)
        t4 = time.perf_counter()
        out = fill_image(Image(), mask_to_image_fields(mask))
        out.header = msg.header
        serialize_message(out)
        t5 = time.perf_counter()
        if i < warmup:
            continue
        stage = pipe.last_timings
        frame = {"decode": t1 - t0, "preprocess": stage["preprocess"],
                 "inference": stage["inference"],
                 "postprocess": (t2 - t1) - stage["preprocess"] - stage["inference"],
                 "overlay": t3 - t2, "occupancy": t4 - t3, "serialize": t5 - t4}
        for name, value in frame.items():
            samples[name].append(value)
        total = sum(frame.values())
        overhead.append(total - frame["inference"])
        overhead_no_overlay.append(total - frame["inference"] - frame["overlay"])
    return {
        "input": spec.name, "width": spec.width, "height": spec.height,
        "encoding": spec.encoding, "iters": iters, "warmup": warmup,
        "stages": {name: summarize_ms(values) for name, values in samples.items()},
        "overhead": summarize_ms(overhead),
        "overhead_no_overlay": summarize_ms(overhead_no_overlay),
        "overhead_replay": _replay(pipe, msgs, decode, mapper, 10 * iters),
    }


def _replay(pipe: Pipeline, msgs: Sequence[Any], decode: Callable[[Any], NDArray[np.uint8]],
            mapper: _Occupancy, iters: int) -> dict[str, Any]:
    """Every stage but inference, back to back, on one real class map: wall and CPU time.

    The thread's CPU time does not count time the scheduler gave to other processes,
    so it shows what the code costs on a loaded box; with no inference in between the
    caches stay warm, so both figures are a lower bound of the in-pipeline overhead.
    """
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    from peoplesemseg_ros.core.backends.base import to_class_map
    from peoplesemseg_ros.core.postprocess import class_map_to_mask

    batch, _ = pipe.preprocessor.prepare([decode(msgs[0])])
    ids = to_class_map(pipe.backend.infer(batch), pipe.backend.io.output_kind)[0].copy()
    value = pipe.config.mask_value
    wall, cpu = [], []
    for i in range(iters):
        msg = msgs[i % len(msgs)]
        w0, c0 = time.perf_counter(), time.thread_time()
        rgb = decode(msg)
        _, geoms = pipe.preprocessor.prepare([rgb])
        mask = class_map_to_mask(ids, geoms[0], value)
        pipe.overlay(rgb, mask)
        mapper.process(mask, msg.header)
        out = fill_image(Image(), mask_to_image_fields(mask))
        out.header = msg.header
        serialize_message(out)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
    return {"wall": summarize_ms(wall), "cpu": summarize_ms(cpu)}


def bench_pipeline(config: PipelineConfig, specs: Sequence[InputSpec], warmup: int,
                   iters: int) -> dict[str, Any]:
    with Pipeline(config) as pipe:
        results = [bench_pipeline_input(pipe, spec, warmup, iters) for spec in specs]
        return {"backend": pipe.backend_name, "precision": pipe.precision,
                "model": pipe.model_id, "threads": config.num_threads, "inputs": results}
