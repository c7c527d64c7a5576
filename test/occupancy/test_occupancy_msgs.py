"""OccupancyResult -> real nav_msgs/OccupancyGrid and sensor_msgs/LaserScan messages.

Built with the rclpy message classes from the installed wheels and with
rosbags' dataclasses; rclpy reads rosbags' CDR back as the same message.
"""

from __future__ import annotations

import array
import math

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from nav_msgs.msg import OccupancyGrid
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Header

from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose
from peoplesemseg_ros.occupancy.mapper import (
    PERSON,
    OccupancyConfig,
    OccupancyMapper,
    OccupancyResult,
)
from peoplesemseg_ros.occupancy.msgs import grid_msg, scan_msg
from peoplesemseg_ros.occupancy.scene import Person, render_mask

CFG = OccupancyConfig(width=160, height=120, origin_x=-1.0, origin_y=-3.0,
                      scan_angle_min=-1.0, scan_angle_max=1.0, scan_angle_increment=0.01,
                      scan_range_min=0.2, scan_range_max=7.5)
STORE = get_typestore(Stores.ROS2_KILTED)


@pytest.fixture(scope="module")
def result() -> OccupancyResult:
    cam = CameraModel(640, 480, np.array([[400.0, 0, 319.5], [0, 400.0, 239.5], [0, 0, 1]]))
    pose = CameraPose(0.1, 0.0, 1.2, 0.0, 0.3, 0.0)
    mapper = OccupancyMapper(cam, pose, CFG)
    res = mapper.process(render_mask(cam, pose, [Person(2.5, 0.4), Person(3.5, -0.8)]))
    assert (res.grid == PERSON).any() and np.isfinite(res.ranges).any()
    assert np.isinf(res.ranges).any()
    return res


def image_header() -> Header:
    return Header(stamp=Time(sec=1_764_000_000, nanosec=123_456_789), frame_id="camera_optical")


def test_grid_msg_rclpy(result: OccupancyResult) -> None:
    header = image_header()
    msg = grid_msg(result, header, CFG, frame_id="base_link")
    assert isinstance(msg, OccupancyGrid)
    assert msg.header.frame_id == "base_link" and header.frame_id == "camera_optical"
    assert msg.header.stamp == header.stamp and msg.info.map_load_time == header.stamp
    assert (msg.info.width, msg.info.height) == (160, 120)
    assert msg.info.resolution == pytest.approx(0.05)
    assert (msg.info.origin.position.x, msg.info.origin.position.y) == (-1.0, -3.0)
    assert msg.info.origin.orientation.w == 1.0 and msg.info.origin.orientation.z == 0.0
    assert isinstance(msg.data, array.array) and msg.data.typecode == "b"
    assert len(msg.data) == 160 * 120
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.int8), result.grid.ravel())
    # Row-major from cell (0, 0): row = y index, column = x index.
    r, c = np.argwhere(result.grid == PERSON)[0]
    assert msg.data[r * 160 + c] == PERSON
    back = deserialize_message(serialize_message(msg), OccupancyGrid)
    np.testing.assert_array_equal(np.asarray(back.data, np.int8), result.grid.ravel())


def test_scan_msg_rclpy(result: OccupancyResult) -> None:
    header = image_header()
    msg = scan_msg(result, header, CFG, frame_id="base_link")
    assert isinstance(msg, LaserScan)
    assert msg.header.frame_id == "base_link" and msg.header.stamp == header.stamp
    n = CFG.n_scan_bins
    assert n == 201 and len(msg.ranges) == n and len(msg.intensities) == 0
    assert msg.angle_min == pytest.approx(-1.0) and msg.angle_increment == pytest.approx(0.01)
    # Consumers count rays from the angles: that must give len(ranges).
    assert round((msg.angle_max - msg.angle_min) / msg.angle_increment) + 1 == n
    assert (msg.range_min, msg.range_max) == (pytest.approx(0.2), pytest.approx(7.5))
    assert isinstance(msg.ranges, array.array) and msg.ranges.typecode == "f"
    got = np.frombuffer(msg.ranges, np.float32)
    np.testing.assert_array_equal(got, result.ranges)
    assert math.isinf(msg.ranges[0])
    back = deserialize_message(serialize_message(msg), LaserScan)
    np.testing.assert_array_equal(np.asarray(back.ranges, np.float32), result.ranges)


def test_header_is_used_as_given_without_frame_id(result: OccupancyResult) -> None:
    header = Header(stamp=Time(sec=3, nanosec=4), frame_id="odom")
    assert grid_msg(result, header, CFG).header.frame_id == "odom"
    assert scan_msg(result, header, CFG).header.frame_id == "odom"


def test_rosbags_classes_give_the_same_bytes(result: OccupancyResult) -> None:
    t = STORE.types
    header = t["std_msgs/msg/Header"](
        stamp=t["builtin_interfaces/msg/Time"](sec=1_764_000_000, nanosec=123_456_789),
        frame_id="camera_optical")
    grid = grid_msg(result, header, CFG, t["nav_msgs/msg/OccupancyGrid"], frame_id="base_link")
    scan = scan_msg(result, header, CFG, t["sensor_msgs/msg/LaserScan"], frame_id="base_link")
    assert grid.header.frame_id == "base_link" and grid.info.width == 160
    assert isinstance(grid.data, np.ndarray) and grid.data.dtype == np.int8
    assert isinstance(scan.ranges, np.ndarray) and scan.ranges.dtype == np.float32
    ref_grid = grid_msg(result, image_header(), CFG, frame_id="base_link")
    ref_scan = scan_msg(result, image_header(), CFG, frame_id="base_link")
    # CDR padding bytes are unspecified, so compare what rclpy reads back from rosbags' bytes.
    cdr_grid = bytes(STORE.serialize_cdr(grid, grid.__msgtype__))
    cdr_scan = bytes(STORE.serialize_cdr(scan, scan.__msgtype__))
    assert deserialize_message(cdr_grid, OccupancyGrid) == deserialize_message(
        serialize_message(ref_grid), OccupancyGrid)
    assert deserialize_message(cdr_scan, LaserScan) == deserialize_message(
        serialize_message(ref_scan), LaserScan)


def test_result_and_config_must_agree(result: OccupancyResult) -> None:
    other = OccupancyConfig()
    with pytest.raises(ValueError, match="cells"):
        grid_msg(result, image_header(), other)
    with pytest.raises(ValueError, match="ranges"):
        scan_msg(result, image_header(), other)
