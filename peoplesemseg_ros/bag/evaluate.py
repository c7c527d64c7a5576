"""IoU of the masks in a (processed) bag against ground-truth PNG masks.

Ground truth for the n-th message (from 0, in bag order) of the mask topic is
looked up in ``DIR`` as ``{n:06d}.png``, then ``{n}.png``, then
``{stamp}.png`` where ``stamp`` is the mask's header stamp in nanoseconds
(``sec * 10**9 + nanosec``). Frames without a PNG are not scored. In a
ground-truth PNG every non-zero pixel is person, except pixels equal to
``ignore_value`` (when given), which are left out of the score: the training
data's 0 / 1 / 255 masks are read with ``ignore_value=255``. In the bag's masks
every non-zero pixel is person (whatever ``mask_value`` was).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from rosbags.serde import SerdeError

from peoplesemseg_ros.bag.io import IMAGE_TYPE, BagError, header_stamp_ns, open_reader, typestore

__all__ = ["evaluate_bag", "ground_truth", "iou_counts"]


def ground_truth(path: Path, ignore_value: int | None = None
                 ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(person, valid) boolean maps of a ground-truth PNG."""
    gt = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if gt is None:
        raise BagError(f"cannot read ground-truth mask {path}")
    if gt.ndim == 3:
        gt = gt[..., 0]
    valid = np.ones(gt.shape, dtype=bool) if ignore_value is None else gt != ignore_value
    return (gt > 0) & valid, valid


def iou_counts(pred: NDArray[np.bool_], person: NDArray[np.bool_],
               valid: NDArray[np.bool_]) -> tuple[int, int]:
    """(intersection, union) over the valid pixels."""
    inter = int(np.count_nonzero(pred & person & valid))
    union = int(np.count_nonzero((pred | person) & valid))
    return inter, union


def _mask_topic(connections: list[Any], topic: str | None) -> str:
    if topic is not None:
        if not any(c.topic == topic for c in connections):
            raise BagError(f"topic {topic} is not in the bag")
        return topic
    masks: list[str] = sorted({c.topic for c in connections
                    if c.msgtype == IMAGE_TYPE and c.topic.rsplit("/", 1)[-1] == "mask"})
    if len(masks) != 1:
        raise BagError(f"pick the mask topic with --topic; the bag has {masks or 'no */mask'}")
    return masks[0]


def evaluate_bag(bag: Path, masks_dir: Path, topic: str | None = None,
                 ignore_value: int | None = None) -> dict[str, Any]:
    """Per-frame and overall IoU; see the module docstring for the naming of ``masks_dir``."""
    if not masks_dir.is_dir():
        raise BagError(f"ground-truth folder not found: {masks_dir}")
    store = typestore()
    per_frame: list[dict[str, Any]] = []
    total_inter = total_union = 0
    used: set[Path] = set()
    with open_reader(bag) as reader:
        name = _mask_topic(reader.connections, topic)
        conns = [c for c in reader.connections if c.topic == name]
        if any(c.msgtype != IMAGE_TYPE for c in conns):
            raise BagError(f"{name} is not a sensor_msgs/Image topic")
        index = -1
        for index, (conn, _, raw) in enumerate(reader.messages(connections=conns)):
            try:
                msg: Any = store.deserialize_cdr(raw, conn.msgtype)
            except SerdeError as err:
                raise BagError(f"{name} message {index} does not deserialize: {err}") from err
            stamp = header_stamp_ns(msg)
            candidates = (f"{index:06d}.png", f"{index}.png", f"{stamp}.png")
            gt_path = next((masks_dir / c for c in candidates if (masks_dir / c).is_file()), None)
            if gt_path is None:
                continue
            used.add(gt_path)
            if msg.encoding not in ("mono8", "8UC1") or msg.step != msg.width:
                raise BagError(f"{name} message {index}: expected a packed mono8 mask, got "
                               f"{msg.encoding} step {msg.step}")
            pred = np.asarray(msg.data, dtype=np.uint8).reshape(msg.height, msg.width) > 0
            person, valid = ground_truth(gt_path, ignore_value)
            if person.shape != pred.shape:
                raise BagError(f"{gt_path.name} is {person.shape[1]}x{person.shape[0]}, the mask "
                               f"{index} is {msg.width}x{msg.height}")
            inter, union = iou_counts(pred, person, valid)
            total_inter += inter
            total_union += union
            per_frame.append({"index": index, "stamp_ns": stamp, "file": gt_path.name,
                              "iou": round(inter / union, 5) if union else None})
    scored = [f["iou"] for f in per_frame if f["iou"] is not None]
    unused = sorted(p.name for p in masks_dir.glob("*.png") if p not in used)
    return {"command": "bag eval", "bag": str(bag), "topic": name, "frames": index + 1,
            "matched": len(per_frame), "unused_ground_truth": unused[:20],
            "unused_count": len(unused), "per_frame": per_frame,
            "mean_frame_iou": round(float(np.mean(scored)), 5) if scored else None,
            "iou": round(total_inter / total_union, 5) if total_union else None,
            "ignore_value": ignore_value}
