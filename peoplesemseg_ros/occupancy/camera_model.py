"""Camera geometry for the flat-floor occupancy model (plain numpy, no ROS imports).

Frames
    ``base_frame`` follows REP 103: x forward, y left, z up; the floor is z = 0.
    :class:`CameraPose` is the pose of the camera *body* frame (same REP 103
    axes, x along the optical axis) in ``base_frame``, as fixed-axis roll, pitch,
    yaw (R = Rz(yaw) @ Ry(pitch) @ Rx(roll)); positive pitch looks down. The
    optical frame (z forward, x right, y down; what CameraInfo's K refers to) is
    derived from it.

Pixels
    OpenCV / ROS convention: pixel (u, v) = (column, row) with integer
    coordinates at pixel centres, so the image spans [-0.5, W - 0.5] x
    [-0.5, H - 0.5].

Distortion models (``sensor_msgs/CameraInfo.distortion_model``)
    ``plumb_bob`` (k1, k2, p1, p2, k3), ``rational_polynomial``
    (k1, k2, p1, p2, k3, k4, k5, k6), ``equidistant`` (fisheye k1..k4; also
    accepted as ``fisheye``) and ``""`` / ``none`` (rectified image: no
    distortion). Missing coefficients are zero; another model name raises
    ValueError naming the supported ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DISTORTION_MODELS",
    "R_BODY_OPTICAL",
    "CameraModel",
    "CameraPose",
]

F64 = NDArray[np.float64]

DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant", "")

# Columns: the optical x (right), y (down), z (forward) axes expressed in the body frame.
R_BODY_OPTICAL: F64 = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

# Names some drivers use for the same models.
_ALIASES = {"none": "", "fisheye": "equidistant", "radtan": "plumb_bob"}

_UNDISTORT_ITERATIONS = 30


@dataclass(frozen=True)
class CameraPose:
    """Pose of the camera body frame in ``base_frame`` (metres, radians, REP 103)."""

    x: float = 0.0
    y: float = 0.0
    z: float = 1.0
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0

    def rotation_body(self) -> F64:
        """R_base_body: body-frame vectors -> base_frame vectors."""
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
        ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
        out: F64 = rz @ ry @ rx
        return out

    def rotation_optical(self) -> F64:
        """R_base_optical: optical-frame vectors -> base_frame vectors."""
        out: F64 = self.rotation_body() @ R_BODY_OPTICAL
        return out

    @property
    def position(self) -> F64:
        return np.array([self.x, self.y, self.z], dtype=np.float64)

    def base_to_optical(self, points: F64) -> F64:
        """Transform Nx3 base_frame points into the optical frame."""
        out: F64 = (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation_optical()
        return out


def _poly_radial(r2: F64, d: F64, rational: bool) -> F64:
    k1, k2, k3 = float(d[0]), float(d[1]), float(d[4])
    num: F64 = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    if not rational:
        return num
    k4, k5, k6 = float(d[5]), float(d[6]), float(d[7])
    den = 1.0 + r2 * (k4 + r2 * (k5 + r2 * k6))
    out: F64 = num / den
    return out


@dataclass(frozen=True)
class CameraModel:
    """Pinhole / fisheye intrinsics of one image size, as in sensor_msgs/CameraInfo."""

    width: int
    height: int
    K: F64
    D: F64 = field(default_factory=lambda: np.zeros(0))
    distortion_model: str = ""

    def __post_init__(self) -> None:
        k = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        model = self.distortion_model.strip().lower()
        model = _ALIASES.get(model, model)
        if model not in DISTORTION_MODELS:
            raise ValueError(f"unsupported distortion_model {self.distortion_model!r}; "
                             f"supported: {', '.join(repr(m) for m in DISTORTION_MODELS)}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not (k[0, 0] > 0 and k[1, 1] > 0 and np.all(np.isfinite(k))):
            raise ValueError(f"invalid intrinsics K (need fx, fy > 0): {k.ravel().tolist()}")
        n = 4 if model == "equidistant" else 8
        d = np.zeros(n)
        given = np.asarray(self.D, dtype=np.float64).ravel()[:n]
        d[: given.size] = given
        object.__setattr__(self, "K", k)
        object.__setattr__(self, "D", d)
        object.__setattr__(self, "distortion_model", model)

    @classmethod
    def from_camera_info(cls, msg: Any) -> CameraModel:
        """Build from a sensor_msgs/CameraInfo (rclpy message or rosbags dataclass).

        K, D, width and height describe the full-resolution calibration; a
        region of interest (``roi`` with a non-zero size) shifts the principal
        point and sets the size, and binning (``binning_x/y`` > 1) scales the
        result, so the model describes the image actually published.
        """
        k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3).copy()
        width, height = int(msg.width), int(msg.height)
        roi = getattr(msg, "roi", None)
        if roi is not None and int(roi.width) > 0 and int(roi.height) > 0:
            k[0, 2] -= float(roi.x_offset)
            k[1, 2] -= float(roi.y_offset)
            width, height = int(roi.width), int(roi.height)
        model = cls(width=width, height=height, K=k, D=np.asarray(msg.d, dtype=np.float64),
                    distortion_model=str(msg.distortion_model))
        bx = max(1, int(getattr(msg, "binning_x", 0) or 0))
        by = max(1, int(getattr(msg, "binning_y", 0) or 0))
        if bx > 1 or by > 1:
            model = model.scaled(width // bx, height // by)
        return model

    @property
    def has_distortion(self) -> bool:
        return self.distortion_model != "" and bool(np.any(self.D != 0.0))

    # --- forward: optical-frame points -> pixels --------------------------------------------
    def project(self, points: F64) -> F64:
        """Project Nx3 optical-frame points to Nx2 pixels (NaN where z <= 0 for pinhole models)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        if self.distortion_model == "equidistant":
            r = np.hypot(x, y)
            theta = np.arctan2(r, z)
            k1, k2, k3, k4 = self.D
            t2 = theta * theta
            theta_d = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-300), 1.0 / np.abs(z))
            xd, yd = x * scale, y * scale
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                zz = np.where(z > 0, z, np.nan)
                xn, yn = x / zz, y / zz
            xd, yd = self._distort(xn, yn)
        fx, fy, cx, cy, s = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2], self.K[0, 1]
        return np.stack([fx * xd + s * yd + cx, fy * yd + cy], axis=1)

    def _distort(self, xn: F64, yn: F64) -> tuple[F64, F64]:
        if self.distortion_model == "":
            return xn, yn
        d = self.D
        p1, p2 = d[2], d[3]
        r2 = xn * xn + yn * yn
        radial = _poly_radial(r2, d, self.distortion_model == "rational_polynomial")
        xd = xn * radial + 2.0 * p1 * xn * yn + p2 * (r2 + 2.0 * xn * xn)
        yd = yn * radial + p1 * (r2 + 2.0 * yn * yn) + 2.0 * p2 * xn * yn
        return xd, yd

    # --- backward: pixels -> rays -----------------------------------------------------------
    def pixel_rays(self, u: F64, v: F64) -> tuple[F64, NDArray[np.bool_]]:
        """Unit ray directions (..., 3) in the optical frame for pixels (u, v), and a validity mask.

        Pinhole models are undistorted by fixed-point iteration, the equidistant
        model by Newton's method on theta; a pixel is valid when the iteration
        converged (re-projection within 1e-3 px), which rejects pixels outside
        the region where the distortion polynomial is invertible.
        """
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        fx, fy, cx, cy, s = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2], self.K[0, 1]
        yd = (v - cy) / fy
        xd = (u - cx - s * yd) / fx
        if self.distortion_model == "equidistant":
            rays, ok = self._rays_equidistant(xd, yd)
        else:
            xn, yn, ok = self._undistort_pinhole(xd, yd)
            rays = np.stack([xn, yn, np.ones_like(xn)], axis=-1)
            rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
        return rays, ok

    def _undistort_pinhole(self, xd: F64, yd: F64) -> tuple[F64, F64, NDArray[np.bool_]]:
        if not self.has_distortion:
            return xd, yd, np.isfinite(xd) & np.isfinite(yd)
        d = self.D
        p1, p2 = d[2], d[3]
        rational = self.distortion_model == "rational_polynomial"
        xn, yn = xd.copy(), yd.copy()
        with np.errstate(all="ignore"):
            for _ in range(_UNDISTORT_ITERATIONS):
                r2 = xn * xn + yn * yn
                radial = _poly_radial(r2, d, rational)
                dx = 2.0 * p1 * xn * yn + p2 * (r2 + 2.0 * xn * xn)
                dy = p1 * (r2 + 2.0 * yn * yn) + 2.0 * p2 * xn * yn
                xn = (xd - dx) / radial
                yn = (yd - dy) / radial
            rx, ry = self._distort(xn, yn)
            err = np.hypot((rx - xd) * self.K[0, 0], (ry - yd) * self.K[1, 1])
        ok = np.isfinite(err) & (err < 1e-3)
        return xn, yn, ok

    def _rays_equidistant(self, xd: F64, yd: F64) -> tuple[F64, NDArray[np.bool_]]:
        k1, k2, k3, k4 = self.D
        theta_d = np.hypot(xd, yd)
        theta = theta_d.copy()
        with np.errstate(all="ignore"):
            for _ in range(_UNDISTORT_ITERATIONS):
                t2 = theta * theta
                f = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
                df = 1.0 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
                theta = theta - f / df
            t2 = theta * theta
            res = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
            df = 1.0 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
            ok = (np.isfinite(res) & (np.abs(res) * self.K[0, 0] < 1e-3) & (theta >= 0)
                  & (theta < math.pi) & (df > 0))
            scale = np.where(theta_d > 1e-12, np.sin(theta) / np.maximum(theta_d, 1e-300), 1.0)
        rays = np.stack([xd * scale, yd * scale, np.cos(theta)], axis=-1)
        rays[~ok] = np.nan
        return rays, ok

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera for an image resized to width x height (pixel-edge aligned)."""
        sx, sy = width / self.width, height / self.height
        k = self.K.copy()
        k[0, :] *= sx
        k[1, :] *= sy
        # Pixel centres sit at integer coordinates: the image edge -0.5 stays at -0.5.
        k[0, 2] = (self.K[0, 2] + 0.5) * sx - 0.5
        k[1, 2] = (self.K[1, 2] + 0.5) * sy - 0.5
        return CameraModel(width, height, k, self.D.copy(), self.distortion_model)
