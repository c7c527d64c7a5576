"""`bag process` takes the camera pose from the bag's /tf_static and /tf (real rosbag2 files).

The bag's TF is a chain ``robot_base <- mast`` (static), ``mast <- camera_link`` (on /tf
every 100 ms; level in the sample before the first frame, so taking a wrong sample
shows), ``camera_link <- front_optical`` (static, the REP 103 optical rotation
robot_state_publisher gives for rpy -pi/2, 0, -pi/2), plus an unrelated moving
``odom <- robot_base``. Composed, the camera body sits at x 0.2, z 1.2, pitched down
0.35 rad. The ``camera_pose`` parameter is set wrong on purpose (3 m high, level): with
``camera_pose_source: auto`` the outputs must be what the mapper gives for the TF pose,
with ``parameters`` what it gives for the parameter, and the two must differ.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bag_helpers import (
    BagMsg,
    camera_info,
    deserialize,
    frame_rgb,
    raw_image,
    read_bag,
    run_cli,
    tf_message,
    tiny_model,
    write_bag,
)

from peoplesemseg_ros.occupancy.mapper import (
    CameraModel,
    CameraPose,
    OccupancyConfig,
    OccupancyMapper,
)
from peoplesemseg_ros.params_file import load_params_file

T0 = 1_700_000_000_000_000_000
FRAMES = 5
SIZE = (64, 48)
TF_POSE = CameraPose(0.2, 0.0, 1.2, 0.0, 0.35, 0.0)
WRONG_POSE = CameraPose(0.0, 0.0, 3.0, 0.0, 0.0, 0.0)
OPTICAL_Q = (-0.5, 0.5, -0.5, 0.5)  # camera_link <- *_optical_frame (REP 103)
PITCH_Q = (0.0, math.sin(0.35 / 2), 0.0, math.cos(0.35 / 2))

PARAMS = """\
/**:
  ros__parameters:
    base_frame: robot_base
    camera_pose_source: {mode}
    camera_pose: [0.0, 0.0, 3.0, 0.0, 0.0, 0.0]
    occupancy:
      resolution: 0.1
      width: 80
      height: 60
      origin: [0.0, -3.0]
"""


def _build(path: Path, with_tf: bool = True) -> Path:
    msgs: list[BagMsg] = []
    if with_tf:
        msgs.append(BagMsg("/tf_static", "tf2_msgs/msg/TFMessage", T0 - 1,
                           tf_message(T0 - 500_000_000,
                                      ("robot_base", "mast", (0.2, 0.0, 0.7), (0, 0, 0, 1)),
                                      ("camera_link", "front_optical", (0, 0, 0), OPTICAL_Q))))
    for k in range(-1, FRAMES + 1):  # /tf every 100 ms, one sample either side of the frames
        t = T0 + k * 100_000_000
        if with_tf:
            mast_q = PITCH_Q if k >= 0 else (0.0, 0.0, 0.0, 1.0)  # level before the frames
            msgs.append(BagMsg("/tf", "tf2_msgs/msg/TFMessage", t,
                               tf_message(t, ("mast", "camera_link", (0.0, 0.0, 0.5), mast_q),
                                          ("odom", "robot_base", (0.01 * k, 0.0, 0.0),
                                           (0, 0, 0, 1)))))
        if 0 <= k < FRAMES:
            stamp = t + 20_000_000  # between two /tf samples of the same value
            msgs += [BagMsg("/front/camera_info", "sensor_msgs/msg/CameraInfo", t + 1,
                            camera_info(*SIZE, stamp, "front_optical")),
                     BagMsg("/front/image", "sensor_msgs/msg/Image", t + 2,
                            raw_image(frame_rgb(k, *SIZE), stamp, "front_optical"))]
    msgs.sort(key=lambda m: m.timestamp)
    return write_bag(path, "mcap", msgs)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "red.onnx")


def _process(capsys: pytest.CaptureFixture[str], model: Path, src: Path, out: Path,
             mode: str) -> tuple[dict[str, list[Any]], Path]:
    params = out.with_suffix(".yaml")
    params.write_text(PARAMS.format(mode=mode))
    code, summary, err = run_cli(capsys, ["bag", "process", str(src), str(out), "--model",
                                          str(model), "--backend", "onnxruntime",
                                          "--no-progress", "--params", str(params)])
    assert code == 0 and summary is not None, err
    by_topic: dict[str, list[Any]] = {}
    for m in read_bag(out):
        by_topic.setdefault(m.topic, []).append(deserialize(m))
    return by_topic, params


def _expected(out: dict[str, list[Any]], params: Path, pose: CameraPose) -> list[Any]:
    cfg = load_params_file(params)
    mapper = OccupancyMapper(CameraModel.from_camera_info(out["/front/camera_info"][0]), pose,
                             OccupancyConfig(**cfg.occupancy_kwargs()))
    return [mapper.process(np.asarray(m.data).reshape(m.height, m.width))
            for m in out["/front/mask"]]


def _check(out: dict[str, list[Any]], expected: list[Any]) -> None:
    grids, scans = out["/front/person_occupancy"], out["/front/people_scan"]
    assert len(grids) == len(scans) == len(expected) == FRAMES
    for grid, scan, want in zip(grids, scans, expected, strict=True):
        assert grid.header.frame_id == "robot_base"
        assert np.array_equal(np.asarray(grid.data), want.grid.reshape(-1))
        np.testing.assert_allclose(np.asarray(scan.ranges), want.ranges, rtol=1e-5)


def test_auto_takes_the_pose_from_the_bags_tf_not_the_wrong_parameter(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _build(tmp_path / "in")
    out_tf, params = _process(capsys, model, src, tmp_path / "auto", "auto")
    from_tf = _expected(out_tf, params, TF_POSE)
    _check(out_tf, from_tf)
    assert any((e.grid == 100).any() for e in from_tf)  # the red "person" is on the floor
    out_param, params = _process(capsys, model, src, tmp_path / "param", "parameters")
    from_param = _expected(out_param, params, WRONG_POSE)
    _check(out_param, from_param)
    assert any(not np.array_equal(a.grid, b.grid) for a, b in zip(from_tf, from_param,
                                                                 strict=True))
    # The TF passes through unchanged.
    assert len(out_tf["/tf"]) == FRAMES + 2 and len(out_tf["/tf_static"]) == 1


def test_tf_mode_without_tf_in_the_bag_writes_masks_but_no_occupancy(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _build(tmp_path / "in", with_tf=False)
    out, _ = _process(capsys, model, src, tmp_path / "tf", "tf")
    assert len(out["/front/mask"]) == FRAMES
    assert not any(t.endswith(("person_occupancy", "people_scan", "people_cloud")) for t in out)
    # auto on the same bag falls back to the parameter.
    out_auto, params = _process(capsys, model, src, tmp_path / "auto", "auto")
    _check(out_auto, _expected(out_auto, params, WRONG_POSE))
