"""Synthetic scenes for the occupancy model: people as vertical cylinders on a flat floor.

Ray-casts each pixel centre against the cylinders, so the mask is exactly what
an ideal segmenter would output for that camera; used by the tests, the
benchmark and the README figure. Plain numpy, no ROS imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose

__all__ = ["Person", "camera_rays_base", "render_people", "render_mask"]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Person:
    """A vertical cylinder standing on the floor at (x, y) of base_frame."""

    x: float
    y: float
    radius: float = 0.25
    height: float = 1.7


def camera_rays_base(camera: CameraModel, pose: CameraPose) -> F64:
    """(H, W, 3) base_frame ray directions through every pixel centre (NaN where invalid)."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64),
                       np.arange(camera.height, dtype=np.float64))
    rays, ok = camera.pixel_rays(u.ravel(), v.ravel())
    d = rays @ pose.rotation_optical().T
    d[~ok] = np.nan
    out: F64 = d.reshape(camera.height, camera.width, 3)
    return out


def render_people(rays: F64, origin: F64, people: Sequence[Person]) -> NDArray[np.uint8]:
    """Mask (255 = person) of the pixels whose ray from ``origin`` hits a cylinder first side."""
    h, w = rays.shape[:2]
    d = rays.reshape(-1, 3)
    o = np.asarray(origin, dtype=np.float64)
    hit = np.zeros(h * w, dtype=bool)
    with np.errstate(all="ignore"):
        for p in people:
            fx, fy = o[0] - p.x, o[1] - p.y
            a = d[:, 0] ** 2 + d[:, 1] ** 2
            b = 2.0 * (fx * d[:, 0] + fy * d[:, 1])
            c = fx * fx + fy * fy - p.radius * p.radius
            disc = b * b - 4.0 * a * c
            t_in = (-b - np.sqrt(disc)) / (2.0 * a)
            z_in = o[2] + t_in * d[:, 2]
            side = (disc >= 0) & (t_in > 0) & (z_in >= 0) & (z_in <= p.height)
            t_top = (p.height - o[2]) / d[:, 2]
            tx, ty = o[0] + t_top * d[:, 0] - p.x, o[1] + t_top * d[:, 1] - p.y
            top = (t_top > 0) & (tx * tx + ty * ty <= p.radius * p.radius)
            hit |= side | top
    return (hit.reshape(h, w) * np.uint8(255)).astype(np.uint8)


def render_mask(camera: CameraModel, pose: CameraPose, people: Sequence[Person]
                ) -> NDArray[np.uint8]:
    """The ideal person mask of ``people`` seen by ``camera`` mounted at ``pose``."""
    return render_people(camera_rays_base(camera, pose), pose.position, people)
