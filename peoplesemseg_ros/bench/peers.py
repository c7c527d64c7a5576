"""``bench peers``: our models against MediaPipe selfie segmentation, side by side.

The peer is Google's MediaPipe selfie segmentation (landscape 144x256,
Apache-2.0) run the way its solution runs it: the camera frame plainly resized
to the network input, float RGB in [0, 1], the TFLite interpreter
(``ai-edge-litert``, XNNPACK), the sigmoid mask resized back and cut at 0.5.
Ours run through :class:`~peoplesemseg_ros.core.pipeline.Pipeline`, the node's
own path (letterbox in, model, mask back at camera resolution).

Both contenders segment the same frames, in alternating rounds (A B A B ...)
so slow phases of a noisy machine hit both alike; the JSON reports each one's
full-path median and p90 over all rounds and the ratio to the peer. With
``shared`` (the data folder), each contender is also scored on val and
dev_unseen through the same evaluation code as ``peoplesemseg eval``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.bench.stats import tail_ms

__all__ = ["MediaPipePeer", "PeerConfig", "bench_peers"]

Segment = Callable[[Sequence[NDArray[np.uint8]]], list[NDArray[np.uint8]]]


class MediaPipePeer:
    """MediaPipe selfie segmentation on the TFLite interpreter: RGB frames -> 0/255 masks."""

    name = "mediapipe_landscape_litert"

    def __init__(self, model: Path, threads: int = 1) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise RuntimeError("the MediaPipe peer needs ai-edge-litert (a dev dependency: "
                               "pip install -r requirements-dev.txt)") from exc
        self._interp = Interpreter(model_path=str(model), num_threads=max(1, threads))
        self._interp.allocate_tensors()
        detail = self._interp.get_input_details()[0]
        self._in = int(detail["index"])
        self._out = int(self._interp.get_output_details()[0]["index"])
        _, self.height, self.width, _ = (int(v) for v in detail["shape"])

    def segment(self, images: Sequence[NDArray[np.uint8]]) -> list[NDArray[np.uint8]]:
        masks = []
        for rgb in images:
            small = cv2.resize(rgb, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
            self._interp.set_tensor(self._in, (small.astype(np.float32) / 255.0)[None])
            self._interp.invoke()
            prob = self._interp.get_tensor(self._out)[0, ..., 0]
            full = cv2.resize(prob, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
            masks.append(np.where(full > 0.5, 255, 0).astype(np.uint8))
        return masks


@dataclass(frozen=True)
class PeerConfig:
    models: tuple[tuple[str, Path | None], ...]  # (label, ONNX path or None = embedded)
    peer_model: Path
    frame_hw: tuple[int, int] = (544, 960)
    threads: int = 1
    rounds: int = 10
    iters: int = 20
    warmup: int = 5
    shared: Path | None = None


def _frames(hw: tuple[int, int], n: int = 4) -> list[NDArray[np.uint8]]:
    """Deterministic camera-like frames (smooth structure, not noise)."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(n):
        base = rng.integers(0, 256, (hw[0] // 32, hw[1] // 32, 3), dtype=np.uint8)
        frames.append(np.ascontiguousarray(
            cv2.resize(base, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC), dtype=np.uint8))
    return frames


def _time_rounds(contenders: dict[str, Segment], frames: list[NDArray[np.uint8]],
                 cfg: PeerConfig) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for segment in contenders.values():
        for i in range(cfg.warmup):
            segment([frames[i % len(frames)]])
    for r in range(cfg.rounds):
        order = list(contenders.items())
        if r % 2:
            order.reverse()  # A B, then B A: neither always runs first
        for name, segment in order:
            for i in range(cfg.iters):
                frame = frames[i % len(frames)]
                t0 = time.perf_counter()
                segment([frame])
                times[name].append(time.perf_counter() - t0)
    return times


def _quality(segment: Segment, shared: Path) -> dict[str, Any]:
    from peoplesemseg_ros.cli.evaluate import evaluate, pairs_from_dirs, pairs_from_split

    val = evaluate(pairs_from_split(shared / "train" / "splits" / "val.txt"), segment,
                   progress=False)
    dev_dir = shared / "dev_unseen"
    dev = evaluate(pairs_from_dirs(dev_dir / "images", dev_dir / "masks"), segment,
                   progress=False)

    def brief(r: dict[str, Any]) -> dict[str, Any]:
        small = r["by_person_size"].get("small", {}).get("iou_person", float("nan"))
        return {"miou": r["miou"], "iou_person": r["iou_person"], "small_iou_person": small,
                "people_free_with_phantoms": r["people_free"]["with_phantoms"],
                "people_free_images": r["people_free"]["images"]}

    return {"val": brief(val), "dev_unseen": brief(dev)}


def bench_peers(cfg: PeerConfig) -> dict[str, Any]:
    """Full-path time per frame (and optionally quality) of our models and the peer."""
    from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig

    peer = MediaPipePeer(cfg.peer_model, cfg.threads)
    pipelines = {label: Pipeline(PipelineConfig(model_path=path, backend="onnxruntime",
                                                num_threads=cfg.threads, mask_value=255))
                 for label, path in cfg.models}
    try:
        contenders: dict[str, Segment] = {peer.name: peer.segment}
        contenders.update({label: p.segment for label, p in pipelines.items()})
        times = _time_rounds(contenders, _frames(cfg.frame_hw), cfg)
        peer_p50 = float(np.percentile(times[peer.name], 50))
        peer_p90 = float(np.percentile(times[peer.name], 90))
        results: dict[str, Any] = {}
        for name, seconds in times.items():
            entry: dict[str, Any] = {"full_path": tail_ms(seconds)}
            if name in pipelines:
                entry["model"] = pipelines[name].model_id
                entry["peer_over_ours_p50"] = peer_p50 / float(np.percentile(seconds, 50))
                entry["peer_over_ours_p90"] = peer_p90 / float(np.percentile(seconds, 90))
            if cfg.shared is not None:
                entry["quality"] = _quality(contenders[name], cfg.shared)
            results[name] = entry
    finally:
        for p in pipelines.values():
            p.close()
    return {"frame": f"{cfg.frame_hw[1]}x{cfg.frame_hw[0]}_rgb8", "threads": cfg.threads,
            "rounds": cfg.rounds, "iters_per_round": cfg.iters,
            "peer": {"name": peer.name, "model": cfg.peer_model.name,
                     "input": f"{peer.width}x{peer.height}"},
            "results": results}
