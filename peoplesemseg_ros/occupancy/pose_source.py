"""Where a camera's pose comes from, per frame: TF or the ``camera_pose`` parameter.

``camera_pose_source`` (plain logic, no ROS imports; the node passes a tf2_ros
buffer wrapper, ``bag process`` a :class:`~peoplesemseg_ros.occupancy.transforms.TfTree`):

``parameters``
    always ``camera_pose``.
``tf``
    ``base_frame <- header.frame_id`` at the image stamp; no transform, no
    occupancy for that frame (masks go on) and the reason is reported.
``auto``
    TF when a TF source exists and has the transform, else ``camera_pose``;
    the choice and its reason are reported whenever they change.

Transforms whose every edge is static are cached per (base frame, image frame)
and not looked up again. Time going backwards for a camera (a looping bag under
``use_sim_time``) drops the cache and the TF source's timed data, so nothing
from the previous loop is used; static transforms stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from peoplesemseg_ros.occupancy.transforms import (
    TfError,
    Transform,
    camera_pose_from_transform,
)

__all__ = ["POSE_SOURCES", "PoseChoice", "PoseResolver", "TransformSource"]

POSE_SOURCES: Final = ("auto", "tf", "parameters")

Pose6 = tuple[float, float, float, float, float, float]


class TransformSource(Protocol):
    """What the resolver needs from a TF buffer (live tf2_ros or a bag's TfTree)."""

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        """``target <- source`` at ``stamp_ns``; raises TfError with the reason."""
        ...

    def is_static(self, target: str, source: str) -> bool:
        """True when the transform cannot change over time."""
        ...

    def clear_dynamic(self) -> None:
        """Drop timed data (time went backwards)."""
        ...


@dataclass(frozen=True)
class PoseChoice:
    pose: Pose6 | None  # None: no pose for this frame (tf mode without a transform)
    source: str  # "tf" or "parameters" ("none" when pose is None)
    detail: str  # why, for the log and diagnostics

    @property
    def label(self) -> str:
        return f"{self.source} ({self.detail})"


def _pose6(t: Transform) -> Pose6:
    p = camera_pose_from_transform(t)
    return (p.x, p.y, p.z, p.roll, p.pitch, p.yaw)


class PoseResolver:
    """One per node (or bag): decides every frame's pose; see the module docstring."""

    def __init__(self, mode: str, transforms: TransformSource | None,
                 unavailable: str = "no TF source") -> None:
        if mode not in POSE_SOURCES:
            raise ValueError(f"camera_pose_source {mode!r} is not one of "
                             f"{', '.join(POSE_SOURCES)}")
        self.mode = mode
        self.transforms = transforms
        self.unavailable = unavailable  # why transforms is None
        self.time_jumps = 0
        self._cache: dict[tuple[str, str], Pose6] = {}
        self._last_stamp: dict[str, int] = {}

    def reset(self) -> None:
        """Forget cached transforms and timed TF data (e.g. base_frame changed)."""
        self._cache.clear()
        self._last_stamp.clear()
        if self.transforms is not None:
            self.transforms.clear_dynamic()

    def _note_time(self, key: str, stamp_ns: int) -> None:
        last = self._last_stamp.get(key)
        if last is not None and stamp_ns < last:
            self.time_jumps += 1
            self._cache.clear()
            self._last_stamp.clear()
            if self.transforms is not None:
                self.transforms.clear_dynamic()
        self._last_stamp[key] = stamp_ns

    def choose(self, camera: str, base_frame: str, frame_id: str, stamp_ns: int,
               parameter_pose: Pose6) -> PoseChoice:
        """The pose of the image ``frame_id`` in ``base_frame`` at ``stamp_ns``."""
        if self.mode == "parameters":
            return PoseChoice(parameter_pose, "parameters", "camera_pose_source: parameters")
        self._note_time(camera, stamp_ns)
        try:
            pose = self._from_tf(base_frame, frame_id, stamp_ns)
        except TfError as err:
            if self.mode == "tf":
                return PoseChoice(None, "none", f"camera_pose_source: tf, but {err}")
            return PoseChoice(parameter_pose, "parameters", f"no TF: {err}")
        return PoseChoice(pose, "tf", f"{base_frame} <- {frame_id}")

    def _from_tf(self, base_frame: str, frame_id: str, stamp_ns: int) -> Pose6:
        if self.transforms is None:
            raise TfError(self.unavailable)
        if not frame_id:
            raise TfError("the image has an empty header.frame_id")
        key = (base_frame, frame_id)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        pose = _pose6(self.transforms.lookup(base_frame, frame_id, stamp_ns))
        if self.transforms.is_static(base_frame, frame_id):
            self._cache[key] = pose
        return pose
