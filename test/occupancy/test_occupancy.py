"""Flat-floor occupancy: exact answers from synthetic scenes.

People are vertical cylinders at known floor points. The scene is ray-cast
with pixel rays from OpenCV's own undistortion (cv2.undistortPoints /
cv2.fisheye.undistortPoints), independent of the camera model under test, and
the mapper must put the foot points, grid cells and scan ranges where the
cylinders really stand, within one cell (5 cm).
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose
from peoplesemseg_ros.occupancy.mapper import (
    FREE,
    PERSON,
    UNKNOWN,
    OccupancyConfig,
    OccupancyMapper,
    OccupancyResult,
)
from peoplesemseg_ros.occupancy.scene import Person, render_people

W, H = 960, 544
K = np.array([[500.0, 0.0, 479.5], [0.0, 500.0, 271.5], [0.0, 0.0, 1.0]])
K_FISHEYE = np.array([[380.0, 0.0, 479.5], [0.0, 380.0, 271.5], [0.0, 0.0, 1.0]])
D_PLUMB = np.array([-0.28, 0.09, 0.001, -0.0015, -0.012])
D_FISHEYE = np.array([-0.02, 0.005, -0.001, 0.0002])
CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14)

CAMERAS = {
    "pinhole": CameraModel(W, H, K),
    "plumb_bob": CameraModel(W, H, K, D_PLUMB, "plumb_bob"),
    "equidistant": CameraModel(W, H, K_FISHEYE, D_FISHEYE, "equidistant"),
}
POSES = {
    "pitched": CameraPose(0.2, 0.0, 1.0, 0.0, 0.25, 0.0),
    "rolled_yawed": CameraPose(0.3, -0.1, 0.8, 0.08, 0.35, 0.4),
}
PEOPLE = {
    "pitched": [Person(2.5, 0.6), Person(3.5, -1.0), Person(1.8, -0.1)],
    "rolled_yawed": [Person(2.6, 2.0), Person(3.0, 0.0), Person(1.4, 0.4)],
}
RES = 0.05


def cv2_rays_base(cam: CameraModel, pose: CameraPose) -> NDArray[np.float64]:
    """(H, W, 3) base_frame rays through pixel centres, undistorted by OpenCV."""
    return _cv2_rays(cam.width, cam.height, cam.K.tobytes(), cam.D.tobytes(),
                     cam.distortion_model, pose)


@cache
def _cv2_rays(w: int, h: int, k: bytes, d: bytes, model: str,
              pose: CameraPose) -> NDArray[np.float64]:
    kk = np.frombuffer(k).reshape(3, 3)
    dd = np.frombuffer(d)
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    pts = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    if model == "equidistant":
        xy = cv2.fisheye.undistortPoints(pts, kk, dd, None, None, None, CRITERIA)[:, 0]
    else:
        xy = cv2.undistortPoints(pts, kk, dd if model else None, None, None, None, CRITERIA)[:, 0]
    rays = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1)
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    out: NDArray[np.float64] = (rays @ pose.rotation_optical().T).reshape(h, w, 3)
    return out


def cv2_project(cam: CameraModel, pose: CameraPose, pts: NDArray[np.float64]
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """OpenCV projection of base_frame points: (N, 2) pixels and the optical z."""
    opt = (pts - pose.position) @ pose.rotation_optical()
    z = opt[:, 2]
    safe = opt.copy()
    safe[z <= 1e-6] = [0.0, 0.0, 1.0]
    if cam.distortion_model == "equidistant":
        uv = cv2.fisheye.projectPoints(safe[None], np.zeros(3), np.zeros(3), cam.K, cam.D)[0][0]
    else:
        d = cam.D if cam.distortion_model else np.zeros(5)
        uv = cv2.projectPoints(safe, np.zeros(3), np.zeros(3), cam.K, d)[0][:, 0]
    return uv, z


def cv2_sees(cam: CameraModel, pose: CameraPose, cells: NDArray[np.float64],
             uv: NDArray[np.float64]) -> NDArray[np.bool_]:
    """OpenCV's undistortion of the projected pixel leads back to the cell (no lens wrap)."""
    opt = (np.concatenate([cells, np.zeros((len(cells), 1))], axis=1) - pose.position) \
        @ pose.rotation_optical()
    with np.errstate(all="ignore"):
        want = opt[:, :2] / opt[:, 2:3]
    pts = np.nan_to_num(uv).reshape(-1, 1, 2)
    if cam.distortion_model == "equidistant":
        back = cv2.fisheye.undistortPoints(pts, cam.K, cam.D, None, None, None, CRITERIA)[:, 0]
    else:
        d = cam.D if cam.distortion_model else None
        back = cv2.undistortPoints(pts, cam.K, d, None, None, None, CRITERIA)[:, 0]
    with np.errstate(invalid="ignore"):
        ok: NDArray[np.bool_] = np.linalg.norm(back - want, axis=1) < 1e-4
    return ok


@cache
def scene(cam_name: str, pose_name: str) -> tuple[OccupancyMapper, NDArray[np.uint8],
                                                   OccupancyResult]:
    cam, pose = CAMERAS[cam_name], POSES[pose_name]
    mask = render_people(cv2_rays_base(cam, pose), pose.position, PEOPLE[pose_name])
    mapper = OccupancyMapper(cam, pose, OccupancyConfig())
    return mapper, mask, mapper.process(mask)


def nearest_person(points: NDArray[np.float64], people: list[Person]
                   ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Distance of each point to the nearest cylinder's floor circle, and which cylinder."""
    c = np.array([[p.x, p.y] for p in people])
    r = np.array([p.radius for p in people])
    d = np.linalg.norm(points[:, None, :] - c[None], axis=2) - r[None]
    which = np.abs(d).argmin(axis=1)
    return d[np.arange(len(points)), which], which


@pytest.mark.parametrize("pose_name", list(POSES))
@pytest.mark.parametrize("cam_name", list(CAMERAS))
def test_foot_points_lie_on_the_cylinders(cam_name: str, pose_name: str) -> None:
    mapper, _, res = scene(cam_name, pose_name)
    people = PEOPLE[pose_name]
    assert mapper.sees_floor and mapper.why_no_floor == ""
    dist, which = nearest_person(res.foot_points, people)
    assert np.abs(dist).max() <= RES, np.abs(dist).max()
    counts = np.bincount(which, minlength=len(people))
    assert (counts >= 10).all(), counts
    assert not res.cut.any()


@pytest.mark.parametrize("pose_name", list(POSES))
@pytest.mark.parametrize("cam_name", list(CAMERAS))
def test_grid_marks_people_and_seen_floor(cam_name: str, pose_name: str) -> None:
    mapper, mask, res = scene(cam_name, pose_name)
    cam, pose, cfg, people = CAMERAS[cam_name], POSES[pose_name], mapper.config, PEOPLE[pose_name]
    grid = res.grid
    assert grid.shape == (cfg.height, cfg.width) and grid.dtype == np.int8
    assert set(np.unique(grid).tolist()) == {UNKNOWN, FREE, PERSON}
    gx, gy = cfg.cell_centres()
    cells = np.stack([gx.ravel(), gy.ravel()], axis=1)
    centres = np.array([[p.x, p.y] for p in people])
    to_person = np.linalg.norm(cells[:, None] - centres[None], axis=2).min(axis=1)
    diag = cfg.resolution * math.sqrt(2)
    # Every marked cell is within person_radius (+ a cell) of a real cylinder's outline.
    marked = grid.ravel() == PERSON
    assert to_person[marked].max() <= 0.25 + cfg.person_radius + diag
    # The point of each person nearest the camera is marked.
    for p in people:
        toward = (pose.position[:2] - [p.x, p.y]) / np.hypot(pose.x - p.x, pose.y - p.y)
        near = np.array([p.x, p.y]) + p.radius * toward
        r, c = cfg.cell_of(near[None])
        assert grid[r[0], c[0]] == PERSON, p
    # Independent visibility (OpenCV projection of the cell centres, 3 px margin).
    uv, z = cv2_project(cam, pose, np.concatenate([cells, np.zeros((len(cells), 1))], axis=1))
    rng = np.hypot(cells[:, 0], cells[:, 1])
    margin = 3.0
    inside = ((z > 0.05) & (uv[:, 0] > margin - 0.5) & (uv[:, 0] < W - 0.5 - margin)
              & (uv[:, 1] > margin - 0.5) & (uv[:, 1] < H - 0.5 - margin))
    inside &= cv2_sees(cam, pose, cells, uv)
    person_near = cv2.dilate(mask, np.ones((7, 7), np.uint8))
    pu = np.clip(np.rint(uv[:, 0]), 0, W - 1).astype(int)
    pv = np.clip(np.rint(uv[:, 1]), 0, H - 1).astype(int)
    clear = inside & (person_near[pv, pu] == 0) & (rng < cfg.max_range - 0.1)
    clear &= to_person > 0.25 + cfg.person_radius + diag
    assert clear.sum() > 2000
    assert (grid.ravel()[clear] == FREE).all()
    outside = ~((z > -0.05) & (uv[:, 0] > -0.5 - margin) & (uv[:, 0] < W - 0.5 + margin)
                & (uv[:, 1] > -0.5 - margin) & (uv[:, 1] < H - 0.5 + margin))
    outside |= rng > cfg.max_range + 0.1
    assert outside.sum() > 5000
    assert (grid.ravel()[outside] != FREE).all()  # person marks may reach past the view's rim
    far_from_people = to_person > 0.25 + cfg.person_radius + diag
    assert (grid.ravel()[outside & far_from_people] == UNKNOWN).all()
    # Behind the camera: unknown.
    r, c = cfg.cell_of(np.array([[pose.x - 1.0, pose.y]]))
    assert grid[r[0], c[0]] == UNKNOWN
    # Floor hidden behind a person (its pixel shows the person) is not claimed free.
    hidden = inside & (mask[pv, pu] != 0) & (to_person > 0.25 + cfg.person_radius + diag)
    assert hidden.sum() > 20
    assert (grid.ravel()[hidden] == UNKNOWN).all()


@pytest.mark.parametrize("pose_name", list(POSES))
@pytest.mark.parametrize("cam_name", list(CAMERAS))
def test_scan_ranges_hit_the_cylinders(cam_name: str, pose_name: str) -> None:
    mapper, _, res = scene(cam_name, pose_name)
    cfg, people = mapper.config, PEOPLE[pose_name]
    assert res.ranges.dtype == np.float32 and res.ranges.shape == (cfg.n_scan_bins,)
    hit = np.flatnonzero(np.isfinite(res.ranges))
    ang = cfg.scan_angle_min + hit * cfg.scan_angle_increment
    r = res.ranges[hit].astype(np.float64)
    pts = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
    dist, which = nearest_person(pts, people)
    tol = RES + r * cfg.scan_angle_increment / 2
    assert (np.abs(dist) <= tol).all(), np.abs(dist).max()
    for i, p in enumerate(people):
        mine = which == i
        assert mine.sum() >= 3, p
        # The nearest reading is the person's nearest point, within one resolution step.
        assert abs(r[mine].min() - (math.hypot(p.x, p.y) - p.radius)) <= RES, p


def test_empty_mask_gives_free_space_and_an_all_inf_scan() -> None:
    mapper, _, _ = scene("plumb_bob", "pitched")
    res = mapper.process(np.zeros((H, W), np.uint8))
    assert res.foot_points.shape == (0, 2) and res.cut.shape == (0,)
    assert np.isinf(res.ranges).all()
    assert np.array_equal(res.grid, mapper.free_template())
    assert set(np.unique(res.grid).tolist()) == {UNKNOWN, FREE}
    assert (res.grid == FREE).sum() > 5000


def test_person_cut_by_the_bottom_edge_is_at_the_bottom_edge_ground_point() -> None:
    cam, pose = CAMERAS["pinhole"], POSES["pitched"]
    person = Person(1.0, 0.0)  # the bottom edge sees the floor ~1.28 m ahead of the camera
    rays = cv2_rays_base(cam, pose)
    mask = render_people(rays, pose.position, [person])
    assert mask[-1].any()
    mapper = OccupancyMapper(cam, pose)
    res = mapper.process(mask)
    assert res.cut.any()
    cut_cols = res.foot_pixels[res.cut, 1]
    assert (res.foot_pixels[res.cut, 0] == H - 1).all()
    assert np.array_equal(np.sort(cut_cols), np.flatnonzero(mask[-1]))
    # The foot point is where the image's bottom edge (v = H - 0.5) meets the floor.
    u = cut_cols.astype(np.float64)
    xy = cv2.undistortPoints(np.stack([u, np.full_like(u, H - 0.5)], 1).reshape(-1, 1, 2),
                             K, None)[:, 0]
    d = np.concatenate([xy, np.ones((len(u), 1))], 1) @ pose.rotation_optical().T
    t = -pose.z / d[:, 2]
    expected = pose.position[None, :2] + t[:, None] * d[:, :2]
    np.testing.assert_allclose(res.foot_points[res.cut], expected, atol=1e-9)
    # That is the farthest the feet can be: never nearer than the real feet.
    true_nearest = math.hypot(person.x, person.y) - person.radius
    assert np.hypot(*res.foot_points[res.cut].T).min() >= true_nearest
    finite = res.ranges[np.isfinite(res.ranges)]
    assert finite.size and finite.min() >= true_nearest
    # Between the robot and that point the camera sees no floor: unknown, never free.
    cfg = mapper.config
    r, c = cfg.cell_of(np.array([[0.6, 0.0], [0.3, 0.0]]))
    assert (res.grid[r, c] == UNKNOWN).all()
    r, c = cfg.cell_of(expected)
    assert (res.grid[r, c] == PERSON).all()


def test_camera_looking_at_the_sky_sees_no_floor() -> None:
    mapper = OccupancyMapper(CAMERAS["pinhole"], CameraPose(0.0, 0.0, 1.0, 0.0, -0.7, 0.0))
    assert not mapper.sees_floor
    assert "horizon" in mapper.why_no_floor and "pitch" in mapper.why_no_floor
    mask = np.zeros((H, W), np.uint8)
    mask[200:, 400:500] = 255
    res = mapper.process(mask)
    assert (res.grid == UNKNOWN).all() and np.isinf(res.ranges).all()
    assert res.foot_points.shape == (0, 2)


def test_camera_below_the_floor_or_seeing_floor_only_beyond_max_range() -> None:
    below = OccupancyMapper(CAMERAS["pinhole"], CameraPose(0.0, 0.0, 0.0, 0.0, 0.3, 0.0))
    assert not below.sees_floor and "below the floor" in below.why_no_floor
    # The lowest ray is 5 deg below the horizon: the floor starts ~11.4 m away.
    pitch = math.radians(5.0) - math.atan(272.0 / 500.0)
    far = OccupancyMapper(CAMERAS["pinhole"], CameraPose(0.0, 0.0, 1.0, 0.0, pitch, 0.0))
    assert not far.sees_floor and "max_range" in far.why_no_floor
    near = OccupancyMapper(CAMERAS["pinhole"], CameraPose(0.0, 0.0, 1.0, 0.0, pitch, 0.0),
                           OccupancyConfig(max_range=12.0, scan_range_max=12.0))
    assert near.sees_floor


@pytest.mark.parametrize("min_h", [1, 8, 20])
def test_runs_shorter_than_min_person_height_are_ignored(min_h: int) -> None:
    mapper = OccupancyMapper(CAMERAS["pinhole"], POSES["pitched"],
                             OccupancyConfig(min_person_height_px=min_h))
    mask = np.zeros((H, W), np.uint8)
    lengths = {100: 1, 200: 7, 300: 8, 400: 19, 500: 20, 600: 40}
    for col, n in lengths.items():
        mask[400 - n + 1:401, col:col + 10] = 1  # nonzero = person, any value
    mask[250:270, 700:710] = 255  # two runs in one column: both are foot points
    mask[300:330, 700:710] = 255
    res = mapper.process(mask)
    got = {(int(r), int(c)) for r, c in res.foot_pixels}
    want = {(400, c) for col, n in lengths.items() if n >= min_h for c in range(col, col + 10)}
    want |= {(269, c) for c in range(700, 710)} | {(329, c) for c in range(700, 710)}
    assert got == want


def test_side_edges_of_a_slanted_outline_are_not_feet() -> None:
    mapper = OccupancyMapper(CAMERAS["pinhole"], POSES["pitched"])
    mask = np.zeros((H, W), np.uint8)
    for row in range(200, 450):  # a parallelogram leaning right: 1 column per 5 rows
        left = 300 + (row - 200) // 5
        mask[row, left:left + 80] = 255
    res = mapper.process(mask)
    assert set(res.foot_pixels[:, 0].tolist()) == {449}
    # Column 428 is person only in rows 445..449: a 5-pixel run, below min_person_height_px.
    assert set(res.foot_pixels[:, 1].tolist()) == set(range(349, 428))


def test_mask_of_another_size_is_scaled_to_camera_info() -> None:
    cam, pose = CAMERAS["plumb_bob"], POSES["pitched"]
    people = PEOPLE["pitched"]
    half_k = K.copy()
    half_k[:2] *= 0.5
    half_k[0, 2] = (K[0, 2] + 0.5) / 2 - 0.5
    half_k[1, 2] = (K[1, 2] + 0.5) / 2 - 0.5
    half = CameraModel(W // 2, H // 2, half_k, D_PLUMB, "plumb_bob")
    mask = render_people(cv2_rays_base(half, pose), pose.position, people)
    mapper = OccupancyMapper(cam, pose)  # built for the 960x544 CameraInfo
    res = mapper.process(mask)
    dist, which = nearest_person(res.foot_points, people)
    assert np.abs(dist).max() <= RES
    assert set(which.tolist()) == {0, 1, 2}
    # Same grid extent and the same free area as at full size (up to the field-of-view rim).
    full = mapper.free_template()
    small = mapper.free_template(H // 2, W // 2)
    assert np.mean(full == small) > 0.99


def test_bad_masks_and_configs_are_rejected() -> None:
    mapper = OccupancyMapper(CAMERAS["pinhole"], POSES["pitched"])
    with pytest.raises(ValueError, match="HxW"):
        mapper.process(np.zeros((H, W, 3), np.uint8))
    with pytest.raises(ValueError, match="resolution"):
        OccupancyConfig(resolution=0.0)
    with pytest.raises(ValueError, match="scan_angle_min"):
        OccupancyConfig(scan_angle_min=1.0, scan_angle_max=0.5)
    with pytest.raises(ValueError, match="min_person_height_px"):
        OccupancyConfig(min_person_height_px=0)
    with pytest.raises(ValueError, match="distortion_model"):
        CameraModel(W, H, K, D_PLUMB, "kannala")
    assert OccupancyConfig().n_scan_bins == 721


def test_scan_bins_and_range_limits() -> None:
    cfg = OccupancyConfig(scan_angle_min=-0.5, scan_angle_max=0.5,
                          scan_angle_increment=0.1, scan_range_min=1.0, scan_range_max=3.0)
    mapper = OccupancyMapper(CAMERAS["pinhole"], POSES["pitched"], cfg)
    res = mapper.process(render_people(cv2_rays_base(CAMERAS["pinhole"], POSES["pitched"]),
                                       POSES["pitched"].position,
                                       [Person(2.0, 0.0), Person(4.0, -1.0)]))
    assert res.ranges.shape == (11,)
    finite = np.flatnonzero(np.isfinite(res.ranges))
    # Only the person at 2 m (bearing 0, bins 4..6); the one at ~4.1 m is beyond range_max.
    assert set(finite.tolist()) <= {4, 5, 6} and 5 in finite
    assert abs(float(res.ranges[5]) - 1.75) <= RES


# --- camera model ------------------------------------------------------------------------

@pytest.mark.parametrize("model,d", [("plumb_bob", D_PLUMB),
                                     ("rational_polynomial", np.r_[D_PLUMB, 0.01, 0.002, 0.001]),
                                     ("equidistant", D_FISHEYE), ("", np.zeros(0))])
def test_projection_and_rays_match_opencv(model: str, d: NDArray[np.float64]) -> None:
    cam = CameraModel(W, H, K, d, model)
    rng = np.random.default_rng(1)
    pts = rng.uniform([-1.5, -1.0, 1.0], [1.5, 1.0, 4.0], (500, 3))
    if model == "equidistant":
        ref = cv2.fisheye.projectPoints(pts[None], np.zeros(3), np.zeros(3), K, d)[0][0]
    else:
        ref = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K, d if d.size else None)[0][:, 0]
    uv = cam.project(pts)
    np.testing.assert_allclose(uv, ref, atol=1e-6)
    rays, ok = cam.pixel_rays(uv[:, 0], uv[:, 1])
    assert ok.all()
    np.testing.assert_allclose(rays, pts / np.linalg.norm(pts, axis=1, keepdims=True), atol=1e-7)


def test_pose_conventions_rep103() -> None:
    level = CameraPose(0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    # Optical z (forward) = base x, optical x (right) = base -y, optical y (down) = base -z.
    np.testing.assert_allclose(level.rotation_optical(),
                               [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-12)
    # Positive pitch looks down: the optical axis meets the floor 1 / tan(pitch) ahead.
    k = K.copy()
    k[0, 2] = 479.0  # the principal point at the centre of column 479 ...
    cam = CameraModel(W, H, k)
    mapper = OccupancyMapper(cam, CameraPose(0.0, 0.0, 1.0, 0.0, 0.3, 0.0))
    mask = np.zeros((H, W), np.uint8)
    mask[262:272, 479] = 255  # ... and at the bottom edge of row 271 (v = 271.5)
    res = mapper.process(mask)
    np.testing.assert_allclose(res.foot_points, [[1.0 / math.tan(0.3), 0.0]], atol=1e-9)
    # Yaw turns the camera left: a yaw of +90 deg looks along base +y.
    left = CameraPose(0.0, 0.0, 1.0, 0.0, 0.3, math.pi / 2)
    res = OccupancyMapper(cam, left).process(mask)
    np.testing.assert_allclose(res.foot_points, [[0.0, 1.0 / math.tan(0.3)]], atol=1e-9)


def test_camera_model_from_camera_info_messages() -> None:
    from rosbags.typesys import Stores, get_typestore
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo(width=W, height=H, k=K.ravel().tolist(), d=D_PLUMB.tolist(),
                     distortion_model="plumb_bob")
    cam = CameraModel.from_camera_info(msg)
    assert (cam.width, cam.height, cam.distortion_model) == (W, H, "plumb_bob")
    np.testing.assert_array_equal(cam.K, K)
    np.testing.assert_array_equal(cam.D[:5], D_PLUMB)
    store = get_typestore(Stores.ROS2_KILTED)
    info_cls = store.types["sensor_msgs/msg/CameraInfo"]
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="cam")
    roi = store.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0,
                                                         width=0, do_rectify=False)
    bag_msg = info_cls(header=header, height=H, width=W, distortion_model="equidistant",
                       d=D_FISHEYE, k=K.ravel(), r=np.eye(3).ravel(), p=np.zeros(12),
                       binning_x=0, binning_y=0, roi=roi)
    fish = CameraModel.from_camera_info(bag_msg)
    assert fish.distortion_model == "equidistant"
    np.testing.assert_array_equal(fish.D, D_FISHEYE)
    # A rectified stream: empty d / no model means no distortion.
    rect = CameraModel.from_camera_info(CameraInfo(width=W, height=H, k=K.ravel().tolist()))
    assert not rect.has_distortion


def test_bench_reports_percentiles_of_a_real_scene() -> None:
    from peoplesemseg_ros.bench.occupancy import bench_occupancy

    out = bench_occupancy(width=320, height=184, repeats=5, warmup=1)
    assert {"p50_ms", "p95_ms", "cpu_p50_ms", "lut_build_ms"} <= out.keys()
    assert 0 < float(out["p50_ms"]) <= float(out["p95_ms"]) <= float(out["max_ms"])
    assert int(out["foot_points"]) > 20 and int(out["person_pixels"]) > 1000


def test_readme_figure_command_renders_the_committed_figure_size(tmp_path: Path) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "occupancy.png"
    subprocess.run([sys.executable, str(repo / "tools" / "occupancy_figure.py"), "--out",
                    str(out)], check=True, capture_output=True)
    new, committed = cv2.imread(str(out)), cv2.imread(str(repo / "docs" / "occupancy.png"))
    assert new is not None and committed is not None
    assert new.shape == committed.shape
    # Same scene, same pixels up to anti-aliasing differences between OpenCV builds.
    assert np.mean(np.abs(new.astype(int) - committed.astype(int)) > 8) < 0.01


def test_camera_info_roi_and_binning_describe_the_published_image() -> None:
    from sensor_msgs.msg import CameraInfo, RegionOfInterest

    roi = CameraInfo(width=W, height=H, k=K.ravel().tolist(), distortion_model="plumb_bob",
                     d=D_PLUMB.tolist(),
                     roi=RegionOfInterest(x_offset=100, y_offset=40, width=400, height=300))
    cam = CameraModel.from_camera_info(roi)
    assert (cam.width, cam.height) == (400, 300)
    assert (cam.K[0, 2], cam.K[1, 2]) == (379.5, 231.5)
    # The same 3D point lands 100 px left and 40 px up in the cropped image.
    full = CameraModel(W, H, K, D_PLUMB, "plumb_bob")
    p = np.array([[0.3, 0.2, 2.0]])
    np.testing.assert_allclose(cam.project(p), full.project(p) - [100, 40], atol=1e-9)
    binned = CameraModel.from_camera_info(
        CameraInfo(width=W, height=H, k=K.ravel().tolist(), binning_x=2, binning_y=2))
    assert (binned.width, binned.height) == (W // 2, H // 2)
    np.testing.assert_allclose(binned.K, full.scaled(W // 2, H // 2).K)
    assert CameraModel(W, H, K, D_FISHEYE, "fisheye").distortion_model == "equidistant"


@settings(max_examples=15, deadline=None, derandomize=True)
@given(z=st.floats(0.5, 1.5), pitch=st.floats(0.15, 0.5), roll=st.floats(-0.08, 0.08),
       yaw=st.floats(-0.6, 0.6), bearing=st.floats(-0.5, 0.5), dist=st.floats(1.0, 4.0))
def test_any_visible_person_is_found_where_it_stands(z: float, pitch: float, roll: float,
                                                      yaw: float, bearing: float,
                                                      dist: float) -> None:
    cam = CameraModel(640, 480, np.array([[400.0, 0, 319.5], [0, 400.0, 239.5], [0, 0, 1]]))
    pose = CameraPose(0.1, -0.05, z, roll, pitch, yaw)
    a = yaw + bearing
    person = Person(pose.x + dist * math.cos(a), pose.y + dist * math.sin(a))
    # Only scenes whose feet are fully in the image (the cut case has its own test).
    near_edge = dist - person.radius
    bottom = pose.z / math.tan(pitch + math.atan(240.0 / 400.0))
    assume(near_edge > bottom + 0.3)
    mask = render_people(cv2_rays_base(cam, pose), pose.position, [person])
    assume(not mask[-1].any() and mask.any())
    res = OccupancyMapper(cam, pose).process(mask)
    assert res.foot_points.shape[0] >= 5
    dist_to_circle, _ = nearest_person(res.foot_points, [person])
    assert np.abs(dist_to_circle).max() <= RES
    r, c = OccupancyConfig().cell_of(np.array([[person.x, person.y]]))
    if 0 <= r[0] < 200 and 0 <= c[0] < 200:
        toward = (pose.position[:2] - [person.x, person.y]) / dist
        nr, nc = OccupancyConfig().cell_of((np.array([person.x, person.y])
                                            + person.radius * toward)[None])
        assert res.grid[nr[0], nc[0]] == PERSON


def test_mask_dtype_and_layout_do_not_matter() -> None:
    mapper, mask, res = scene("pinhole", "pitched")
    as_bool = mapper.process(cast(Any, mask.astype(bool)))
    ids = mapper.process(cast(Any, (mask // 255).astype(np.int32)))
    wide = np.zeros((H, 2 * W), np.uint8)
    wide[:, ::2] = mask
    strided = mapper.process(wide[:, ::2])
    for other in (as_bool, ids, strided):
        np.testing.assert_array_equal(other.grid, res.grid)
        np.testing.assert_array_equal(other.ranges, res.ranges)
        np.testing.assert_array_equal(other.foot_points, res.foot_points)


def test_nonzero_rc_matches_numpy_row_major() -> None:
    """The foot search's OpenCV nonzero gives np.nonzero's pixels in its order."""
    from peoplesemseg_ros.occupancy.mapper import _nonzero_rc

    rng = np.random.default_rng(5)
    for shape, share in (((544, 960), 0.02), ((7, 3), 0.5), ((5, 4), 0.0), ((1, 1), 1.0)):
        values = rng.random(shape) < share
        r, c = _nonzero_rc(values)
        want_r, want_c = np.nonzero(values)
        assert r.dtype == np.int64 and np.array_equal(r, want_r) and np.array_equal(c, want_c)
    strided = (rng.random((20, 30)) < 0.3)[:, ::2]  # not contiguous
    assert all(np.array_equal(a, b) for a, b in zip(_nonzero_rc(strided), np.nonzero(strided),
                                                     strict=True))
