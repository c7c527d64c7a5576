"""TF maths (exact): quaternions, chains, interpolation, the camera pose from TF.

The key property: a URDF's usual chain base_link -> camera_link (REP 103 body)
-> camera_optical_frame (rpy -pi/2, 0, -pi/2) gives exactly the pose that the
``camera_pose`` parameter describes for the body frame, so the optical rotation
is applied once, never on top of a TF transform.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from peoplesemseg_ros.occupancy.camera_model import R_BODY_OPTICAL, CameraPose
from peoplesemseg_ros.occupancy.pose_source import PoseResolver
from peoplesemseg_ros.occupancy.transforms import (
    MAX_EXTRAPOLATION_NS,
    TfError,
    TfTree,
    Transform,
    camera_pose_from_transform,
    matrix_from_quaternion,
    quaternion_from_matrix,
    rpy_from_matrix,
)

S = 1_000_000_000


def q_rpy(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """tf2's Quaternion.setRPY (fixed axes, as URDF <origin rpy>)."""
    return quaternion_from_matrix(CameraPose(0, 0, 0, roll, pitch, yaw).rotation_body())


def test_quaternion_matrix_known_values_and_round_trip() -> None:
    s = math.sqrt(0.5)
    np.testing.assert_allclose(matrix_from_quaternion(0, 0, s, s),
                               [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    np.testing.assert_allclose(matrix_from_quaternion(1, 0, 0, 0), np.diag([1, -1, -1]),
                               atol=1e-15)
    np.testing.assert_allclose(matrix_from_quaternion(0, 0, 2 * s, 2 * s),  # normalized
                               matrix_from_quaternion(0, 0, s, s), atol=1e-15)
    rng = np.random.default_rng(0)
    for q in rng.normal(size=(200, 4)):
        r = matrix_from_quaternion(*q)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        np.testing.assert_allclose(matrix_from_quaternion(*quaternion_from_matrix(r)), r,
                                   atol=1e-12)
    for bad in ((0, 0, 0, 0), (math.nan, 0, 0, 1)):
        with pytest.raises(ValueError, match="invalid quaternion"):
            matrix_from_quaternion(*bad)


@pytest.mark.parametrize("rpy", [(0.1, 0.25, -0.3), (0.0, math.pi / 2, 0.7),
                                 (0.3, -math.pi / 2, 0.2), (math.pi, 0.0, math.pi),
                                 (-2.0, 1.2, 3.0)])
def test_rpy_rebuilds_the_same_rotation_even_at_gimbal_lock(rpy: tuple[float, ...]) -> None:
    r = CameraPose(0, 0, 0, *rpy).rotation_body()
    np.testing.assert_allclose(CameraPose(0, 0, 0, *rpy_from_matrix(r)).rotation_body(), r,
                               atol=1e-12)


def test_urdf_optical_frame_gives_the_parameter_pose_exactly() -> None:
    param = CameraPose(0.2, -0.1, 1.0, 0.02, 0.25, 0.4)
    tree = TfTree()
    tree.add("base_link", "camera_link", 0,
             Transform.from_parts((0.2, -0.1, 1.0), q_rpy(0.02, 0.25, 0.4)), static=True)
    tree.add("camera_link", "camera_optical_frame", 0,
             Transform.from_parts((0, 0, 0), q_rpy(-math.pi / 2, 0, -math.pi / 2)), static=True)
    t = tree.lookup("base_link", "camera_optical_frame", 5 * S)
    np.testing.assert_allclose(t.rotation, param.rotation_optical(), atol=1e-12)
    pose = camera_pose_from_transform(t)
    np.testing.assert_allclose(pose.rotation_optical(), param.rotation_optical(), atol=1e-12)
    np.testing.assert_allclose([pose.x, pose.y, pose.z, pose.roll, pose.pitch, pose.yaw],
                               [0.2, -0.1, 1.0, 0.02, 0.25, 0.4], atol=1e-12)
    # An image stamped in the body frame is taken as it is: its z axis is the optical axis
    # (nothing is rotated on top), so the camera would look along the body's z (up).
    body = camera_pose_from_transform(tree.lookup("base_link", "camera_link", 0))
    np.testing.assert_allclose(body.rotation_optical(), param.rotation_body(), atol=1e-12)
    assert not np.allclose(body.rotation_optical(), param.rotation_body() @ R_BODY_OPTICAL)


def test_chains_inverse_and_siblings() -> None:
    tree = TfTree()
    tree.add("odom", "base_link", 0, Transform.from_parts((1, 2, 0), q_rpy(0, 0, math.pi / 2)),
             static=True)
    tree.add("base_link", "cam", 0, Transform.from_parts((0.5, 0, 1), (0, 0, 0, 1)), True)
    tree.add("/base_link", "/lidar", 0, Transform.from_parts((0, 0.3, 0.2), (0, 0, 0, 1)), True)
    p = np.array([[1.0, 0.0, 0.0]])
    # cam -> base_link -> odom
    np.testing.assert_allclose(tree.lookup("odom", "cam", 0).apply(p), [[1.0, 3.5, 1.0]],
                               atol=1e-12)
    np.testing.assert_allclose(tree.lookup("cam", "odom", 0).apply(np.array([[1.0, 3.5, 1.0]])), p,
                               atol=1e-12)
    np.testing.assert_allclose(tree.lookup("lidar", "cam", 0).apply(p), [[1.5, -0.3, 0.8]],
                               atol=1e-12)
    assert tree.lookup("cam", "cam", 0).apply(p).tolist() == p.tolist()
    assert tree.is_static("odom", "lidar")


def test_dynamic_edges_interpolate_hold_briefly_and_then_say_why() -> None:
    tree = TfTree()
    tree.add("base", "mast", 10 * S, Transform.from_parts((0, 0, 1.0), q_rpy(0, 0, 0)), False)
    tree.add("base", "mast", 12 * S, Transform.from_parts((0, 0, 2.0), q_rpy(0, 0, 1.0)), False)
    tree.add("mast", "cam", 0, Transform.from_parts((0.1, 0, 0), (0, 0, 0, 1)), True)
    mid = tree.lookup("base", "mast", 11 * S)
    np.testing.assert_allclose(mid.translation, [0, 0, 1.5], atol=1e-12)
    np.testing.assert_allclose(mid.rotation, CameraPose(0, 0, 0, 0, 0, 0.5).rotation_body(),
                               atol=1e-12)
    quarter = tree.lookup("base", "cam", 10 * S + S // 2)
    np.testing.assert_allclose(quarter.translation,
                               [0.1 * math.cos(0.25), 0.1 * math.sin(0.25), 1.25], atol=1e-12)
    held = tree.lookup("base", "mast", 12 * S + MAX_EXTRAPOLATION_NS)
    np.testing.assert_allclose(held.translation, [0, 0, 2.0])
    with pytest.raises(TfError, match="after the last sample"):
        tree.lookup("base", "cam", 12 * S + MAX_EXTRAPOLATION_NS + 1)
    with pytest.raises(TfError, match="before the first sample"):
        tree.lookup("base", "mast", 9 * S)
    assert not tree.is_static("base", "cam")
    tree.clear_dynamic()
    assert tree.lookup("mast", "cam", 0).translation.tolist() == [0.1, 0, 0]
    with pytest.raises(TfError, match="frame 'base' does not exist"):
        tree.lookup("base", "cam", 11 * S)
    tree.add("odom", "base", 0, Transform(), True)
    with pytest.raises(TfError, match="'base' and 'cam' are not connected: "
                       "their roots are 'odom' and 'mast'"):
        tree.lookup("base", "cam", 11 * S)


def test_unknown_frames_and_bad_samples_are_named() -> None:
    tree = TfTree()
    tree.add("base_link", "cam", 0, Transform(), True)
    with pytest.raises(TfError, match=r"frame 'front_optical' does not exist.*base_link, cam"):
        tree.lookup("base_link", "front_optical", 0)
    with pytest.raises(ValueError, match="non-empty and different"):
        tree.add("cam", "cam", 0, Transform(), True)
    with pytest.raises(ValueError, match="translation"):
        Transform.from_parts((math.inf, 0, 0), (0, 0, 0, 1))


class CountingTree(TfTree):
    """A real TfTree that counts lookups and clears (to see the resolver's caching)."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0
        self.clears = 0

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        self.lookups += 1
        return super().lookup(target, source, stamp_ns)

    def clear_dynamic(self) -> None:
        self.clears += 1
        super().clear_dynamic()


PARAM = (0.0, 0.0, 9.0, 0.0, 0.0, 0.0)  # deliberately wrong


def test_resolver_modes_cache_static_and_reset_on_time_jump() -> None:
    tree = CountingTree()
    tree.add("base_link", "cam_optical", 0, Transform.from_parts(
        (0.2, 0, 1.0), quaternion_from_matrix(CameraPose(0, 0, 0, 0, 0.3, 0).rotation_optical())),
        static=True)
    auto = PoseResolver("auto", tree)
    c1 = auto.choose("", "base_link", "cam_optical", 5 * S, PARAM)
    assert c1.source == "tf" and c1.pose is not None
    np.testing.assert_allclose(c1.pose, (0.2, 0, 1.0, 0, 0.3, 0), atol=1e-12)
    assert auto.choose("", "base_link", "cam_optical", 6 * S, PARAM) == c1
    assert tree.lookups == 1  # static: cached
    # time goes back (bag loop): cache and timed TF data dropped, static TF still there
    again = auto.choose("", "base_link", "cam_optical", 1 * S, PARAM)
    assert again == c1 and auto.time_jumps == 1 and tree.clears == 1 and tree.lookups == 2
    missing = auto.choose("", "base_link", "rear_optical", 1 * S, PARAM)
    assert missing.pose == PARAM and missing.source == "parameters"
    assert "'rear_optical' does not exist" in missing.detail
    strict = PoseResolver("tf", tree).choose("", "base_link", "rear_optical", 1 * S, PARAM)
    assert strict.pose is None and "camera_pose_source: tf, but" in strict.detail
    empty = PoseResolver("tf", tree).choose("", "base_link", "", 1 * S, PARAM)
    assert empty.pose is None and "empty header.frame_id" in empty.detail
    params = PoseResolver("parameters", tree).choose("", "base_link", "cam_optical", 0, PARAM)
    assert params.pose == PARAM and params.source == "parameters"
    none = PoseResolver("auto", None, "tf2_ros is not installed")
    fallback = none.choose("", "base_link", "cam_optical", 0, PARAM)
    assert fallback.pose == PARAM and "tf2_ros is not installed" in fallback.label
    with pytest.raises(ValueError, match="auto, tf, parameters"):
        PoseResolver("urdf", None)
