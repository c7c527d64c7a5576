"""Render docs/occupancy.png: a synthetic camera view with its person mask, and the grid.

    .venv/bin/python tools/occupancy_figure.py [--out docs/occupancy.png]

Left: what a 960x544 camera 1 m above the floor, pitched 14 deg down (plumb_bob
lens), sees of four people standing on a flat floor (1 m floor grid lines,
people tinted by the mask, foot points in red). Right: the person_occupancy
grid in base_frame seen from above with x (forward) up, as rviz's Map display
shows it: black = person (100), white = seen free (0), grey = unknown (-1);
green circles = where the people really stand, red dots = people_scan.
Deterministic: the same command always writes the same image.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose
from peoplesemseg_ros.occupancy.mapper import FREE, PERSON, OccupancyConfig, OccupancyMapper
from peoplesemseg_ros.occupancy.scene import Person, camera_rays_base, render_people

REPO = Path(__file__).resolve().parents[1]
W, H = 960, 544
CAMERA = CameraModel(W, H, np.array([[500.0, 0.0, 479.5], [0.0, 500.0, 271.5], [0.0, 0.0, 1.0]]),
                     np.array([-0.28, 0.09, 0.001, -0.0015, -0.012]), "plumb_bob")
POSE = CameraPose(0.2, 0.0, 1.0, 0.0, 0.25, 0.0)
PEOPLE = (Person(2.0, 0.9), Person(2.8, -0.9), Person(4.2, 0.2), Person(6.0, -3.0))
SCALE = 2  # display pixels per grid cell
FONT = cv2.FONT_HERSHEY_SIMPLEX


def camera_view(rays: NDArray[np.float64], mask: NDArray[np.uint8],
                feet: NDArray[np.int64]) -> NDArray[np.uint8]:
    """A shaded floor with 1 m grid lines, sky above the horizon, people tinted orange."""
    with np.errstate(all="ignore"):
        t = -POSE.z / rays[..., 2]
        x = POSE.x + t * rays[..., 0]
        y = POSE.y + t * rays[..., 1]
        floor = (rays[..., 2] < 0) & np.isfinite(t)
        near = floor & (np.hypot(x, y) < 9.0)  # farther lines alias into noise
        line = near & ((np.abs(x - np.rint(x)) < 0.02) | (np.abs(y - np.rint(y)) < 0.02))
    img = np.empty((H, W, 3), np.uint8)
    img[:] = (235, 215, 190)  # sky (BGR)
    img[floor] = (170, 170, 170)
    img[line] = (90, 90, 90)
    person = mask != 0
    img[person] = (0.35 * img[person] + 0.65 * np.array([40, 140, 255])).astype(np.uint8)
    for r, c in feet:
        cv2.circle(img, (int(c), int(r)), 3, (0, 0, 230), -1, cv2.LINE_AA)
    return img


def grid_view(mapper: OccupancyMapper, grid: NDArray[np.int8],
              ranges: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Top view, x (forward) up and y (left) to the left, in rviz Map colours."""
    cfg = mapper.config
    grey = np.full(grid.shape, 128, np.uint8)
    grey[grid == FREE] = 255
    grey[grid == PERSON] = 0
    top = np.ascontiguousarray(grey.T[::-1, ::-1])
    big = cv2.resize(top, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
    img = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)

    def px(x: float, y: float) -> tuple[int, int]:
        col = (cfg.origin_y + cfg.height * cfg.resolution - y) / cfg.resolution * SCALE
        row = (cfg.origin_x + cfg.width * cfg.resolution - x) / cfg.resolution * SCALE
        return round(col), round(row)

    for p in PEOPLE:
        cv2.circle(img, px(p.x, p.y), round(p.radius / cfg.resolution * SCALE),
                   (0, 170, 0), 2, cv2.LINE_AA)
    for i in np.flatnonzero(np.isfinite(ranges)):
        a = cfg.scan_angle_min + i * cfg.scan_angle_increment
        r = float(ranges[i])
        cv2.circle(img, px(r * math.cos(a), r * math.sin(a)), 2, (0, 0, 230), -1, cv2.LINE_AA)
    robot = np.array([px(0.35, 0.0), px(-0.25, 0.25), px(-0.25, -0.25)], np.int32)
    cv2.fillPoly(img, [robot], (200, 90, 30), cv2.LINE_AA)
    cv2.circle(img, px(POSE.x, POSE.y), 4, (0, 200, 255), -1, cv2.LINE_AA)
    out: NDArray[np.uint8] = np.asarray(img, dtype=np.uint8)
    return out


def render() -> NDArray[np.uint8]:
    rays = camera_rays_base(CAMERA, POSE)
    mask = render_people(rays, POSE.position, PEOPLE)
    mapper = OccupancyMapper(CAMERA, POSE, OccupancyConfig())
    res = mapper.process(mask)
    left = camera_view(rays, mask, res.foot_pixels)
    right = grid_view(mapper, res.grid, res.ranges)
    lw = 720
    left = np.asarray(cv2.resize(left, (lw, round(H * lw / W)), interpolation=cv2.INTER_AREA),
                      dtype=np.uint8)
    pad, title = 10, 28
    height = max(left.shape[0], right.shape[0]) + title + 2 * pad + 24
    canvas = np.full((height, left.shape[1] + right.shape[1] + 3 * pad, 3), 255, np.uint8)
    canvas[title + pad:title + pad + left.shape[0], pad:pad + left.shape[1]] = left
    x0 = 2 * pad + left.shape[1]
    canvas[title + pad:title + pad + right.shape[0], x0:x0 + right.shape[1]] = right
    cv2.putText(canvas, "camera image + person mask (red: foot points)", (pad, title),
                FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "person_occupancy + people_scan (x up)", (x0, title),
                FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    legend = ("black: person (100)   white: seen free (0)   grey: unknown (-1)   "
              "green: true positions   red: people_scan   blue: robot   yellow: camera")
    cv2.putText(canvas, legend, (pad, height - 12), FONT, 0.45, (40, 40, 40), 1, cv2.LINE_AA)
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "occupancy.png")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    img = render()
    if not cv2.imwrite(str(args.out), img, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out} ({img.shape[1]}x{img.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
