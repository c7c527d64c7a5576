"""Live TF for the camera pose: a tf2_ros Buffer + TransformListener on the node.

:class:`Tf2Source` implements
:class:`~peoplesemseg_ros.occupancy.pose_source.TransformSource` (the resolver and
all the transform maths are ROS-free, in ``occupancy/``). tf2_ros is not on PyPI, so
on a machine without a ROS install :func:`tf_source` returns None with the reason,
and ``camera_pose_source: auto`` falls back to the ``camera_pose`` parameter; the
calls below are type-checked against the stubs in ``typings/tf2_ros``.

Lookups run on the worker thread and wait at most ``tf_timeout`` for the
transform at the image stamp; the listener's callbacks run on the node's executor,
so waiting never blocks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.duration import Duration
from rclpy.time import Time

from peoplesemseg_ros.occupancy.transforms import TfError, Transform

__all__ = ["Tf2Source", "tf_source"]


class Tf2Source:
    """``target <- source`` from tf2_ros, errors as TfError (see TransformSource)."""

    def __init__(self, node: Any, timeout_s: Callable[[], float]) -> None:
        import tf2_ros

        self._tf2 = tf2_ros
        self.buffer = tf2_ros.Buffer(node=node)
        self.listener = tf2_ros.TransformListener(self.buffer, node)
        self._timeout_s = timeout_s

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        try:
            msg = self.buffer.lookup_transform(target, source, Time(nanoseconds=stamp_ns),
                                               timeout=Duration(seconds=self._timeout_s()))
        except self._tf2.TransformException as err:
            raise TfError(f"no transform {target} <- {source} at {stamp_ns / 1e9:.3f} s: "
                          f"{type(err).__name__}: {err}") from err
        return Transform.from_msg(msg.transform)

    def is_static(self, target: str, source: str) -> bool:
        # Static transforms hold at every time; a dynamic chain has no data at t = 1 ns.
        return self.buffer.can_transform(target, source, Time(nanoseconds=1))

    def clear_dynamic(self) -> None:
        self.buffer.clear()  # tf2 keeps /tf_static data on clear()

    def close(self) -> None:
        self.listener.unregister()


def tf_source(node: Any, mode: str, timeout_s: Callable[[], float],
              ) -> tuple[Tf2Source | None, str]:
    """The node's TF source, or None and why (mode parameters, tf2_ros missing)."""
    if mode == "parameters":
        return None, "camera_pose_source: parameters"
    try:
        return Tf2Source(node, timeout_s), ""
    except ImportError as err:
        return None, f"tf2_ros is not installed ({err})"
