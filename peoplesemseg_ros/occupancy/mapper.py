"""Person occupancy on a flat floor: mask + camera model + camera pose -> grid and scan.

Plain numpy and OpenCV, no ROS imports (see :mod:`peoplesemseg_ros.occupancy.msgs` for the
messages and ``docs/occupancy.md`` for the model, its assumptions and how it
fails).

Model
    For every image column, the lowest pixel of each vertical run of person
    pixels (runs shorter than ``min_person_height_px`` are ignored) is a foot
    point. The ray through the *bottom edge* of that pixel (where the person
    meets the floor) is undistorted and cut with the floor plane z = 0 of
    ``base_frame``. Rays at or above the horizon and floor points farther than
    ``max_range`` (horizontal distance from the ``base_frame`` origin, the same
    quantity the scan reports) are ignored. A run end on a side edge of the
    silhouette is not a foot point: when an adjacent column's run goes on
    ``SIDE_STEP_PX`` or more rows lower, the outline is slanted there (lens
    distortion, a pitched or rolled camera, the gap between legs) and the ray
    would hit the floor far behind the person.

Grid (nav_msgs/OccupancyGrid semantics, row-major, row = y index, column = x index)
    100: a cell whose centre lies within ``person_radius`` of a foot point (up
    to half a cell diagonal: the disc is stamped around the foot point's cell);
    0: a floor cell the camera sees (its centre projects inside the image, within
    ``max_range``) through a pixel that is not a person pixel;
    -1: everything else: outside the field of view, behind the camera, beyond
    ``max_range``, the blind area under the camera, and floor hidden behind a
    person (its pixel shows the person, not the floor).

Scan
    Per bearing bin (``scan_angle_min`` + i * ``scan_angle_increment``, seen from
    the ``base_frame`` origin), the range to the nearest foot point; inf where
    there is none or it is outside [``scan_range_min``, ``scan_range_max``].

A person cut by the image bottom edge
    Their lowest visible pixel is on the bottom row, so the foot point is the
    floor point of the bottom image edge in that column: the *farthest* their
    feet can be (an upper bound on the distance; the true feet are closer, in
    the blind area under the camera). It is reported like any foot point and
    flagged in ``OccupancyResult.cut``; the cells between it and the robot are
    outside the view and stay unknown (-1), never free.

Masks of another size than CameraInfo
    The mask is taken to cover the same field of view, resized (e.g. the
    network's resolution): pixel coordinates are scaled by width and height
    ratios with pixel edges aligned (:meth:`CameraModel.scaled`), and a lookup
    table is built once per mask size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose

__all__ = [
    "FREE",
    "PERSON",
    "SIDE_STEP_PX",
    "UNKNOWN",
    "CameraModel",
    "CameraPose",
    "OccupancyConfig",
    "OccupancyMapper",
    "OccupancyResult",
]

PERSON = 100
FREE = 0
UNKNOWN = -1
# A run end whose neighbouring column stays person this many rows lower is a side edge.
SIDE_STEP_PX = 2
_MAX_LUTS = 4

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Bool = NDArray[np.bool_]


def _nonzero_rc(values: Bool) -> tuple[I64, I64]:
    """Row and column of every True pixel, row-major like ``np.nonzero`` (OpenCV's
    ``findNonZero``: about 5x faster on a full-resolution mask, the stage's largest cost)."""
    points = cv2.findNonZero(np.ascontiguousarray(values).view(np.uint8))
    if points is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    xy = points.reshape(-1, 2).astype(np.int64)
    return xy[:, 1], xy[:, 0]


@dataclass(frozen=True)
class OccupancyConfig:
    """Grid and scan geometry. Distances in metres, angles in radians.

    The default grid is 10 m x 10 m at 5 cm with the robot at its left-middle:
    x in [-2, 8] (8 m ahead, 2 m behind), y in [-5, 5]; for a rear or side
    camera move the origin (e.g. origin_x = -5 centres the robot).
    """

    resolution: float = 0.05
    width: int = 200
    height: int = 200
    origin_x: float = -2.0
    origin_y: float = -5.0
    max_range: float = 8.0
    person_radius: float = 0.3
    min_person_height_px: int = 8
    scan_angle_min: float = -math.pi
    scan_angle_max: float = math.pi
    scan_angle_increment: float = math.radians(0.5)
    scan_range_min: float = 0.0
    scan_range_max: float = 8.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value):
                raise ValueError(f"occupancy {f.name} must be finite, got {value}")
        positive = ("resolution", "width", "height", "max_range", "scan_angle_increment",
                    "scan_range_max")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"occupancy {name} must be > 0, got {getattr(self, name)}")
        if self.person_radius < 0:
            raise ValueError(f"occupancy person_radius must be >= 0, got {self.person_radius}")
        if self.min_person_height_px < 1:
            raise ValueError("occupancy min_person_height_px must be >= 1, got "
                             f"{self.min_person_height_px}")
        if not self.scan_range_min < self.scan_range_max or self.scan_range_min < 0:
            raise ValueError("occupancy scan ranges need 0 <= scan_range_min < scan_range_max, got "
                             f"{self.scan_range_min}, {self.scan_range_max}")
        if not self.scan_angle_min < self.scan_angle_max:
            raise ValueError("occupancy scan_angle_min must be < scan_angle_max, got "
                             f"{self.scan_angle_min}, {self.scan_angle_max}")

    @property
    def n_scan_bins(self) -> int:
        """LaserScan ray count: angle_min + i * increment, i in [0, n), stays <= angle_max."""
        span = (self.scan_angle_max - self.scan_angle_min) / self.scan_angle_increment
        return math.floor(span + 1e-9) + 1

    def cell_centres(self) -> tuple[F64, F64]:
        """(x, y) of every cell centre, each (height, width)."""
        xs = self.origin_x + (np.arange(self.width) + 0.5) * self.resolution
        ys = self.origin_y + (np.arange(self.height) + 0.5) * self.resolution
        gx, gy = np.meshgrid(xs, ys)
        return gx, gy

    def cell_of(self, points: F64) -> tuple[I64, I64]:
        """(row, column) of the cells containing Nx2 base_frame points (may be outside the grid)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        col = np.floor((p[:, 0] - self.origin_x) / self.resolution).astype(np.int64)
        row = np.floor((p[:, 1] - self.origin_y) / self.resolution).astype(np.int64)
        return row, col


@dataclass(frozen=True)
class OccupancyResult:
    """One frame's output. ``grid`` is (height, width) int8 in OccupancyGrid row-major order."""

    grid: NDArray[np.int8]
    ranges: NDArray[np.float32]
    foot_points: F64  # Nx2 (x, y) in base_frame
    foot_pixels: I64  # Nx2 (row, column) in the mask
    cut: Bool  # N: the run touches the image bottom edge (feet may be closer, see module doc)


@dataclass(frozen=True)
class _Lut:
    """Everything precomputed for one mask size."""

    floor_xy: F64  # (h*w, 2) floor point of each pixel's bottom edge (NaN where invalid)
    valid: Bool  # (h*w,) below the horizon, converged, within max_range
    first_row: int  # first row with a valid pixel (h when none)
    cell_idx: I64  # flat grid indices of the floor cells the camera sees
    cell_pix: I64  # flat mask index of the pixel that sees each of them
    template: NDArray[np.int8]  # flat grid: FREE at cell_idx, UNKNOWN elsewhere


class OccupancyMapper:
    """Turns person masks into an occupancy grid and a scan for one camera and mount.

    Construction precomputes, for the CameraInfo image size, each pixel's floor
    point and the set of floor cells the camera sees; :meth:`process` then only
    extracts foot points and indexes those tables.
    """

    def __init__(self, camera: CameraModel, pose: CameraPose,
                 config: OccupancyConfig | None = None) -> None:
        self.camera = camera
        self.pose = pose
        self.config = config or OccupancyConfig()
        self._luts: dict[tuple[int, int], _Lut] = {}
        r = self.config.person_radius / self.config.resolution
        k = math.ceil(r)
        di, dj = np.mgrid[-k:k + 1, -k:k + 1]
        inside = di * di + dj * dj <= r * r + 1e-9
        self._stencil_i: I64 = di[inside].astype(np.int64)
        self._stencil_j: I64 = dj[inside].astype(np.int64)
        self._why = self._diagnose(self._lut(camera.height, camera.width))

    @property
    def sees_floor(self) -> bool:
        """False when no pixel ray meets the floor within max_range (see :attr:`why_no_floor`)."""
        return not self._why

    @property
    def why_no_floor(self) -> str:
        """Why the camera sees no floor ("" when it does)."""
        return self._why

    def free_template(self, height: int | None = None, width: int | None = None
                      ) -> NDArray[np.int8]:
        """The grid of an empty mask: FREE where the camera sees floor, UNKNOWN elsewhere."""
        lut = self._lut(height or self.camera.height, width or self.camera.width)
        return lut.template.reshape(self.config.height, self.config.width).copy()

    def process(self, mask: NDArray[np.uint8]) -> OccupancyResult:
        """Grid, scan and foot points of one HxW mask (nonzero = person)."""
        if mask.ndim != 2 or mask.shape[0] < 1 or mask.shape[1] < 1:
            raise ValueError(f"mask must be a non-empty HxW array, got shape {mask.shape}")
        h, w = mask.shape
        lut = self._lut(h, w)
        cfg = self.config
        rows, cols, cut = self._foot_pixels(mask, lut)
        pix = rows * w + cols
        feet = lut.floor_xy[pix]

        grid = lut.template.copy()
        flat = mask.reshape(-1)
        grid[lut.cell_idx[flat[lut.cell_pix] != 0]] = UNKNOWN
        if feet.shape[0]:
            fr, fc = cfg.cell_of(feet)
            pad = self._stencil_i.max(initial=0) + 1
            key = np.unique((fr + pad) * (cfg.width + 2 * pad) + (fc + pad))
            fr = key // (cfg.width + 2 * pad) - pad
            fc = key % (cfg.width + 2 * pad) - pad
            gi = (fr[:, None] + self._stencil_i[None, :]).ravel()
            gj = (fc[:, None] + self._stencil_j[None, :]).ravel()
            keep = (gi >= 0) & (gi < cfg.height) & (gj >= 0) & (gj < cfg.width)
            grid[gi[keep] * cfg.width + gj[keep]] = PERSON
        return OccupancyResult(grid=grid.reshape(cfg.height, cfg.width),
                               ranges=self._scan(feet), foot_points=feet,
                               foot_pixels=np.stack([rows, cols], axis=1), cut=cut)

    # --- per frame --------------------------------------------------------------------------
    def _foot_pixels(self, mask: NDArray[np.uint8], lut: _Lut) -> tuple[I64, I64, Bool]:
        h = mask.shape[0]
        min_h = self.config.min_person_height_px
        top = max(0, lut.first_row - min_h)
        if top >= h:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=bool)
        m = np.not_equal(mask[top:], 0)
        ends = np.empty_like(m)
        np.greater(m[:-1], m[1:], out=ends[:-1])  # person here, background below
        ends[-1] = m[-1]
        r, c = _nonzero_rc(ends)
        keep = lut.valid[(r + top) * mask.shape[1] + c] & (r >= min_h - 1)
        r, c = r[keep], c[keep]
        for k in range(1, min_h):  # the run must reach min_h pixels up
            keep = m[r - k, c]
            r, c = r[keep], c[keep]
        # A side edge, not a bottom: an adjacent column's run goes on >= SIDE_STEP_PX rows lower.
        hc, w = m.shape
        low = r + SIDE_STEP_PX < hc
        for dc in (-1, 1):
            n = c + dc
            side = low & (n >= 0) & (n < w)
            idx = np.flatnonzero(side)
            for k in range(SIDE_STEP_PX + 1):
                idx = idx[m[r[idx] + k, n[idx]]]
            keep = np.ones(r.size, dtype=bool)
            keep[idx] = False
            r, c, low = r[keep], c[keep], low[keep]
        rows = (r + top).astype(np.int64)
        return rows, c.astype(np.int64), rows == h - 1

    def _scan(self, feet: F64) -> NDArray[np.float32]:
        cfg = self.config
        n = cfg.n_scan_bins
        ranges = np.full(n, np.inf, dtype=np.float32)
        if feet.shape[0] == 0:
            return ranges
        rng = np.hypot(feet[:, 0], feet[:, 1])
        ang = np.arctan2(feet[:, 1], feet[:, 0])
        b = np.rint((ang - cfg.scan_angle_min) / cfg.scan_angle_increment).astype(np.int64)
        ok = (b >= 0) & (b < n) & (rng >= cfg.scan_range_min) & (rng <= cfg.scan_range_max)
        np.minimum.at(ranges, b[ok], rng[ok].astype(np.float32))
        return ranges

    # --- precomputation ---------------------------------------------------------------------
    def _lut(self, h: int, w: int) -> _Lut:
        lut = self._luts.get((h, w))
        if lut is None:
            lut = self._build_lut(h, w)
            if len(self._luts) >= _MAX_LUTS:  # mask sizes are few; never grow without bound
                self._luts.pop(next(iter(self._luts)))
            self._luts[(h, w)] = lut
        return lut

    def _build_lut(self, h: int, w: int) -> _Lut:
        cam = self.camera if (w, h) == (self.camera.width, self.camera.height) \
            else self.camera.scaled(w, h)
        cfg, pose = self.config, self.pose
        r_bo = pose.rotation_optical()
        centre = pose.position
        # Foot LUT: rays through the bottom edge of every pixel.
        u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64) + 0.5)
        rays, ok = cam.pixel_rays(u.ravel(), v.ravel())
        d = rays @ r_bo.T
        with np.errstate(all="ignore"):
            down = ok & (d[:, 2] < -1e-9) & (centre[2] > 0)
            t = np.where(down, -centre[2] / np.where(down, d[:, 2], -1.0), np.nan)
            floor_xy = centre[None, :2] + t[:, None] * d[:, :2]
            valid = down & (np.hypot(floor_xy[:, 0], floor_xy[:, 1]) <= cfg.max_range)
        floor_xy[~valid] = np.nan
        any_row = np.flatnonzero(valid.reshape(h, w).any(axis=1))
        first_row = int(any_row[0]) if any_row.size else h

        # Free-space template: floor cells whose centre projects into the image and whose
        # pixel ray (exact sub-pixel position) really points back at it (no distortion wrap).
        gx, gy = cfg.cell_centres()
        cells = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
        in_opt = pose.base_to_optical(cells)
        uv = cam.project(in_opt)
        with np.errstate(invalid="ignore"):
            inside = ((uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] >= -0.5)
                      & (uv[:, 1] < h - 0.5) & (np.hypot(gx.ravel(), gy.ravel()) <= cfg.max_range))
        inside &= centre[2] > 0
        idx = np.flatnonzero(inside)
        back, back_ok = cam.pixel_rays(uv[idx, 0], uv[idx, 1])
        direction = in_opt[idx] / np.linalg.norm(in_opt[idx], axis=1, keepdims=True)
        same = back_ok & (np.einsum("ij,ij->i", back, direction) > math.cos(1e-4))
        idx = idx[same]
        pc = np.clip(np.rint(uv[idx, 0]), 0, w - 1).astype(np.int64)
        pr = np.clip(np.rint(uv[idx, 1]), 0, h - 1).astype(np.int64)
        template = np.full(cfg.width * cfg.height, UNKNOWN, dtype=np.int8)
        template[idx] = FREE
        return _Lut(floor_xy=floor_xy, valid=valid, first_row=first_row,
                    cell_idx=idx.astype(np.int64), cell_pix=pr * w + pc, template=template)

    def _diagnose(self, lut: _Lut) -> str:
        if lut.valid.any():
            return ""
        pose = self.pose
        if pose.z <= 0:
            return (f"the camera is at or below the floor (camera_pose z = {pose.z} m); the "
                    "flat-floor model needs the camera above the floor plane z = 0")
        cam = self.camera
        u, v = np.meshgrid(np.linspace(0, cam.width - 1, 64), np.linspace(0, cam.height - 1, 64))
        rays, ok = cam.pixel_rays(u.ravel(), v.ravel())
        dz = (rays[ok] @ pose.rotation_optical().T)[:, 2]
        if dz.size == 0 or dz.min() >= -1e-9:
            lowest = math.degrees(math.asin(float(np.clip(dz.min(), -1, 1)))) if dz.size else 0.0
            return (f"every pixel ray points at or above the horizon (the lowest is "
                    f"{lowest:.1f} deg above horizontal with camera_pose pitch = "
                    f"{math.degrees(pose.pitch):.1f} deg; positive pitch looks down)")
        nearest = pose.z / math.tan(math.asin(min(1.0, -float(dz.min()))))
        return (f"the floor the camera sees starts about {nearest:.1f} m away, beyond "
                f"max_range = {self.config.max_range} m")
