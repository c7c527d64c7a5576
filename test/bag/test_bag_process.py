"""`peoplesemseg bag process`: real rosbag2 files in, real rosbag2 files out (no DDS).

Bags are built with rosbags in tmp_path (mcap and sqlite3; a raw bgr8 camera and a
compressed camera; a custom message type and CameraInfo passing through). The
model is a tiny ONNX graph whose answer is exact ("red pixels are people"), so
masks can be checked against the red rectangles drawn into the frames.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bag_helpers import (
    CUSTOM_TYPE,
    BagMsg,
    camera_info,
    compressed,
    custom_thing,
    deserialize,
    frame_rgb,
    read_bag,
    run_cli,
    stamp_ns,
    tiny_model,
    write_bag,
)

from peoplesemseg_ros.bag.io import camera_namespace

T0 = 1_700_000_000_000_000_000
FRAMES = 6
FRONT = (64, 48)  # width, height: raw bgr8
LEFT = (80, 60)  # compressed (png, lossless)
HEADER_LAG_NS = 7_000_000  # header stamps differ from bag timestamps: both must be kept


def _frames_front(i: int) -> np.ndarray:
    return frame_rgb(i, *FRONT)


def _frames_left(i: int) -> np.ndarray:
    return frame_rgb(i + 10, *LEFT)


def build_input(path: Path, storage: str) -> Path:
    from bag_helpers import raw_image

    msgs: list[BagMsg] = []
    for i in range(FRAMES):
        t = T0 + i * 100_000_000
        hs = t - HEADER_LAG_NS
        msgs += [
            BagMsg("/front/camera_info", "sensor_msgs/msg/CameraInfo", t,
                   camera_info(*FRONT, hs, "front_optical")),
            BagMsg("/front/image", "sensor_msgs/msg/Image", t + 1,
                   raw_image(_frames_front(i), hs, "front_optical")),
            BagMsg("/left/image/compressed", "sensor_msgs/msg/CompressedImage", t + 2,
                   compressed(_frames_left(i), hs + 1, "left_optical")),
            BagMsg("/robot/thing", CUSTOM_TYPE, t + 3, custom_thing(i)),
        ]
    return write_bag(path, storage, msgs)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "red.onnx")


def _process(capsys: pytest.CaptureFixture[str], model: Path, src: Path, dst: Path,
             *extra: str) -> dict[str, Any]:
    code, summary, err = run_cli(capsys, ["bag", "process", str(src), str(dst), "--model",
                                          str(model), "--backend", "onnxruntime",
                                          "--no-progress", *extra])
    assert code == 0, err
    assert summary is not None, err
    return summary


def _by_topic(msgs: list[BagMsg]) -> dict[str, list[BagMsg]]:
    out: dict[str, list[BagMsg]] = {}
    for m in msgs:
        out.setdefault(m.topic, []).append(m)
    return out


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip_one_mask_per_frame_deterministic(tmp_path: Path, model: Path, storage: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    src = build_input(tmp_path / "in", storage)
    summary = _process(capsys, model, src, tmp_path / "out1", "--storage", storage)
    assert summary["frames"] == summary["masks"] == 2 * FRAMES
    assert summary["bad_frames"] == 0 and summary["status"] == "complete"
    assert set(summary["stage_ms_per_frame"]) >= {"decode", "preprocess", "inference",
                                                  "postprocess"}
    assert summary["fps"] > 0

    inputs = _by_topic(read_bag(src))
    out = _by_topic(read_bag(tmp_path / "out1"))
    # Pass-through: every input message, byte for byte, same bag timestamps.
    for topic, msgs in inputs.items():
        assert [(m.timestamp, m.data) for m in out[topic]] == [(m.timestamp, m.data) for m in msgs]
    assert out["/robot/thing"][0].msgtype == CUSTOM_TYPE

    for image_topic, mask_topic, size, draw in (
            ("/front/image", "/front/mask", FRONT, _frames_front),
            ("/left/image/compressed", "/left/mask", LEFT, _frames_left)):
        assert len(out[mask_topic]) == FRAMES
        for i, (img, mask) in enumerate(zip(inputs[image_topic], out[mask_topic], strict=True)):
            assert mask.timestamp == img.timestamp
            m, src_msg = deserialize(mask), deserialize(img)
            assert stamp_ns(m) == stamp_ns(src_msg)
            assert m.header.frame_id == src_msg.header.frame_id
            assert (m.width, m.height, m.encoding, m.step) == (*size, "mono8", size[0])
            pred = np.asarray(m.data).reshape(size[1], size[0])
            assert set(np.unique(pred)) <= {0, 255}
            truth = np.all(draw(i) == (220, 30, 30), axis=-1)
            inter = np.count_nonzero((pred > 0) & truth)
            union = np.count_nonzero((pred > 0) | truth)
            assert inter / union > 0.9, f"{mask_topic} frame {i}: IoU {inter / union:.2f}"

    # A second run gives byte-equal payloads (and the same topics, order and timestamps).
    _process(capsys, model, src, tmp_path / "out2", "--storage", storage)
    again = read_bag(tmp_path / "out2")
    assert [(m.topic, m.timestamp, m.data) for m in again] == \
        [(m.topic, m.timestamp, m.data) for m in read_bag(tmp_path / "out1")]


def test_overlay_stride_and_time_range(tmp_path: Path, model: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    src = build_input(tmp_path / "in", "mcap")
    summary = _process(capsys, model, src, tmp_path / "out", "--overlay", "--stride", "2",
                       "--image-topic", "/front/image")
    assert summary["frames"] == summary["masks"] == FRAMES // 2
    assert summary["left_out_by_stride"] == FRAMES - FRAMES // 2
    out = _by_topic(read_bag(tmp_path / "out"))
    assert "/left/mask" not in out
    assert len(out["/left/image/compressed"]) == FRAMES  # not selected: copied as is
    kept = [m.timestamp for m in out["/front/image"]]
    assert kept == [T0 + i * 100_000_000 + 1 for i in range(0, FRAMES, 2)]
    assert [m.timestamp for m in out["/front/mask"]] == kept
    overlay = [deserialize(m) for m in out["/front/overlay"]]
    assert [o.encoding for o in overlay] == ["rgb8"] * len(kept)
    assert (overlay[0].width, overlay[0].height) == FRONT

    # --start / --end: seconds after the bag's first message, end exclusive.
    summary = _process(capsys, model, src, tmp_path / "range", "--start", "0.15",
                       "--end", "0.35")
    counts = Counter(m.topic for m in read_bag(tmp_path / "range"))
    assert summary["frames"] == 4  # frames 2 and 3 of both cameras
    assert counts["/front/mask"] == counts["/left/mask"] == counts["/front/image"] == 2


def test_refuses_to_overwrite(tmp_path: Path, model: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    src = build_input(tmp_path / "in", "mcap")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    code, _, err = run_cli(capsys, ["bag", "process", str(src), str(out), "--model", str(model),
                                    "--no-progress"])
    assert code == 2
    assert "exists already" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(("topic", "msgtype", "ns"), [
    ("/front/image", "sensor_msgs/msg/Image", "/front"),
    ("/front/image/compressed", "sensor_msgs/msg/CompressedImage", "/front"),
    ("/robot/cam/image_raw", "sensor_msgs/msg/Image", "/robot/cam"),
    ("/image", "sensor_msgs/msg/Image", ""),
    ("/compressed", "sensor_msgs/msg/CompressedImage", ""),
])
def test_camera_namespace(topic: str, msgtype: str, ns: str) -> None:
    assert camera_namespace(topic, msgtype) == ns


PARAMS = """\
/**:
  ros__parameters:
    base_frame: robot_base
    camera_pose: [0.2, 0.0, 1.2, 0.0, 0.35, 0.0]
    occupancy:
      resolution: 0.1
      width: 80
      height: 60
      origin: [0.0, -3.0]
    scan:
      angle_increment: 0.01
"""


def test_occupancy_and_scan_from_the_params_file(tmp_path: Path, model: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from peoplesemseg_ros.occupancy.cloud import CloudConfig, column_points
    from peoplesemseg_ros.occupancy.mapper import (
        CameraModel,
        CameraPose,
        OccupancyConfig,
        OccupancyMapper,
    )
    from peoplesemseg_ros.params_file import load_params_file

    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    src = build_input(tmp_path / "in", "mcap")
    summary = _process(capsys, model, src, tmp_path / "out", "--params", str(params))
    assert summary["masks"] == 2 * FRAMES
    out = _by_topic(read_bag(tmp_path / "out"))
    # /left has no camera_info: no occupancy for it; /front gets one grid and scan per frame.
    assert "/left/person_occupancy" not in out and "/left/people_scan" not in out
    assert "/left/people_cloud" not in out
    grids, scans = out["/front/person_occupancy"], out["/front/people_scan"]
    clouds = out["/front/people_cloud"]
    assert len(grids) == len(scans) == len(clouds) == FRAMES
    cfg = load_params_file(params)
    info = deserialize(out["/front/camera_info"][0])
    occ = OccupancyConfig(**cfg.occupancy_kwargs())
    mapper = OccupancyMapper(CameraModel.from_camera_info(info),
                             CameraPose(0.2, 0.0, 1.2, 0.0, 0.35, 0.0), occ)
    cloud_cfg = CloudConfig(**cfg.cloud_kwargs())
    for mask_m, grid_m, scan_m, cloud_m, img_m in zip(out["/front/mask"], grids, scans, clouds,
                                                      out["/front/image"], strict=True):
        assert grid_m.timestamp == scan_m.timestamp == cloud_m.timestamp == img_m.timestamp
        cloud = deserialize(cloud_m)
        assert cloud.header.frame_id == "robot_base" and stamp_ns(cloud) == stamp_ns(
            deserialize(img_m))
        grid, scan, mask = deserialize(grid_m), deserialize(scan_m), deserialize(mask_m)
        assert stamp_ns(grid) == stamp_ns(scan) == stamp_ns(deserialize(img_m))
        assert grid.header.frame_id == scan.header.frame_id == "robot_base"
        assert (grid.info.width, grid.info.height) == (80, 60)
        assert grid.info.resolution == pytest.approx(0.1)  # float32 in the message
        expected = mapper.process(np.asarray(mask.data).reshape(mask.height, mask.width))
        assert np.array_equal(np.asarray(grid.data), expected.grid.reshape(-1))
        assert np.array_equal(np.asarray(scan.ranges), expected.ranges)
        xyz = np.frombuffer(bytes(np.asarray(cloud.data, np.uint8)), "<f4").reshape(-1, 3)
        assert np.array_equal(xyz, column_points(expected.foot_points, cloud_cfg))
        assert cloud.width == len(xyz) > 0
        assert (np.asarray(grid.data) == 100).any()  # the red "person" stands on the floor
        assert np.isfinite(np.asarray(scan.ranges)).any()
    # --no-occupancy leaves them out.
    _process(capsys, model, src, tmp_path / "plain", "--params", str(params), "--no-occupancy")
    assert not any(m.topic.endswith(("person_occupancy", "people_scan", "people_cloud"))
                   for m in read_bag(tmp_path / "plain"))


def test_bad_params_file(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = build_input(tmp_path / "in", "mcap")
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    mask_value: 300\n")
    code, _, err = run_cli(capsys, ["bag", "process", str(src), str(tmp_path / "out"),
                                    "--params", str(params), "--no-progress"])
    assert code == 2
    assert "mask_value" in err
    assert not (tmp_path / "out").exists()


def test_eval_iou_against_png_masks(tmp_path: Path, model: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    src = build_input(tmp_path / "in", "mcap")
    _process(capsys, model, src, tmp_path / "out", "--image-topic", "/front/image")
    gt = tmp_path / "gt"
    gt.mkdir()
    w, h = FRONT
    # frame 0 by index: the exact truth -> IoU 1.
    truth0 = np.all(_frames_front(0) == (220, 30, 30), axis=-1).astype(np.uint8)
    cv2.imwrite(str(gt / "000000.png"), truth0)
    # frame 1 by header stamp, 0/1/255: the truth of frame 1 but "ignore" on columns < 15
    # (its red rectangle spans columns 7..22) and a false "person" there that is ignored too.
    truth1 = np.all(_frames_front(1) == (220, 30, 30), axis=-1).astype(np.uint8)
    half = truth1.copy()
    half[:, :15] = 255
    stamp1 = T0 + 100_000_000 - HEADER_LAG_NS
    cv2.imwrite(str(gt / f"{stamp1}.png"), half)
    # frame 2 by index: an empty truth -> IoU 0 (the model finds the red person).
    cv2.imwrite(str(gt / "2.png"), np.zeros((h, w), np.uint8))
    cv2.imwrite(str(gt / "999999.png"), np.zeros((h, w), np.uint8))  # no such frame
    code, summary, err = run_cli(capsys, ["bag", "eval", str(tmp_path / "out"),
                                          "--masks", str(gt), "--ignore-value", "255"])
    assert code == 0, err
    assert summary is not None
    assert summary["topic"] == "/front/mask"
    assert (summary["frames"], summary["matched"]) == (FRAMES, 3)
    assert summary["unused_ground_truth"] == ["999999.png"]
    per = {f["index"]: f for f in summary["per_frame"]}
    assert per[0]["iou"] == pytest.approx(1.0, abs=0.1) and per[0]["file"] == "000000.png"
    assert per[1]["file"] == f"{stamp1}.png" and per[1]["stamp_ns"] == stamp1
    assert per[1]["iou"] == pytest.approx(1.0, abs=0.1)
    assert per[2]["iou"] == 0.0
    assert 0.4 < summary["iou"] < 0.8  # pixel-pooled over the three frames
    assert summary["mean_frame_iou"] == pytest.approx(
        (per[0]["iou"] + per[1]["iou"] + per[2]["iou"]) / 3, abs=1e-4)
    # Without --ignore-value, 255 is person like any non-zero value: frame 1 gets worse.
    code, plain, _ = run_cli(capsys, ["bag", "eval", str(tmp_path / "out"), "--masks", str(gt)])
    assert code == 0 and plain is not None
    assert plain["per_frame"][0]["iou"] == per[0]["iou"]
    assert plain["per_frame"][1]["iou"] < 0.5
    # No ground truth for any frame: exit 1 (nothing was scored).
    empty = tmp_path / "empty"
    empty.mkdir()
    code, summary, _ = run_cli(capsys, ["bag", "eval", str(tmp_path / "out"), "--masks",
                                        str(empty)])
    assert code == 1
    assert summary is not None and summary["matched"] == 0 and summary["iou"] is None


def test_sample_bag(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str],
                    repo_root: Path) -> None:
    """The shipped sample: 32 JPEG frames + CameraInfo -> 32 masks, grids and scans."""
    sample = repo_root / "peoplesemseg_ros" / "data" / "sample_bag"
    summary = _process(capsys, model, sample, tmp_path / "out", "--params",
                       str(repo_root / "config" / "peoplesemseg.yaml"))
    assert (summary["frames"], summary["masks"], summary["bad_frames"]) == (32, 32, 0)
    out = _by_topic(read_bag(tmp_path / "out"))
    stamps = [m.timestamp for m in out["/camera/image/compressed"]]
    assert len(stamps) == 32
    for name in ("mask", "person_occupancy", "people_scan"):
        assert [m.timestamp for m in out[f"/camera/{name}"]] == stamps, name
    mask = deserialize(out["/camera/mask"][0])
    assert (mask.width, mask.height, mask.header.frame_id) == (768, 576, "camera_optical_frame")


def test_sample_bag_is_what_the_script_makes(tmp_path: Path, repo_root: Path) -> None:
    """tools/make_sample_bag.py regenerates the shipped bag byte for byte."""
    import subprocess
    import sys

    src = repo_root.parent / "shared" / "data" / "samples" / "vtest"
    if not (src / "frame_0000.jpg").is_file():
        pytest.skip(f"source frames not found at {src} (CI puts ../shared beside the clone)")
    out = tmp_path / "sample_bag"
    subprocess.run([sys.executable, str(repo_root / "tools" / "make_sample_bag.py"),
                    "--src", str(src), "--out", str(out)], check=True, capture_output=True)
    shipped = repo_root / "peoplesemseg_ros" / "data" / "sample_bag"
    names = sorted(p.name for p in shipped.iterdir())
    assert names == ["LICENSE_AND_SOURCE.txt", "metadata.yaml", "sample_bag.mcap"]
    for name in names:
        assert (out / name).read_bytes() == (shipped / name).read_bytes(), name


def test_interrupted_run_keeps_what_was_written(tmp_path: Path, model: Path) -> None:
    """Ctrl-C on the third frame: the output is closed, readable, and says it is incomplete."""
    from peoplesemseg_ros.bag.io import ImageTopic
    from peoplesemseg_ros.bag.process import STATUS_KEY, ProcessOptions, process_bag
    from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig

    class CtrlCOnThirdFrame:
        def __init__(self) -> None:
            self.frames = 0

        def topics(self) -> dict[str, str]:
            return {}

        def on_camera_info(self, msg: Any) -> None:
            return None

        def outputs(self, mask: np.ndarray, header: Any) -> dict[str, Any]:
            self.frames += 1
            if self.frames == 3:
                raise KeyboardInterrupt
            return {}

    def only_front(topic: ImageTopic) -> CtrlCOnThirdFrame | None:
        return CtrlCOnThirdFrame() if topic.namespace == "/front" else None

    src = build_input(tmp_path / "in", "sqlite3")
    out = tmp_path / "out"
    with Pipeline(PipelineConfig(model_path=model, backend="onnxruntime")) as pipeline, \
            pytest.raises(KeyboardInterrupt):
        process_bag(src, out, pipeline, ProcessOptions(image_topics=("/front/image",),
                                                       storage="sqlite3", progress=False),
                    only_front)
    got = _by_topic(read_bag(out))
    assert len(got["/front/mask"]) == 2
    assert len(got["/front/image"]) == 3  # the third frame's input was already copied
    meta = (out / "metadata.yaml").read_text()
    assert STATUS_KEY in meta and "interrupted" in meta
