"""Rigid transforms and a small TF tree (plain numpy, no ROS imports).

Conventions follow tf2: a transform looked up as ``target <- source`` maps
points given in ``source`` into ``target`` (``p_target = R @ p_source + t``);
a ``geometry_msgs/TransformStamped`` with ``header.frame_id = parent`` and
``child_frame_id = child`` is ``parent <- child``. Quaternions are (x, y, z, w).

:func:`camera_pose_from_transform` turns ``base_frame <- image frame`` into the
:class:`~peoplesemseg_ros.occupancy.camera_model.CameraPose` the mapper uses. The
image's ``header.frame_id`` is the frame the pixels are in, normally the optical
frame (z forward, x right, y down), so the TF rotation *is* the optical rotation:
the REP 103 body-to-optical rotation is taken off here once, because CameraPose
puts it back on, and is never applied on top of a TF transform.

:class:`TfTree` is the offline buffer ``bag process`` fills from ``/tf_static``
and ``/tf``: static edges hold at every time, dynamic ones are interpolated
between their samples (linear position, spherical rotation), and chains of any
length are resolved through the common ancestor, as tf2 does.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.occupancy.camera_model import R_BODY_OPTICAL, CameraPose

__all__ = [
    "MAX_EXTRAPOLATION_NS",
    "TfError",
    "TfTree",
    "Transform",
    "camera_pose_from_transform",
    "matrix_from_quaternion",
    "quaternion_from_matrix",
    "rpy_from_matrix",
]

F64 = NDArray[np.float64]

# A dynamic edge is held (not extrapolated) this far past its first / last sample.
MAX_EXTRAPOLATION_NS = 200_000_000


class TfError(LookupError):
    """A transform that cannot be found; the message names the frames and the reason."""


def matrix_from_quaternion(x: float, y: float, z: float, w: float) -> F64:
    """Rotation matrix of the (normalized) quaternion; ValueError on a zero or NaN one."""
    q = np.array([x, y, z, w], dtype=np.float64)
    n = float(np.linalg.norm(q))
    if not math.isfinite(n) or n < 1e-9:
        raise ValueError(f"invalid quaternion (x, y, z, w) = ({x}, {y}, {z}, {w}): it must be "
                         "finite and non-zero")
    x, y, z, w = (q / n).tolist()
    out: F64 = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    return out


def quaternion_from_matrix(r: F64) -> tuple[float, float, float, float]:
    """(x, y, z, w) with w >= 0 of a rotation matrix (Shepperd's method)."""
    m = np.asarray(r, dtype=np.float64)
    tr = float(m[0, 0] + m[1, 1] + m[2, 2])
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(0.0, 1.0 + m[i, i] - m[j, j] - m[k, k]))
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = s / 4
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
    qa = np.array(q, dtype=np.float64)
    qa /= np.linalg.norm(qa)
    if qa[3] < 0:
        qa = -qa
    return float(qa[0]), float(qa[1]), float(qa[2]), float(qa[3])


def rpy_from_matrix(r: F64) -> tuple[float, float, float]:
    """Fixed-axis roll, pitch, yaw with R = Rz(yaw) @ Ry(pitch) @ Rx(roll).

    At pitch = +-90 deg (a camera looking straight down or up) roll and yaw are
    not separable; roll is set to 0 and yaw takes the whole rotation about z, so
    the angles still rebuild the same matrix.
    """
    m = np.asarray(r, dtype=np.float64)
    sp = -float(m[2, 0])
    pitch = math.asin(max(-1.0, min(1.0, sp)))
    if abs(sp) > 1.0 - 1e-12:
        roll = 0.0
        yaw = math.atan2(-float(m[0, 1]), float(m[1, 1]))
    else:
        roll = math.atan2(float(m[2, 1]), float(m[2, 2]))
        yaw = math.atan2(float(m[1, 0]), float(m[0, 0]))
    return roll, pitch, yaw


@dataclass(frozen=True)
class Transform:
    """``target <- source``: p_target = rotation @ p_source + translation."""

    rotation: F64 = field(default_factory=lambda: np.eye(3))
    translation: F64 = field(default_factory=lambda: np.zeros(3))

    @classmethod
    def from_parts(cls, translation: Sequence[float], quaternion: Sequence[float]) -> Transform:
        t = np.asarray(translation, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(t)):
            raise ValueError(f"invalid translation {t.tolist()}: it must be finite")
        return cls(matrix_from_quaternion(*quaternion), t)

    @classmethod
    def from_msg(cls, transform: object) -> Transform:
        """From a geometry_msgs/Transform (rclpy message or rosbags dataclass)."""
        t, q = transform.translation, transform.rotation  # type: ignore[attr-defined]
        return cls.from_parts((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    def __matmul__(self, other: Transform) -> Transform:
        """(a <- b) @ (b <- c) = a <- c."""
        return Transform(self.rotation @ other.rotation,
                         self.rotation @ other.translation + self.translation)

    def inverse(self) -> Transform:
        rt = self.rotation.T
        return Transform(rt, -(rt @ self.translation))

    def apply(self, points: F64) -> F64:
        """Nx3 points in source -> Nx3 points in target."""
        out: F64 = np.asarray(points, dtype=np.float64).reshape(-1, 3) @ self.rotation.T \
            + self.translation
        return out

    def quaternion(self) -> tuple[float, float, float, float]:
        return quaternion_from_matrix(self.rotation)


def camera_pose_from_transform(base_from_image: Transform) -> CameraPose:
    """The CameraPose whose optical frame is the image frame of ``base <- image frame``."""
    r_body = base_from_image.rotation @ R_BODY_OPTICAL.T
    roll, pitch, yaw = rpy_from_matrix(r_body)
    x, y, z = (float(v) for v in base_from_image.translation)
    return CameraPose(x, y, z, roll, pitch, yaw)


def _slerp(q0: F64, q1: F64, f: float) -> F64:
    d = float(np.dot(q0, q1))
    if d < 0:
        q1, d = -q1, -d
    if d > 1 - 1e-9:
        q = q0 + f * (q1 - q0)
    else:
        theta = math.acos(d)
        q = (math.sin((1 - f) * theta) * q0 + math.sin(f * theta) * q1) / math.sin(theta)
    out: F64 = q / np.linalg.norm(q)
    return out


@dataclass
class _Edge:
    parent: str
    static: bool
    stamps: list[int] = field(default_factory=list)
    translations: list[F64] = field(default_factory=list)
    quaternions: list[F64] = field(default_factory=list)

    def at(self, stamp_ns: int, child: str) -> Transform:
        if self.static:
            return Transform(matrix_from_quaternion(*self.quaternions[-1]),
                             self.translations[-1])
        i = bisect.bisect_left(self.stamps, stamp_ns)
        if i < len(self.stamps) and self.stamps[i] == stamp_ns:
            lo = hi = i
        elif 0 < i < len(self.stamps):
            lo, hi = i - 1, i
        else:
            j = 0 if i == 0 else len(self.stamps) - 1
            gap = abs(self.stamps[j] - stamp_ns)
            if gap > MAX_EXTRAPOLATION_NS:
                when = "before the first" if i == 0 else "after the last"
                raise TfError(f"{self.parent} <- {child} at {stamp_ns} ns is {gap / 1e9:.3f} s "
                              f"{when} sample (holding at most {MAX_EXTRAPOLATION_NS / 1e9} s)")
            lo = hi = j
        if lo == hi:
            return Transform(matrix_from_quaternion(*self.quaternions[lo]), self.translations[lo])
        f = (stamp_ns - self.stamps[lo]) / (self.stamps[hi] - self.stamps[lo])
        t = self.translations[lo] + f * (self.translations[hi] - self.translations[lo])
        q = _slerp(self.quaternions[lo], self.quaternions[hi], f)
        return Transform(matrix_from_quaternion(*q), t)


class TfTree:
    """Frames and their parents; static and timed (dynamic) edges; tf2-style lookups."""

    def __init__(self) -> None:
        self._edges: dict[str, _Edge] = {}  # child -> edge to its parent

    def __len__(self) -> int:
        return len(self._edges)

    def add(self, parent: str, child: str, stamp_ns: int, transform: Transform,
            static: bool) -> None:
        """One ``parent <- child`` sample. A child has one parent (the newest wins, as in tf2)."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"invalid transform {parent!r} <- {child!r}: frames must be "
                             "non-empty and different")
        edge = self._edges.get(child)
        if edge is None or edge.parent != parent or edge.static != static:
            edge = self._edges[child] = _Edge(parent, static)
        q = np.array(transform.quaternion())
        if static:
            edge.stamps[:] = [0]
            edge.translations[:] = [transform.translation.copy()]
            edge.quaternions[:] = [q]
            return
        i = bisect.bisect_left(edge.stamps, stamp_ns)
        if i < len(edge.stamps) and edge.stamps[i] == stamp_ns:
            edge.translations[i], edge.quaternions[i] = transform.translation.copy(), q
            return
        edge.stamps.insert(i, stamp_ns)
        edge.translations.insert(i, transform.translation.copy())
        edge.quaternions.insert(i, q)

    def clear_dynamic(self) -> None:
        """Forget every timed sample (time jumped back); static edges stay, as in tf2."""
        self._edges = {c: e for c, e in self._edges.items() if e.static}

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self._edges:
            chain.append(self._edges[chain[-1]].parent)
            if len(chain) > len(self._edges) + 1:
                raise TfError(f"the TF tree has a loop through {frame!r}")
        return chain

    def _known(self, frame: str) -> bool:
        return frame in self._edges or any(e.parent == frame for e in self._edges.values())

    def is_static(self, target: str, source: str) -> bool:
        """True when every edge between the two frames is static (the lookup never changes)."""
        up_s, up_t = self._path(target.lstrip("/"), source.lstrip("/"))
        return all(self._edges[f].static for f in (*up_s, *up_t))

    def _path(self, target: str, source: str) -> tuple[list[str], list[str]]:
        for frame in (target, source):
            if not self._known(frame):
                raise TfError(f"frame {frame!r} does not exist in the TF data "
                              f"(known: {', '.join(sorted(self.frames())) or 'none'})")
        cs, ct = self._chain(source), self._chain(target)
        common = next((f for f in cs if f in set(ct)), None)
        if common is None:
            raise TfError(f"{target!r} and {source!r} are not connected: their roots are "
                          f"{ct[-1]!r} and {cs[-1]!r}")
        return cs[:cs.index(common)], ct[:ct.index(common)]

    def frames(self) -> set[str]:
        return set(self._edges) | {e.parent for e in self._edges.values()}

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        """``target <- source`` at ``stamp_ns``; TfError says why not."""
        target, source = target.lstrip("/"), source.lstrip("/")
        up_s, up_t = self._path(target, source)
        common_from_source = Transform()
        for f in up_s:  # source up to the common ancestor
            common_from_source = self._edges[f].at(stamp_ns, f) @ common_from_source
        common_from_target = Transform()
        for f in up_t:
            common_from_target = self._edges[f].at(stamp_ns, f) @ common_from_target
        return common_from_target.inverse() @ common_from_source
