"""A bag's own TF (``/tf_static`` and ``/tf``) as the camera pose source of ``bag process``.

:func:`read_tf` reads every ``tf2_msgs/msg/TFMessage`` on ``/tf_static`` and ``/tf``
into a :class:`~peoplesemseg_ros.occupancy.transforms.TfTree` before the frames are
processed, so each image's ``base_frame <- header.frame_id`` is looked up at its stamp
with the same maths as the live node (chains of frames, interpolation between samples,
static edges at every time), through the same
:class:`~peoplesemseg_ros.occupancy.pose_source.PoseResolver`. Reading all of it first
makes the result independent of where in the bag a transform was recorded and of
batching (a processed bag is the same, byte for byte, on every run).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

from peoplesemseg_ros.bag.io import open_reader, typestore
from peoplesemseg_ros.occupancy.transforms import TfTree, Transform

__all__ = ["TF_TOPICS", "BagTf", "read_tf"]

LOG = logging.getLogger("peoplesemseg.bag")
TF_TYPE: Final = "tf2_msgs/msg/TFMessage"
TF_TOPICS: Final = {"/tf": False, "/tf_static": True}  # topic -> static


class BagTf:
    """The whole bag's TF (a TransformSource). ``clear_dynamic`` keeps it: the tree is
    indexed by stamp and holds every sample of the bag, not a history that time
    going back would make stale."""

    def __init__(self, tree: TfTree, samples: int) -> None:
        self.tree = tree
        self.samples = samples

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        return self.tree.lookup(target, source, stamp_ns)

    def is_static(self, target: str, source: str) -> bool:
        return self.tree.is_static(target, source)

    def clear_dynamic(self) -> None:
        pass


def read_tf(path: Path) -> tuple[BagTf | None, str]:
    """The bag's TF, or None and why (no TF topics, or none that decodes)."""
    store = typestore()
    tree, samples, bad = TfTree(), 0, 0
    with open_reader(path) as reader:
        conns = [c for c in reader.connections if c.topic in TF_TOPICS and c.msgtype == TF_TYPE]
        if not conns:
            return None, f"the bag has no {' or '.join(TF_TOPICS)} ({TF_TYPE})"
        for conn, _, raw in reader.messages(connections=conns):
            static = TF_TOPICS[conn.topic]
            msg: Any = store.deserialize_cdr(raw, TF_TYPE)
            for t in msg.transforms:
                stamp = int(t.header.stamp.sec) * 1_000_000_000 + int(t.header.stamp.nanosec)
                try:
                    tree.add(t.header.frame_id, t.child_frame_id, stamp,
                             Transform.from_msg(t.transform), static)
                except ValueError as err:  # empty frame names, a zero / NaN quaternion
                    bad += 1
                    if bad == 1:
                        LOG.warning("%s: skipping bad transforms on %s, first: %s", path,
                                    conn.topic, err)
                    continue
                samples += 1
    if not samples:
        return None, f"no usable transform on {' or '.join(TF_TOPICS)} ({bad} bad)"
    LOG.info("%s: TF with %d samples of %d frames%s", path, samples, len(tree.frames()),
             f" ({bad} bad transforms skipped)" if bad else "")
    return BagTf(tree, samples), ""
