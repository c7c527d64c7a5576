"""The per-camera occupancy stage: when it rebuilds, what it publishes (grid, scan, cloud)."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from peoplesemseg_ros import params
from peoplesemseg_ros.occupancy.cloud import CloudConfig, column_points
from peoplesemseg_ros.occupancy.stage import OccupancyMessages, OccupancyStage, quantize_pose

POSE = (0.0, 0.0, 1.0, 0.0, 0.4, 0.0)  # 1 m up, pitched down
HEADER = Header(frame_id="cam_optical")  # the image's header


def _info(fx: float = 500.0) -> CameraInfo:
    info = CameraInfo()
    info.width, info.height = 640, 480
    info.k = [fx, 0.0, 320.0, 0.0, fx, 240.0, 0.0, 0.0, 1.0]
    info.d = [0.0] * 5
    info.distortion_model = "plumb_bob"
    return info


def _stage() -> tuple[OccupancyStage, list[tuple[str, bool]]]:
    warnings: list[tuple[str, bool]] = []
    return OccupancyStage("cam/camera_info", lambda t, th: warnings.append((t, th))), warnings


def _mask() -> np.ndarray:
    mask = np.zeros((480, 640), np.uint8)
    mask[250:400, 300:340] = 255  # one upright person, feet at row 399
    return mask


def test_no_camera_info_warns_once_and_publishes_nothing() -> None:
    stage, warnings = _stage()
    cfg = params.validate({})
    for _ in range(3):
        assert stage.messages(_mask(), HEADER, POSE, cfg) == OccupancyMessages()
    assert len(warnings) == 1 and "no CameraInfo on cam/camera_info" in warnings[0][0]


def test_grid_and_scan_in_base_frame_and_rebuild_on_recalibration() -> None:
    stage, warnings = _stage()
    cfg = params.validate({"base_frame": "base_footprint"})
    stage.set_info(_info())
    grid, scan, _ = stage.messages(_mask(), HEADER, POSE, cfg)
    assert grid is not None and scan is not None
    assert grid.header.frame_id == scan.header.frame_id == "base_footprint"
    assert 100 in np.frombuffer(bytes(np.array(grid.data, np.int8)), np.int8)
    first = stage._mapper
    stage.messages(_mask(), HEADER, POSE, cfg)
    assert stage._mapper is first  # same calibration, pose, settings: no rebuild
    stage.set_info(_info(fx=700.0))  # recalibrated at the same size
    stage.messages(_mask(), HEADER, POSE, cfg)
    assert stage._mapper is not first
    second = stage._mapper
    stage.messages(_mask(), HEADER, (0.0, 0.0, 1.2, 0.0, 0.4, 0.0), cfg)  # pose changed
    assert stage._mapper is not second
    assert not warnings


def test_tf_jitter_keeps_the_mapper_a_real_move_rebuilds() -> None:
    """A pose looked up from TF each frame differs in its last float bits: no rebuild."""
    stage, _ = _stage()
    cfg = params.validate({})
    stage.set_info(_info())
    stage.messages(_mask(), HEADER, POSE, cfg)
    first = stage._mapper
    jittered = tuple(v + d for v, d in zip(POSE, (3e-9, -2e-9, 1e-7, 4e-9, -1e-8, 2e-9),
                                           strict=True))
    stage.messages(_mask(), HEADER, jittered, cfg)
    assert stage._mapper is first
    moved = (0.0, 0.0, 1.002, 0.0, 0.4, 0.0)  # 2 mm higher
    stage.messages(_mask(), HEADER, moved, cfg)
    assert stage._mapper is not first
    assert stage._mapper is not None and abs(stage._mapper.pose.z - 1.002) < 1e-9
    assert quantize_pose((0.12345, 0, 1, 0, 0.123456, 0))[::4] == pytest.approx((0.123, 0.1235))


def test_switches_and_invalid_calibration() -> None:
    stage, warnings = _stage()
    stage.set_info(_info())
    off = params.validate({"publish.occupancy": False, "publish.scan": False,
                           "publish.cloud": False})
    assert stage.messages(_mask(), HEADER, POSE, off) == OccupancyMessages()
    only_scan = params.validate({"publish.occupancy": False})
    grid, scan, _ = stage.messages(_mask(), HEADER, POSE, only_scan)
    assert grid is None and scan is not None
    assert stage.messages(_mask(), HEADER, POSE, params.validate({"publish.cloud": False})
                          ).cloud is None
    bad = _info()
    bad.k = [0.0] * 9  # an uncalibrated driver
    stage.set_info(bad)
    assert stage.messages(_mask(), HEADER, POSE, params.validate({})) == OccupancyMessages()
    assert warnings and warnings[-1][1] is True  # throttled: it repeats every frame
    sky = (0.0, 0.0, 1.0, 0.0, -1.2, 0.0)  # pitched up at the sky
    stage.set_info(_info())
    stage.messages(_mask(), HEADER, sky, params.validate({}))
    assert any("sees no floor" in text for text, _ in warnings)


def test_full_hd_mask_is_subsampled_with_the_same_answer() -> None:
    """A 1920x1080 mask gives the same foot cells as the same scene at 960x540."""
    stage_hd, _ = _stage()
    stage_sd, _ = _stage()
    hd, sd = _info(), _info()
    hd.width, hd.height, hd.k = 1920, 1080, [1000.0, 0, 960.0, 0, 1000.0, 540.0, 0, 0, 1]
    sd.width, sd.height, sd.k = 960, 540, [500.0, 0, 480.0, 0, 500.0, 270.0, 0, 0, 1]
    stage_hd.set_info(hd)
    stage_sd.set_info(sd)
    mask_sd = np.zeros((540, 960), np.uint8)
    mask_sd[300:420, 400:440] = 255
    mask_hd = np.repeat(np.repeat(mask_sd, 2, axis=0), 2, axis=1)
    cfg = params.validate({})
    grid_hd, scan_hd, _ = stage_hd.messages(mask_hd, HEADER, POSE, cfg)
    grid_sd, scan_sd, _ = stage_sd.messages(mask_sd, HEADER, POSE, cfg)
    assert grid_hd is not None and grid_sd is not None
    assert scan_hd is not None and scan_sd is not None
    assert stage_hd._mapper is not None and stage_hd._mapper.config.min_person_height_px == 4
    people_hd = np.flatnonzero(np.array(grid_hd.data, np.int8) == 100)
    people_sd = np.flatnonzero(np.array(grid_sd.data, np.int8) == 100)
    assert people_sd.size and set(people_hd) == set(people_sd)
    assert np.allclose(np.array(scan_hd.ranges), np.array(scan_sd.ranges), atol=0.02)


def _xyz(cloud: object) -> np.ndarray:
    return np.frombuffer(bytes(cloud.data), dtype="<f4").reshape(-1, 3)  # type: ignore[attr-defined]


def test_scan_clears_with_positive_inf_and_the_cloud_is_the_foot_columns() -> None:
    stage, warnings = _stage()
    stage.set_info(_info())
    cfg = params.validate({"base_frame": "base_footprint", "cloud.min_height": 0.2,
                           "cloud.max_height": 0.6, "cloud.spacing": 0.2})
    out = stage.messages(_mask(), HEADER, POSE, cfg)
    assert out.grid is not None and out.scan is not None and out.cloud is not None
    ranges = np.array(out.scan.ranges, np.float32)
    person = np.isfinite(ranges)
    assert 0 < person.sum() < 20  # one person: a few bearings
    assert np.isposinf(ranges[~person]).all()  # +inf, never range_max or NaN: consumers clear
    assert out.cloud.header.frame_id == "base_footprint" and out.cloud.header.stamp == \
        HEADER.stamp
    mapper = stage._mapper
    assert mapper is not None
    feet = mapper.process(_mask()).foot_points
    expected = column_points(feet, CloudConfig(0.2, 0.6, 0.2, 0.05))
    np.testing.assert_array_equal(_xyz(out.cloud), expected)
    np.testing.assert_array_equal(np.unique(_xyz(out.cloud)[:, 2]),
                                  np.array([0.2, 0.4, 0.6], np.float32))
    # The cloud's bearings and ranges are the scan's: the same foot points.
    xy = _xyz(out.cloud)[:, :2].astype(np.float64)
    bins = np.rint((np.arctan2(xy[:, 1], xy[:, 0]) - out.scan.angle_min)
                   / out.scan.angle_increment).astype(int)
    assert set(bins) <= set(np.flatnonzero(person))

    empty = stage.messages(np.zeros((480, 640), np.uint8), HEADER, POSE, cfg)
    assert np.isposinf(np.array(empty.scan.ranges, np.float32)).all()
    assert empty.cloud.width == 0 and len(empty.cloud.data) == 0 and len(empty.cloud.fields) == 3
    assert 100 not in np.array(empty.grid.data, np.int8)

    near = params.validate({"scan.range_max": 1.0})  # the person stands beyond it
    far = stage.messages(_mask(), HEADER, POSE, near)
    assert np.isposinf(np.array(far.scan.ranges, np.float32)).all()
    assert far.cloud.width > 0  # the cloud is not cut at the scan's range_max
    assert not warnings
