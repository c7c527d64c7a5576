"""The node over real DDS: its console script in a subprocess, a real rclpy client.

The model is a tiny generated ONNX graph ("red pixels are people") with the
embedded model's I/O (uint8 NHWC 544x960 in, uint8 ids out), so every mask
has an exact expected answer.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_helpers import Client, make_image, node_cmd, node_process, wait_for
from sensor_msgs.msg import CompressedImage, Image
from tiny_models import RED, make_model, red_person_truth

pytestmark = pytest.mark.timeout(180)


def _scene(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
    img[..., 0] = np.minimum(img[..., 0], img[..., 1] + 40)  # background: R - G <= 40
    img[h // 4: h * 3 // 4, w // 3: w // 2] = RED  # one "person"
    return img


def _mask(msg: Image) -> np.ndarray:
    assert msg.encoding == "mono8" and msg.step == msg.width
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "red.onnx", height=544, width=960)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    c = Client()
    yield c
    c.close()


@pytest.fixture(scope="module")
def raw_node(model: Path, tmp_path_factory: pytest.TempPathFactory, client: Client
             ) -> Iterator[subprocess.Popen[bytes]]:
    tmp = tmp_path_factory.mktemp("raw")
    with node_process(tmp, f"model_path:={model}", "backend:=onnxruntime",
                      "qos.reliability:=reliable", "qos.depth:=1",
                      remaps=("image:=/raw/image",), name="seg_raw") as proc:
        yield proc
    assert proc.returncode == 0, proc.log_path.read_text()  # type: ignore[attr-defined]
    assert "Traceback" not in proc.log_path.read_text()  # type: ignore[attr-defined]


def _roundtrip(client: Client, pub: object, msg: object, topic: str, stamp: int) -> Image:
    def arrived() -> bool:
        return any(m.header.stamp.sec == stamp for m in client.messages(topic))
    wait_for(arrived, 30, f"a mask stamped {stamp} on {topic}",
             every=lambda: pub.publish(msg))  # type: ignore[attr-defined]
    return next(m for m in client.messages(topic) if m.header.stamp.sec == stamp)


def test_rgb8_and_bgr8_give_exact_masks_with_the_input_header(raw_node: object,
                                                              client: Client) -> None:
    client.subscribe("/mask", Image)
    pub = client.publisher("/raw/image")
    wait_for(lambda: pub.get_subscription_count() > 0, 20, "the node's image subscription")
    rgb = _scene(544, 960, 1)
    out = _roundtrip(client, pub, make_image(rgb, "rgb8", "cam_a", 11, 7), "/mask", 11)
    assert (out.width, out.height, out.header.frame_id, out.header.stamp.nanosec) == \
        (960, 544, "cam_a", 7)
    np.testing.assert_array_equal(_mask(out), red_person_truth(rgb).astype(np.uint8) * 255)

    big = _scene(1080, 1920, 2)
    out = _roundtrip(client, pub, make_image(big, "bgr8", "cam_b", 12, 9), "/mask", 12)
    assert (out.width, out.height, out.header.frame_id) == (1920, 1080, "cam_b")
    m, truth = _mask(out), red_person_truth(big)
    disagree = (m > 0) != truth
    # Only along the rectangle's edges (resize to the model and back): within one model pixel.
    assert disagree.sum() <= 2 * 2 * (1080 // 2 + 1920 // 6)
    assert m[400:600, 700:900].min() == 255 and m[:200].max() == 0


def test_bad_frames_are_survived_counted_and_logged(raw_node: subprocess.Popen[bytes],
                                                    client: Client) -> None:
    pub = client.publisher("/raw/image")
    wait_for(lambda: pub.get_subscription_count() > 0, 20, "the node's image subscription")
    good = make_image(_scene(544, 960, 3))
    short = make_image(_scene(10, 10, 3))
    short.data = bytes(short.data)[:-5]
    weird = make_image(_scene(10, 10, 3))
    weird.encoding = "mystery16"
    empty = Image(encoding="rgb8")
    bads = {"bad_length": short, "unknown_encoding": weird, "zero_size": empty}

    def publish_missing() -> None:
        for reason, msg in bads.items():
            if client.diag_int("seg_raw", f"rejected.{reason}") == 0:
                pub.publish(msg)
    wait_for(lambda: all(client.diag_int("seg_raw", f"rejected.{r}") > 0 for r in bads), 30,
             "rejections in /diagnostics", every=publish_missing)
    # still alive and answering
    good.header.stamp.sec = 21
    _roundtrip(client, pub, good, "/mask", 21)
    assert raw_node.poll() is None
    diag = client.diag_of("seg_raw")
    assert diag.get("backend") == "onnxruntime"
    assert diag.get("model_id", "").startswith("red.onnx@")
    assert "latency_ms.inference.p50" in diag


def _set_param(client: Client, node: str, name: str, value: ParameterValue) -> Any:
    cli: Any = client.node.create_client(SetParameters, f"/{node}/set_parameters")
    assert cli.wait_for_service(timeout_sec=20)
    fut = cli.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=value)]))
    wait_for(fut.done, 20, "set_parameters response")
    return fut.result().results[0]


def test_runtime_parameters_validated_on_set(raw_node: object, client: Client) -> None:
    res = _set_param(client, "seg_raw", "mask_value",
                     ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=300))
    assert not res.successful and "mask_value" in res.reason
    res = _set_param(client, "seg_raw", "resize_mode",
                     ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="stretch"))
    assert not res.successful and "configure" in res.reason
    res = _set_param(client, "seg_raw", "mask_value",
                     ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=128))
    assert res.successful
    pub = client.publisher("/raw/image")
    out = _roundtrip(client, pub, make_image(_scene(544, 960, 5), sec=31), "/mask", 31)
    assert set(np.unique(_mask(out)).tolist()) == {0, 128}


def test_overlay_is_published_to_subscribers(raw_node: object, client: Client) -> None:
    client.subscribe("/overlay", Image)
    pub = client.publisher("/raw/image")
    rgb = _scene(544, 960, 6)
    out = _roundtrip(client, pub, make_image(rgb, sec=41), "/overlay", 41)
    assert out.encoding == "rgb8" and (out.width, out.height) == (960, 544)
    ov = np.frombuffer(bytes(out.data), np.uint8).reshape(544, 960, 3)
    truth = red_person_truth(rgb)
    np.testing.assert_array_equal(ov[~truth], rgb[~truth])
    assert (ov[truth] != rgb[truth]).any(axis=1).all()


def test_compressed_input_and_two_cameras_batched(model: Path, tmp_path: Path,
                                                  client: Client) -> None:
    with node_process(tmp_path, f"model_path:={model}", "input_transport:=compressed",
                      "cameras:=[front, left]", "max_batch:=2", "batch_window_ms:=20.0",
                      "qos.reliability:=reliable", name="seg_multi") as proc:
        pubs = {c: client.publisher(f"/{c}/image/compressed", CompressedImage)
                for c in ("front", "left")}
        for c, pub in pubs.items():
            client.subscribe(f"/{c}/mask", Image)
            wait_for(lambda p=pub: bool(p.get_subscription_count() > 0), 20,  # type: ignore[misc]
                     f"{c} subscription")
        for i, (c, pub) in enumerate(pubs.items()):
            rgb = _scene(480, 640, 10 + i)
            ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
            assert ok
            msg = CompressedImage(format="png", data=png.tobytes())
            msg.header.stamp.sec, msg.header.frame_id = 50 + i, c
            out = _roundtrip(client, pub, msg, f"/{c}/mask", 50 + i)
            assert (out.width, out.height, out.header.frame_id) == (640, 480, c)
            m = _mask(out)
            assert m[200:300, 230:300].min() == 255 and m[:100].max() == 0
        corrupt = CompressedImage(format="jpeg", data=b"\xff\xd8\xff\xe0 not a jpeg")
        wait_for(lambda: client.diag_int("seg_multi", "rejected.corrupt") > 0, 30,
                 "rejected.corrupt", every=lambda: pubs["front"].publish(corrupt))
        assert proc.poll() is None


@pytest.mark.parametrize(("param", "needle"), [("mask_value:=300", "mask_value"),
                                               ("overlay_alpha:=2.0", "overlay_alpha"),
                                               ("resize_mode:=crop", "resize_mode")])
def test_bad_start_parameters_exit_nonzero_naming_the_parameter(param: str, needle: str) -> None:
    proc = subprocess.run(node_cmd(param), capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2
    assert needle in proc.stderr and "allowed" in proc.stderr and "Traceback" not in proc.stderr


def test_lifecycle_failed_configure_can_be_retried(model: Path, tmp_path: Path,
                                                   client: Client) -> None:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    missing = tmp_path / "missing.onnx"
    with node_process(tmp_path, f"model_path:={missing}", "autostart:=false",
                      name="seg_lc") as proc:
        change: Any = client.node.create_client(ChangeState, "/seg_lc/change_state")
        get: Any = client.node.create_client(GetState, "/seg_lc/get_state")
        assert change.wait_for_service(timeout_sec=20) and get.wait_for_service(timeout_sec=20)

        def call(cli: Any, req: Any) -> Any:
            fut = cli.call_async(req)
            wait_for(fut.done, 30, "lifecycle service")
            return fut.result()

        def answered(cli: Any, req: Any) -> Any:
            """An idempotent request, re-sent until answered: wait_for_service sees the
            server, not that the server's reply writer has matched this client yet."""
            deadline = time.monotonic() + 60
            while True:
                fut = cli.call_async(req)
                try:
                    wait_for(fut.done, 3, "lifecycle service")
                    return fut.result()
                except AssertionError:  # (wait_for's timeout)
                    if time.monotonic() > deadline:
                        raise
        state = answered(get, GetState.Request())
        # a transition that is not valid from unconfigured: answered, changes nothing
        assert not answered(change, ChangeState.Request(transition=Transition(
            id=Transition.TRANSITION_DEACTIVATE))).success
        assert state.current_state.label == "unconfigured"
        res = call(change, ChangeState.Request(transition=Transition(
            id=Transition.TRANSITION_CONFIGURE)))
        assert not res.success
        assert call(get, GetState.Request()).current_state.label == "unconfigured"
        ok = _set_param(client, "seg_lc", "model_path", ParameterValue(
            type=ParameterType.PARAMETER_STRING, string_value=str(model)))
        assert ok.successful
        for tid in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert call(change, ChangeState.Request(transition=Transition(id=tid))).success
        assert call(get, GetState.Request()).current_state.label == "active"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    log = proc.log_path.read_text()  # type: ignore[attr-defined]
    assert "missing.onnx" in log and "Traceback" not in log
