"""The node's per-camera occupancy stage: when it rebuilds, what it publishes."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo

from peoplesemseg_ros import params
from peoplesemseg_ros.occupancy_stage import OccupancyStage

POSE = (0.0, 0.0, 1.0, 0.0, 0.4, 0.0)  # 1 m up, pitched down


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
        assert stage.messages(_mask(), None, POSE, cfg) == (None, None)
    assert len(warnings) == 1 and "no CameraInfo on cam/camera_info" in warnings[0][0]


def test_grid_and_scan_in_base_frame_and_rebuild_on_recalibration() -> None:
    stage, warnings = _stage()
    cfg = params.validate({"base_frame": "base_footprint"})
    stage.set_info(_info())
    grid, scan = stage.messages(_mask(), None, POSE, cfg)
    assert grid is not None and scan is not None
    assert grid.header.frame_id == scan.header.frame_id == "base_footprint"
    assert 100 in np.frombuffer(bytes(np.array(grid.data, np.int8)), np.int8)
    first = stage._mapper
    stage.messages(_mask(), None, POSE, cfg)
    assert stage._mapper is first  # same calibration, pose, settings: no rebuild
    stage.set_info(_info(fx=700.0))  # recalibrated at the same size
    stage.messages(_mask(), None, POSE, cfg)
    assert stage._mapper is not first
    second = stage._mapper
    stage.messages(_mask(), None, (0.0, 0.0, 1.2, 0.0, 0.4, 0.0), cfg)  # pose changed
    assert stage._mapper is not second
    assert not warnings


def test_switches_and_invalid_calibration() -> None:
    stage, warnings = _stage()
    stage.set_info(_info())
    off = params.validate({"publish.occupancy": False, "publish.scan": False})
    assert stage.messages(_mask(), None, POSE, off) == (None, None)
    only_scan = params.validate({"publish.occupancy": False})
    grid, scan = stage.messages(_mask(), None, POSE, only_scan)
    assert grid is None and scan is not None
    bad = _info()
    bad.k = [0.0] * 9  # an uncalibrated driver
    stage.set_info(bad)
    assert stage.messages(_mask(), None, POSE, params.validate({})) == (None, None)
    assert warnings and warnings[-1][1] is True  # throttled: it repeats every frame
    sky = (0.0, 0.0, 1.0, 0.0, -1.2, 0.0)  # pitched up at the sky
    stage.set_info(_info())
    stage.messages(_mask(), None, sky, params.validate({}))
    assert any("sees no floor" in text for text, _ in warnings)
