"""people_cloud: foot points -> vertical columns -> real sensor_msgs/PointCloud2.

Exact expectations: the columns' x, y are the foot points' (thinned to one per
cell), the z values are the configured heights, and the message decodes back
(rclpy and rosbags, through CDR) to the same floats.
"""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from peoplesemseg_ros.occupancy.cloud import CloudConfig, column_points
from peoplesemseg_ros.occupancy.msgs import cloud_msg

STORE = get_typestore(Stores.ROS2_KILTED)
HEADER = Header(stamp=Time(sec=1_764_000_000, nanosec=5), frame_id="camera_optical")


def _xyz(msg: PointCloud2) -> np.ndarray:
    return np.frombuffer(bytes(msg.data), dtype="<f4").reshape(-1, 3)


def test_heights_cover_nav2_default_height_filters() -> None:
    z = CloudConfig().heights()
    np.testing.assert_allclose(z, np.arange(1, 19) / 10, atol=1e-12)
    # collision monitor min/max_height 0.05 / 0.5 and obstacle layer 0..2 m keep points
    assert ((z > 0.05) & (z < 0.5)).sum() >= 3 and z.max() <= 2.0
    assert CloudConfig(min_height=0.2, max_height=0.2).heights().tolist() == [0.2]
    np.testing.assert_allclose(CloudConfig(0.1, 0.45, 0.1).heights(), [0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("kwargs, words", [
    ({"min_height": 1.0, "max_height": 0.5}, "min_height <= max_height"),
    ({"spacing": 0.0}, "spacing"),
    ({"min_height": float("nan")}, "finite"),
])
def test_bad_config_says_what(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        CloudConfig(**kwargs)


def test_columns_thin_to_one_per_cell_in_first_seen_order() -> None:
    feet = np.array([[2.51, 0.61], [2.52, 0.62],  # same 5 cm cell: one column
                     [3.50, -1.00], [np.nan, np.nan], [2.51, 0.60 - 0.02]])
    cfg = CloudConfig(min_height=0.1, max_height=0.3, spacing=0.1, resolution=0.05)
    pts = column_points(feet, cfg)
    assert pts.dtype == np.float32 and pts.shape == (3 * 3, 3)
    np.testing.assert_allclose(pts[:, :2], np.repeat(
        np.array([[2.51, 0.61], [3.50, -1.00], [2.51, 0.58]]), 3, axis=0), atol=1e-6)
    np.testing.assert_allclose(pts[:, 2], np.tile([0.1, 0.2, 0.3], 3), atol=1e-6)
    assert column_points(np.zeros((0, 2)), cfg).shape == (0, 3)


def test_cloud_msg_rclpy_round_trip() -> None:
    pts = np.array([[1.0, 2.0, 0.1], [-3.5, 0.25, 1.7]], np.float32)
    msg = cloud_msg(pts, HEADER, frame_id="base_link")
    assert isinstance(msg, PointCloud2)
    assert msg.header.frame_id == "base_link" and msg.header.stamp == HEADER.stamp
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1),
        ("z", 8, PointField.FLOAT32, 1)]
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 2, 12, 24)
    assert msg.is_dense and not msg.is_bigendian
    back = deserialize_message(serialize_message(msg), PointCloud2)
    np.testing.assert_array_equal(_xyz(back), pts)


def test_empty_cloud_is_a_valid_message() -> None:
    msg = cloud_msg(np.zeros((0, 3), np.float32), HEADER, frame_id="base_link")
    back = deserialize_message(serialize_message(msg), PointCloud2)
    assert (back.width, back.row_step, len(back.data), len(back.fields)) == (0, 0, 0, 3)


def test_cloud_msg_rosbags_decodes_like_the_rclpy_one() -> None:
    pts = column_points(np.array([[2.0, 0.5], [4.0, -1.0]]), CloudConfig())
    cls = STORE.types["sensor_msgs/msg/PointCloud2"]
    header = STORE.types["std_msgs/msg/Header"](
        stamp=STORE.types["builtin_interfaces/msg/Time"](sec=1_764_000_000, nanosec=5),
        frame_id="camera_optical")
    bag_msg = cloud_msg(pts, header, cls, frame_id="base_link")
    raw = STORE.serialize_cdr(bag_msg, "sensor_msgs/msg/PointCloud2")
    back = deserialize_message(bytes(raw), PointCloud2)  # CDR padding bytes may differ
    live = cloud_msg(pts, HEADER, frame_id="base_link")
    assert back == live
    np.testing.assert_array_equal(_xyz(back), pts)
