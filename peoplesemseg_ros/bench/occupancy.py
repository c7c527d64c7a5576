"""Per-frame cost of :meth:`OccupancyMapper.process` on a synthetic scene.

``python -m peoplesemseg_ros.bench.occupancy`` prints the result as JSON; the
``peoplesemseg bench`` command can call :func:`bench_occupancy` directly.
The one-time lookup-table build (at start-up / on a new CameraInfo) is timed
separately and is not part of the per-frame numbers. Wall-clock and thread CPU
percentiles are both reported: on a loaded machine the wall-clock tail is the
scheduler (other processes preempting this one), the CPU tail is the code.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import numpy as np

from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose
from peoplesemseg_ros.occupancy.mapper import OccupancyConfig, OccupancyMapper
from peoplesemseg_ros.occupancy.scene import Person, render_mask

__all__ = ["bench_occupancy", "main"]

SCENE_PEOPLE = (Person(2.5, 0.6), Person(3.5, -1.0), Person(1.8, -0.1), Person(5.0, 1.5),
                Person(6.5, -2.0))


def bench_occupancy(width: int = 960, height: int = 544, repeats: int = 300,
                    warmup: int = 20, distortion: bool = True) -> dict[str, float | int | str]:
    """Time ``process()`` on a width x height mask of five people; p50 / p95 in ms."""
    f = 0.52 * width
    k = np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])
    d = np.array([-0.28, 0.09, 0.001, -0.0015, -0.012]) if distortion else np.zeros(0)
    camera = CameraModel(width, height, k, d, "plumb_bob" if distortion else "")
    pose = CameraPose(0.2, 0.0, 1.0, 0.0, 0.25, 0.0)
    mask = render_mask(camera, pose, SCENE_PEOPLE)
    t0 = time.perf_counter()
    mapper = OccupancyMapper(camera, pose, OccupancyConfig())
    build_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(warmup):
        mapper.process(mask)
    times = np.empty(repeats)
    cpu = np.empty(repeats)
    for i in range(repeats):
        c = time.thread_time()
        t = time.perf_counter()
        mapper.process(mask)
        times[i] = time.perf_counter() - t
        cpu[i] = time.thread_time() - c
    res = mapper.process(mask)
    ms = times * 1e3
    cpu_ms = cpu * 1e3
    return {"stage": "occupancy", "width": width, "height": height, "repeats": repeats,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean()), "max_ms": float(ms.max()),
            # CPU time of this thread: wall time minus preemption by other processes.
            "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
            "cpu_p95_ms": float(np.percentile(cpu_ms, 95)), "lut_build_ms": build_ms,
            "foot_points": int(res.foot_points.shape[0]),
            "person_pixels": int(np.count_nonzero(mask))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=960)
    parser.add_argument("--height", type=int, default=544)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--no-distortion", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(bench_occupancy(args.width, args.height, args.repeats,
                                     distortion=not args.no_distortion), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
