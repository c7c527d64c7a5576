"""Offline bag processing: the node's pipeline over every image of a rosbag2, no DDS.

Reads the input bag in storage order and writes a new bag that holds every input
message (raw CDR copy, never deserialized) plus, for each processed image topic
with camera namespace ``ns`` (see :func:`~peoplesemseg_ros.bag.io.camera_namespace`):
``ns/mask`` (mono8), ``ns/overlay`` (rgb8, with ``overlay=True``) and, once a
CameraInfo on ``ns/camera_info`` has been seen and occupancy is configured,
``ns/person_occupancy``, ``ns/people_scan`` and ``ns/people_cloud``. Every output carries the input
image's header (stamp, frame_id; occupancy outputs the base frame) and bag timestamp.

Bad frames (CDR that does not deserialize, unknown encoding, corrupt JPEG, wrong
data length, ...) are copied through like any other message but get no outputs;
they are logged, counted per reason and listed in the summary. With ``strict``
the run still completes but reports failure.

If the run stops early (Ctrl-C, an unreadable input chunk) the output bag is still
closed properly, so everything written so far stays readable; its metadata
``custom_data["peoplesemseg.status"]`` says ``complete`` or why it is not.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray
from rosbags.interfaces import Connection
from rosbags.rosbag2 import ReaderError, Writer
from rosbags.serde import SerdeError
from tqdm import tqdm

from peoplesemseg_ros.bag.io import (
    CAMERA_INFO_TYPE,
    BagError,
    ImageTopic,
    copy_connection,
    create_writer,
    image_topics,
    join_topic,
    open_reader,
    typestore,
)
from peoplesemseg_ros.bag.stream import run_ordered
from peoplesemseg_ros.core.images import (
    ImageConversionError,
    compressed_to_rgb,
    image_msg,
    image_to_rgb,
    mask_to_image_fields,
    rgb_to_image_fields,
)
from peoplesemseg_ros.core.pipeline import STAGES, Pipeline

__all__ = [
    "MAX_LISTED_BAD",
    "OUTPUT_NAMES",
    "STATUS_KEY",
    "CameraOutputs",
    "ProcessOptions",
    "ProcessSummary",
    "process_bag",
]

LOG = logging.getLogger("peoplesemseg.bag")
STATUS_KEY: Final = "peoplesemseg.status"
MAX_LISTED_BAD: Final = 20
OUTPUT_NAMES: Final = ("mask", "overlay", "person_occupancy", "people_scan", "people_cloud")
_IMAGE = "sensor_msgs/msg/Image"


class CameraOutputs(Protocol):
    """Per-camera extra outputs computed from the mask (occupancy grid, people scan)."""

    def topics(self) -> dict[str, str]:
        """Output name (e.g. ``person_occupancy``) -> message type written for it."""
        ...

    def on_camera_info(self, msg: Any) -> None:
        """A deserialized sensor_msgs/CameraInfo of this camera (rosbags dataclass)."""
        ...

    def outputs(self, mask: NDArray[np.uint8], header: Any) -> dict[str, Any]:
        """Output name -> rosbags message for this mask (empty before any CameraInfo)."""
        ...


@dataclass(frozen=True)
class ProcessOptions:
    image_topics: tuple[str, ...] = ()  # () -> every Image / CompressedImage topic
    start_s: float | None = None  # seconds after the bag's first message
    end_s: float | None = None
    stride: int = 1  # keep every stride-th frame of each image topic (others are left out)
    storage: str = "mcap"
    overlay: bool = False
    progress: bool = True
    strict: bool = False  # bad frames make the run fail (exit 1)


@dataclass
class ProcessSummary:
    input: str
    output: str
    frames: int = 0  # image messages read (after time range and stride)
    masks: int = 0
    bad_frames: int = 0
    bad_reasons: Counter[str] = field(default_factory=Counter)
    bad: list[dict[str, Any]] = field(default_factory=list)
    left_out_by_stride: int = 0
    copied: int = 0  # pass-through messages (inputs, CameraInfo, other topics)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    status: str = "complete"

    def as_json(self) -> dict[str, Any]:
        fps = self.masks / self.seconds if self.seconds > 0 else 0.0
        per_frame = {k: round(1000 * v / self.masks, 3) if self.masks else 0.0
                     for k, v in self.stage_seconds.items()}
        return {"command": "bag process", "input": self.input, "output": self.output,
                "status": self.status, "frames": self.frames, "masks": self.masks,
                "bad_frames": self.bad_frames, "bad_reasons": dict(self.bad_reasons),
                "bad": self.bad, "left_out_by_stride": self.left_out_by_stride,
                "copied": self.copied, "seconds": round(self.seconds, 3),
                "fps": round(fps, 2), "stage_ms_per_frame": per_frame}


@dataclass
class _Camera:
    topic: ImageTopic
    out: dict[str, Connection]
    extra: CameraOutputs | None
    seen: int = 0


def _mono_or_rgb(store: Any, header: Any, array: NDArray[np.uint8]) -> Any:
    fields = mask_to_image_fields(array) if array.ndim == 2 else rgb_to_image_fields(array)
    return image_msg(store.types[_IMAGE], header, fields)


def process_bag(in_path: Path, out_path: Path, pipeline: Pipeline, options: ProcessOptions,
                extra_outputs: Callable[[ImageTopic], CameraOutputs | None] | None = None,
                on_frame: Callable[[int], None] | None = None) -> ProcessSummary:
    """Process ``in_path`` into the new bag ``out_path``; see the module docstring.

    Reading + decoding, batched inference (``max_batch`` of the pipeline) and writing
    run as a bounded, ordered pipeline (:func:`~peoplesemseg_ros.bag.stream.run_ordered`).
    ``on_frame(n)`` is called after every ``n`` frames written (progress of a fleet job).
    """
    if options.stride < 1:
        raise BagError(f"--stride must be >= 1, got {options.stride}")
    if out_path.exists():
        raise BagError(f"output {out_path} exists already; not overwriting")
    store = typestore()
    summary = ProcessSummary(str(in_path), str(out_path))
    summary.stage_seconds = dict.fromkeys(("decode", *STAGES, "overlay", "occupancy",
                                           "serialize"), 0.0)
    with open_reader(in_path) as reader:
        cams = {t.topic: t for t in image_topics(reader.connections, options.image_topics)}
        existing = {c.topic for c in reader.connections}
        if clash := sorted(existing & {join_topic(t.namespace, name) for t in cams.values()
                                       for name in OUTPUT_NAMES}):
            raise BagError(f"the input already has {', '.join(clash)} (a processed bag?); "
                           "process the original bag, or pick other topics with --image-topic")
        start_ns = stop_ns = None
        if options.start_s is not None:
            start_ns = reader.start_time + int(options.start_s * 1e9)
        if options.end_s is not None:
            stop_ns = reader.start_time + int(options.end_s * 1e9)
        if start_ns is not None and stop_ns is not None and stop_ns <= start_ns:
            raise BagError(f"--end ({options.end_s}) must be after --start ({options.start_s})")
        writer = create_writer(out_path, options.storage)
        t0 = time.perf_counter()
        try:
            conns = {c.id: copy_connection(writer, c, store) for c in reader.connections}
            cameras = {name: _setup_camera(writer, store, t, options, extra_outputs)
                       for name, t in cams.items()}
            infos = {join_topic(c.topic.namespace, "camera_info"): c for c in cameras.values()}
            total = None if start_ns or stop_ns else sum(
                c.msgcount for c in reader.connections if c.topic in cams)
            bar = tqdm(total=total and -(-total // options.stride), unit="frame",
                       disable=not options.progress, desc="bag process", dynamic_ncols=True)
            source = _read(in_path, start_ns, stop_ns, store, cameras, options, summary)
            with bar:
                def sink(item: _Item) -> None:
                    writer.write(conns[item.conn.id], item.stamp, item.raw)
                    if item.cam is not None:
                        _write_frame(writer, store, pipeline, item, options, summary)
                        bar.update(1)
                        if on_frame is not None:
                            on_frame(1)
                        return
                    summary.copied += 1
                    info_cam = infos.get(item.conn.topic)
                    if info_cam is not None and info_cam.extra is not None \
                            and item.conn.msgtype == CAMERA_INFO_TYPE:
                        _camera_info(store, info_cam, item.conn, item.stamp, item.raw, summary)

                run_ordered(source, lambda item: item.rgb is not None,
                            lambda batch: _infer(pipeline, batch, summary), sink,
                            max_batch=pipeline.config.max_batch)
        except KeyboardInterrupt:
            summary.status = "interrupted (Ctrl-C)"
            raise
        except (ReaderError, sqlite3.DatabaseError) as err:
            summary.status = f"incomplete: input unreadable after {summary.frames} frames: {err}"
            raise BagError(f"{in_path}: {err} (truncated or still being written?); the "
                           f"{summary.frames} frames before it are in {out_path}") from err
        except BaseException as err:
            summary.status = f"incomplete: {type(err).__name__}: {err}"
            raise
        finally:
            summary.seconds = time.perf_counter() - t0
            writer.set_custom_data(STATUS_KEY, summary.status)
            writer.close()
    return summary


@dataclass
class _Item:
    """One input message on its way through the pipeline (an image frame if ``cam``)."""

    conn: Connection
    stamp: int
    raw: bytes
    cam: _Camera | None = None
    msg: Any = None
    rgb: NDArray[np.uint8] | None = None
    bad: tuple[str, str] | None = None  # (reason, detail) of a frame that got no outputs
    mask: NDArray[np.uint8] | None = None
    decode_s: float = 0.0


def _read(in_path: Path, start_ns: int | None, stop_ns: int | None, store: Any,
          cameras: dict[str, _Camera], options: ProcessOptions,
          summary: ProcessSummary) -> Iterator[_Item]:
    """Reader thread: messages in storage order, image frames deserialized and decoded.

    The bag is opened again here: a SQLite reader works only in the thread that opened
    it (same file, same connection ids). Only this thread touches ``cam.seen`` and
    ``summary.left_out_by_stride``."""
    with open_reader(in_path) as reader:
        yield from _decode_all(reader.messages(start=start_ns, stop=stop_ns), store, cameras,
                               options, summary)


def _decode_all(messages: Iterable[tuple[Connection, int, bytes]], store: Any,
                cameras: dict[str, _Camera], options: ProcessOptions,
                summary: ProcessSummary) -> Iterator[_Item]:
    for conn, stamp, raw in messages:
        cam = cameras.get(conn.topic)
        if cam is None:
            yield _Item(conn, stamp, raw)
            continue
        cam.seen += 1
        if (cam.seen - 1) % options.stride:
            summary.left_out_by_stride += 1
            continue
        item = _Item(conn, stamp, raw, cam)
        t0 = time.perf_counter()
        try:
            item.msg = store.deserialize_cdr(raw, conn.msgtype)
            item.rgb = compressed_to_rgb(item.msg) if cam.topic.compressed \
                else image_to_rgb(item.msg)
        except SerdeError as err:
            item.bad = ("corrupt_cdr", str(err))
        except ImageConversionError as err:
            item.bad = (err.reason, err.detail)
        item.decode_s = time.perf_counter() - t0
        yield item


def _infer(pipeline: Pipeline, batch: list[_Item], summary: ProcessSummary) -> None:
    """Batch step (caller's thread): the masks of ``batch``, in place."""
    masks = pipeline.segment([item.rgb for item in batch if item.rgb is not None])
    for item, mask in zip(batch, masks, strict=True):
        item.mask = mask
    for name, seconds in pipeline.last_timings.items():
        summary.stage_seconds[name] += seconds


def _setup_camera(writer: Writer, store: Any, topic: ImageTopic, options: ProcessOptions,
                  extra_outputs: Callable[[ImageTopic], CameraOutputs | None] | None) -> _Camera:
    extra = extra_outputs(topic) if extra_outputs is not None else None
    types = {"mask": _IMAGE}
    if options.overlay:
        types["overlay"] = _IMAGE
    if extra is not None:
        types.update(extra.topics())
    out = {name: writer.add_connection(join_topic(topic.namespace, name), msgtype,
                                       typestore=store)
           for name, msgtype in types.items()}
    return _Camera(topic, out, extra)


def _bad(summary: ProcessSummary, topic: str, stamp: int, reason: str, detail: str) -> None:
    summary.bad_frames += 1
    summary.bad_reasons[reason] += 1
    if len(summary.bad) < MAX_LISTED_BAD:
        summary.bad.append({"topic": topic, "bag_time_ns": stamp, "reason": reason,
                            "detail": detail})
        LOG.warning("bad frame on %s at %d ns: %s: %s", topic, stamp, reason, detail)
    elif len(summary.bad) == MAX_LISTED_BAD:
        LOG.warning("more bad frames: counted in the summary, not logged one by one")


def _deserialize(store: Any, conn: Connection, stamp: int, raw: bytes,
                 summary: ProcessSummary) -> Any:
    """The message, or None after counting the frame as ``corrupt_cdr``."""
    try:
        return store.deserialize_cdr(raw, conn.msgtype)
    except SerdeError as err:
        _bad(summary, conn.topic, stamp, "corrupt_cdr", str(err))
        return None


def _camera_info(store: Any, cam: _Camera, conn: Connection, stamp: int, raw: bytes,
                 summary: ProcessSummary) -> None:
    assert cam.extra is not None
    msg = _deserialize(store, conn, stamp, raw, summary)
    if msg is None:
        return
    try:
        cam.extra.on_camera_info(msg)
    except ValueError as err:  # e.g. zero focal length, unknown distortion model
        _bad(summary, conn.topic, stamp, "bad_camera_info", str(err))


def _write_frame(writer: Writer, store: Any, pipeline: Pipeline, item: _Item,
                 options: ProcessOptions, summary: ProcessSummary) -> None:
    """Writer thread: the outputs of one frame, in input order."""
    summary.frames += 1
    times = summary.stage_seconds
    times["decode"] += item.decode_s
    cam = item.cam
    assert cam is not None
    if item.bad is not None or item.mask is None or item.rgb is None:
        reason, detail = item.bad or ("no_mask", "inference gave no mask")
        _bad(summary, item.conn.topic, item.stamp, reason, detail)
        return
    mask, header = item.mask, item.msg.header
    t2 = time.perf_counter()
    outputs: dict[str, Any] = {"mask": _mono_or_rgb(store, header, mask)}
    if options.overlay:
        outputs["overlay"] = _mono_or_rgb(store, header, pipeline.overlay(item.rgb, mask))
    t3 = time.perf_counter()
    if cam.extra is not None:
        outputs.update(cam.extra.outputs(mask, header))
    t4 = time.perf_counter()
    for name, out_msg in outputs.items():
        out_conn = cam.out[name]
        writer.write(out_conn, item.stamp, store.serialize_cdr(out_msg, out_conn.msgtype))
    times["overlay"] += t3 - t2
    times["occupancy"] += t4 - t3
    times["serialize"] += time.perf_counter() - t4
    summary.masks += 1
