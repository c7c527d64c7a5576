"""Replay gives the robot's answer: ``bag process`` and the live node, same frame, same grid.

One synthetic 1920x1080 frame with three people (vertical cylinders painted red, the
tiny "red pixels are people" model) and its CameraInfo go once to the live node over
real DDS and once, in a real rosbag2, through ``peoplesemseg bag process`` with the
same parameters. The person_occupancy grids, people_scan scans and people_cloud clouds
must be identical, to the cell and to the bit. (Before the two shared one occupancy
stage, the bag's grid marked 2,455 cells where the node marked 753.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bag_helpers import STORE, BagMsg, T, deserialize, read_bag, write_bag
from nav_msgs.msg import OccupancyGrid
from ros_helpers import Client, make_image, node_process, wait_for
from sensor_msgs.msg import CameraInfo, LaserScan, PointCloud2
from tiny_models import RED, make_model

from peoplesemseg_ros import cli
from peoplesemseg_ros.occupancy.camera_model import CameraModel, CameraPose
from peoplesemseg_ros.occupancy.mapper import PERSON
from peoplesemseg_ros.occupancy.scene import Person, render_mask

pytestmark = pytest.mark.timeout(240)

W, H = 1920, 1080  # wider than the model: the node subsamples the mask for occupancy
K = np.array([[1000.0, 0.0, 959.5], [0.0, 1000.0, 539.5], [0.0, 0.0, 1.0]])
D = np.array([-0.28, 0.09, 0.001, -0.0015, -0.012])
P = [1000.0, 0.0, 959.5, 0.0, 0.0, 1000.0, 539.5, 0.0, 0.0, 0.0, 1.0, 0.0]
R = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
POSE = CameraPose(0.2, 0.0, 1.0, 0.0, 0.25, 0.0)
PEOPLE = [Person(2.5, 0.6), Person(3.5, -1.0), Person(4.0, 1.2)]
STAMP_SEC, STAMP_NS = 42, 7
POSE_TEXT = "[0.2, 0.0, 1.0, 0.0, 0.25, 0.0]"  # POSE, as a parameter value
NODE_PARAMS = ("base_frame:=base_footprint", f"camera_pose:={POSE_TEXT}",
               "occupancy.width:=160", "occupancy.height:=180", "occupancy.origin:=[-1.0, -4.5]")
PARAMS_YAML = f"""\
/**:
  ros__parameters:
    base_frame: base_footprint
    camera_pose: {POSE_TEXT}
    occupancy:
      width: 160
      height: 180
      origin: [-1.0, -4.5]
"""


def _scene() -> np.ndarray:
    mask = render_mask(CameraModel(W, H, K, D, "plumb_bob"), POSE, PEOPLE)
    img = np.full((H, W, 3), (90, 90, 90), np.uint8)
    img[mask != 0] = RED
    return img


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("parity") / "red.onnx", height=544, width=960)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    c = Client("replay_parity_client")
    yield c
    c.close()


@pytest.fixture(scope="module")
def node_outputs(tmp_path_factory: pytest.TempPathFactory, model: Path, client: Client,
                 ) -> tuple[OccupancyGrid, LaserScan, PointCloud2]:
    tmp = tmp_path_factory.mktemp("parity_node")
    proc: subprocess.Popen[bytes]
    with node_process(tmp, f"model_path:={model}", "backend:=onnxruntime",
                      "qos.reliability:=reliable", *NODE_PARAMS,
                      remaps=("image:=/par/image", "camera_info:=/par/camera_info",
                              "person_occupancy:=/par/person_occupancy",
                              "people_scan:=/par/people_scan",
                              "people_cloud:=/par/people_cloud"),
                      name="seg_parity") as proc:
        client.subscribe("/par/person_occupancy", OccupancyGrid)
        client.subscribe("/par/people_scan", LaserScan)
        client.subscribe("/par/people_cloud", PointCloud2)
        image_pub = client.publisher("/par/image")
        info_pub = client.publisher("/par/camera_info", CameraInfo)
        wait_for(lambda: image_pub.get_subscription_count() > 0
                 and info_pub.get_subscription_count() > 0, 20, "the node's subscriptions")
        frame = make_image(_scene(), frame_id="cam_optical", sec=STAMP_SEC, nanosec=STAMP_NS)
        info = CameraInfo(width=W, height=H, k=K.ravel().tolist(), d=D.tolist(), p=P, r=R,
                          distortion_model="plumb_bob")
        info.header = frame.header

        def publish() -> None:
            info_pub.publish(info)
            image_pub.publish(frame)

        def got(topic: str) -> list[Any]:
            return [m for m in client.messages(topic) if m.header.stamp.sec == STAMP_SEC]
        wait_for(lambda: bool(got("/par/person_occupancy") and got("/par/people_scan")
                              and got("/par/people_cloud")), 60,
                 "the node's grid, scan and cloud", every=publish)
    assert proc.returncode == 0, proc.log_path.read_text()  # type: ignore[attr-defined]
    return (got("/par/person_occupancy")[0], got("/par/people_scan")[0],
            got("/par/people_cloud")[0])


def _bag_header() -> Any:
    stamp = T["builtin_interfaces/msg/Time"](sec=STAMP_SEC, nanosec=STAMP_NS)
    return T["std_msgs/msg/Header"](stamp=stamp, frame_id="cam_optical")


def _bag_frame(path: Path) -> Path:
    header = _bag_header()
    info = T["sensor_msgs/msg/CameraInfo"](
        header=header, height=H, width=W, distortion_model="plumb_bob", d=D.copy(),
        k=K.ravel().copy(), r=np.array(R), p=np.array(P), binning_x=0, binning_y=0,
        roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                  do_rectify=False))
    image = T["sensor_msgs/msg/Image"](header=header, height=H, width=W, encoding="rgb8",
                                       is_bigendian=0, step=W * 3,
                                       data=_scene().reshape(-1))
    t = STAMP_SEC * 1_000_000_000 + STAMP_NS
    return write_bag(path, "mcap", [
        BagMsg("/par/camera_info", "sensor_msgs/msg/CameraInfo", t,
               bytes(STORE.serialize_cdr(info, "sensor_msgs/msg/CameraInfo"))),
        BagMsg("/par/image", "sensor_msgs/msg/Image", t + 1,
               bytes(STORE.serialize_cdr(image, "sensor_msgs/msg/Image")))])


@pytest.fixture(scope="module")
def bag_outputs(tmp_path_factory: pytest.TempPathFactory, model: Path) -> tuple[Any, Any, Any]:
    tmp = tmp_path_factory.mktemp("parity_bag")
    (tmp / "params.yaml").write_text(PARAMS_YAML)
    src = _bag_frame(tmp / "in")
    code = cli.main(["bag", "process", str(src), str(tmp / "out"), "--model", str(model),
                          "--backend", "onnxruntime", "--params", str(tmp / "params.yaml"),
                          "--no-progress"])
    assert code == 0
    out = {m.topic: m for m in read_bag(tmp / "out")}
    return (deserialize(out["/par/person_occupancy"]), deserialize(out["/par/people_scan"]),
            deserialize(out["/par/people_cloud"]))


def test_bag_process_grid_is_the_live_nodes_grid(
        node_outputs: tuple[Any, ...], bag_outputs: tuple[Any, ...]) -> None:
    live, bag = node_outputs[0], bag_outputs[0]
    cells = np.asarray(live.data, np.int8)
    assert (cells == PERSON).sum() > 0  # people were seen: the comparison is not empty
    assert np.array_equal(np.asarray(bag.data, np.int8), cells)
    assert (bag.info.width, bag.info.height) == (live.info.width, live.info.height)
    assert bag.info.resolution == live.info.resolution
    assert (bag.info.origin.position.x, bag.info.origin.position.y) == (
        live.info.origin.position.x, live.info.origin.position.y)
    assert bag.header.frame_id == live.header.frame_id == "base_footprint"
    assert (bag.header.stamp.sec, bag.header.stamp.nanosec) == (STAMP_SEC, STAMP_NS)
    assert (live.header.stamp.sec, live.header.stamp.nanosec) == (STAMP_SEC, STAMP_NS)


def test_bag_process_scan_is_the_live_nodes_scan(
        node_outputs: tuple[Any, ...], bag_outputs: tuple[Any, ...]) -> None:
    live, bag = node_outputs[1], bag_outputs[1]
    ranges = np.asarray(live.ranges, np.float32)
    assert np.isfinite(ranges).sum() > 0  # people in the scan
    assert np.array_equal(np.asarray(bag.ranges, np.float32), ranges)
    for field in ("angle_min", "angle_max", "angle_increment", "range_min", "range_max"):
        assert getattr(bag, field) == getattr(live, field), field
    assert bag.header.frame_id == live.header.frame_id == "base_footprint"


def test_bag_process_cloud_is_the_live_nodes_cloud(
        node_outputs: tuple[Any, ...], bag_outputs: tuple[Any, ...]) -> None:
    live, bag = node_outputs[2], bag_outputs[2]
    assert live.width > 0  # people in the cloud
    assert bytes(np.asarray(bag.data, np.uint8)) == bytes(live.data)
    for field in ("height", "width", "point_step", "row_step", "is_dense", "is_bigendian"):
        assert getattr(bag, field) == getattr(live, field), field
    assert [(f.name, f.offset, f.datatype) for f in bag.fields] == [
        (f.name, f.offset, f.datatype) for f in live.fields]
    assert bag.header.frame_id == live.header.frame_id == "base_footprint"
    assert (bag.header.stamp.sec, bag.header.stamp.nanosec) == (STAMP_SEC, STAMP_NS)
