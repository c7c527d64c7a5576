"""person_occupancy, people_scan and people_cloud from the live node over real DDS.

The camera image is a synthetic scene (people = vertical cylinders, painted red)
and the model is the tiny "red pixels are people" ONNX graph, so the node's
mask is exactly the cylinders' silhouettes and the grid / scan have exact
answers: where the cylinders stand.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nav_msgs.msg import OccupancyGrid
from ros_helpers import Client, make_image, node_process, wait_for
from sensor_msgs.msg import CameraInfo, Image, LaserScan, PointCloud2
from tiny_models import RED, make_model

from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose
from peoplesemseg_ros.occupancy.mapper import PERSON, UNKNOWN
from peoplesemseg_ros.occupancy.scene import Person, render_mask

pytestmark = pytest.mark.timeout(180)

W, H = 960, 544
K = np.array([[500.0, 0.0, 479.5], [0.0, 500.0, 271.5], [0.0, 0.0, 1.0]])
D = np.array([-0.28, 0.09, 0.001, -0.0015, -0.012])
POSE = CameraPose(0.2, 0.0, 1.0, 0.0, 0.25, 0.0)
PEOPLE = [Person(2.5, 0.6), Person(3.5, -1.0)]
RES, GRID_W, GRID_H, ORIGIN = 0.05, 160, 180, (-1.0, -4.5)


def _scene_image() -> np.ndarray:
    mask = render_mask(CameraModel(W, H, K, D, "plumb_bob"), POSE, PEOPLE)
    img = np.full((H, W, 3), (90, 90, 90), np.uint8)  # background: R - G = 0
    img[mask != 0] = RED
    return img


def _camera_info() -> CameraInfo:
    return CameraInfo(width=W, height=H, k=K.ravel().tolist(), d=D.tolist(),
                      distortion_model="plumb_bob")


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    c = Client("occupancy_test_client")
    yield c
    c.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, client: Client
         ) -> Iterator[subprocess.Popen[bytes]]:
    tmp = tmp_path_factory.mktemp("occ")
    model = make_model(tmp / "red.onnx", height=H, width=W)
    pose = ", ".join(str(float(v)) for v in (POSE.x, POSE.y, POSE.z, POSE.roll, POSE.pitch,
                                             POSE.yaw))
    with node_process(tmp, f"model_path:={model}", "backend:=onnxruntime",
                      "qos.reliability:=reliable", "base_frame:=base_footprint",
                      f"camera_pose:=[{pose}]", f"occupancy.width:={GRID_W}",
                      f"occupancy.height:={GRID_H}",
                      f"occupancy.origin:=[{ORIGIN[0]}, {ORIGIN[1]}]",
                      remaps=("image:=/occ/image", "camera_info:=/occ/camera_info",
                              "mask:=/occ/mask", "person_occupancy:=/occ/person_occupancy",
                              "people_scan:=/occ/people_scan",
                              "people_cloud:=/occ/people_cloud"),
                      name="seg_occ") as proc:
        yield proc
    log = proc.log_path.read_text()  # type: ignore[attr-defined]
    assert proc.returncode == 0, log
    assert "Traceback" not in log


def _stamped(client: Client, topic: str, sec: int) -> list[Any]:
    return [m for m in client.messages(topic) if m.header.stamp.sec == sec]


def test_grid_and_scan_carry_the_image_stamp_base_frame_and_the_people(
        node: subprocess.Popen[bytes], client: Client) -> None:
    for t, cls in (("/occ/mask", Image), ("/occ/person_occupancy", OccupancyGrid),
                   ("/occ/people_scan", LaserScan), ("/occ/people_cloud", PointCloud2)):
        client.subscribe(t, cls)
    image_pub = client.publisher("/occ/image")
    info_pub = client.publisher("/occ/camera_info", CameraInfo)
    wait_for(lambda: image_pub.get_subscription_count() > 0
             and info_pub.get_subscription_count() > 0, 20, "the node's subscriptions")
    rgb = _scene_image()

    # No CameraInfo yet: masks, but no occupancy (and one warning).
    first = make_image(rgb, frame_id="front_camera_optical", sec=101, nanosec=5)
    wait_for(lambda: bool(_stamped(client, "/occ/mask", 101)), 30, "the mask stamped 101",
             every=lambda: image_pub.publish(first))

    frame = make_image(rgb, frame_id="front_camera_optical", sec=102, nanosec=42)

    def publish() -> None:
        info_pub.publish(_camera_info())
        image_pub.publish(frame)
    wait_for(lambda: bool(_stamped(client, "/occ/person_occupancy", 102)
                          and _stamped(client, "/occ/people_scan", 102)
                          and _stamped(client, "/occ/people_cloud", 102)),
             30, "grid, scan and cloud stamped 102", every=publish)
    assert not _stamped(client, "/occ/person_occupancy", 101)
    assert not _stamped(client, "/occ/people_scan", 101)

    grid: OccupancyGrid = _stamped(client, "/occ/person_occupancy", 102)[0]
    assert grid.header.frame_id == "base_footprint" and grid.header.stamp.nanosec == 42
    assert (grid.info.width, grid.info.height) == (GRID_W, GRID_H)
    assert grid.info.resolution == pytest.approx(RES)
    assert (grid.info.origin.position.x, grid.info.origin.position.y) == ORIGIN
    cells = np.asarray(grid.data, np.int8).reshape(GRID_H, GRID_W)
    for p in PEOPLE:
        toward = np.array([POSE.x - p.x, POSE.y - p.y])
        near = np.array([p.x, p.y]) + p.radius * toward / np.linalg.norm(toward)
        row = math.floor((near[1] - ORIGIN[1]) / RES)
        col = math.floor((near[0] - ORIGIN[0]) / RES)
        assert cells[row, col] == PERSON, p
    assert (cells == 0).sum() > 1000
    behind = (math.floor((0.0 - ORIGIN[1]) / RES), math.floor((-0.8 - ORIGIN[0]) / RES))
    assert cells[behind] == UNKNOWN

    scan: LaserScan = _stamped(client, "/occ/people_scan", 102)[0]
    assert scan.header.frame_id == "base_footprint" and scan.header.stamp.nanosec == 42
    ranges = np.asarray(scan.ranges, np.float32)
    assert len(ranges) == round((scan.angle_max - scan.angle_min) / scan.angle_increment) + 1
    for p in PEOPLE:
        bearing = math.atan2(p.y, p.x)
        i = round((bearing - scan.angle_min) / scan.angle_increment)
        near = ranges[max(0, i - 10):i + 11]
        assert abs(float(near.min()) - (math.hypot(p.x, p.y) - p.radius)) <= RES, p
    assert np.isposinf(ranges[~np.isfinite(ranges)]).all()  # +inf: Nav2 clears these beams
    assert np.isinf(ranges).sum() > len(ranges) // 2

    cloud: PointCloud2 = _stamped(client, "/occ/people_cloud", 102)[0]
    assert cloud.header.frame_id == "base_footprint" and cloud.header.stamp.nanosec == 42
    assert [f.name for f in cloud.fields] == ["x", "y", "z"] and cloud.point_step == 12
    xyz = np.frombuffer(bytes(cloud.data), "<f4").reshape(-1, 3)
    assert len(xyz) == cloud.width > 0
    np.testing.assert_allclose(np.unique(xyz[:, 2]), np.arange(1, 19) / 10, atol=1e-6)
    for p in PEOPLE:  # every person has columns at their feet (the near side of the cylinder)
        d = np.hypot(xyz[:, 0] - p.x, xyz[:, 1] - p.y)
        assert (d <= p.radius + RES).sum() >= 18, p
    for x, y, _ in xyz:  # and nothing is anywhere else
        assert min(math.hypot(x - p.x, y - p.y) for p in PEOPLE) <= 0.3 + RES
    log = node.log_path.read_text()  # type: ignore[attr-defined]
    assert log.count("no CameraInfo") == 1
    assert "camera pose from parameters" in log  # tf2_ros is not installed here: auto -> param

    # Nobody in view: the scan is all +inf and the cloud empty, so consumers clear.
    nobody = make_image(np.full((H, W, 3), 90, np.uint8), frame_id="front_camera_optical",
                        sec=106)
    wait_for(lambda: bool(_stamped(client, "/occ/people_cloud", 106)
                          and _stamped(client, "/occ/people_scan", 106)), 30,
             "scan and cloud stamped 106", every=lambda: image_pub.publish(nobody))
    empty: PointCloud2 = _stamped(client, "/occ/people_cloud", 106)[0]
    assert empty.width == 0 and len(empty.data) == 0 and len(empty.fields) == 3
    clear = np.asarray(_stamped(client, "/occ/people_scan", 106)[0].ranges, np.float32)
    assert np.isposinf(clear).all()


def test_a_camera_pose_looking_at_the_sky_is_reported_and_maps_nothing(
        node: subprocess.Popen[bytes], client: Client) -> None:
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    for t, cls in (("/occ/person_occupancy", OccupancyGrid), ("/occ/people_scan", LaserScan)):
        client.subscribe(t, cls)
    sky = [POSE.x, POSE.y, POSE.z, 0.0, -0.7, 0.0]  # pitched 40 deg up
    cli: Any = client.node.create_client(SetParameters, "/seg_occ/set_parameters")
    assert cli.wait_for_service(timeout_sec=20)
    fut = cli.call_async(SetParameters.Request(parameters=[Parameter(
        name="camera_pose", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY,
                                                 double_array_value=sky))]))
    wait_for(fut.done, 20, "set_parameters response")
    result: Any = fut.result()
    assert result.results[0].successful
    image_pub = client.publisher("/occ/image")
    info_pub = client.publisher("/occ/camera_info", CameraInfo)
    frame = make_image(_scene_image(), sec=103)

    def publish() -> None:
        info_pub.publish(_camera_info())
        image_pub.publish(frame)
    wait_for(lambda: bool(_stamped(client, "/occ/person_occupancy", 103)
                          and _stamped(client, "/occ/people_scan", 103)),
             30, "grid and scan stamped 103", every=publish)
    grid: OccupancyGrid = _stamped(client, "/occ/person_occupancy", 103)[0]
    assert (np.asarray(grid.data, np.int8) == UNKNOWN).all()
    scan: LaserScan = _stamped(client, "/occ/people_scan", 103)[0]
    assert np.isinf(np.asarray(scan.ranges, np.float32)).all()
    log_path: Path = node.log_path  # type: ignore[attr-defined]
    wait_for(lambda: "sees no floor" in log_path.read_text(), 10, "the no-floor warning")
    assert "horizon" in log_path.read_text()


def test_an_uncalibrated_camera_info_is_reported_and_masks_go_on(
        node: subprocess.Popen[bytes], client: Client) -> None:
    client.subscribe("/occ/mask", Image)
    image_pub = client.publisher("/occ/image")
    info_pub = client.publisher("/occ/camera_info", CameraInfo)
    # What an uncalibrated driver sends: a size, and K all zero.
    zero = CameraInfo(width=640, height=480, k=[0.0] * 9)
    frame = make_image(_scene_image(), sec=104)

    def publish() -> None:
        info_pub.publish(zero)
        image_pub.publish(frame)
    log_path: Path = node.log_path  # type: ignore[attr-defined]
    wait_for(lambda: "invalid intrinsics" in log_path.read_text(), 30,
             "the invalid CameraInfo warning", every=publish)
    later = make_image(_scene_image(), sec=105)
    wait_for(lambda: bool(_stamped(client, "/occ/mask", 105)), 30, "the mask stamped 105",
             every=lambda: image_pub.publish(later))
    assert not _stamped(client, "/occ/person_occupancy", 105)
    assert "processing failed" not in log_path.read_text()
    assert node.poll() is None
