"""Liveness in /diagnostics: input timeout, output rate vs input rate, publisher restarts.

One node (tiny exact model, input_timeout 1 s, min_output_ratio 0.3); cameras
are rclpy peers publishing from timers. Checked from outside, on the node's own
diagnostics: WARN while no image comes (at start and after the publisher
goes away), OK while frames flow, the restarted publisher's frames are picked
up again (masks arrive), WARN when images come in but no masks go out (every
frame bad), and no WARN when the output is slow only because max_rate_hz says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from sensor_msgs.msg import Image
from tiny_models import make_model

from peoplesemseg_ros.core.images import fill_image
from peoplesemseg_ros.testing import faults
from peoplesemseg_ros.testing.live import DiagnosticsWatcher, NodeProcess, NodeStatus, Peer, qos

pytestmark = pytest.mark.timeout(180)

H, W = 48, 64


class TimedCamera:
    """A peer publishing a frame every ``period`` s from an rclpy timer; ``bad`` frames or good."""

    def __init__(self, name: str, ns: str, period: float = 0.05) -> None:
        self.peer = Peer(name)
        self.pub = self.peer.node.create_publisher(Image, f"{ns}/image", qos())
        self.masks: list[Image] = []
        self.peer.node.create_subscription(Image, f"{ns}/mask", self.masks.append, qos())
        self.bad = False
        self.i = 0
        self.timer = self.peer.node.create_timer(period, self._tick)

    def _tick(self) -> None:
        self.i += 1
        frame = faults.bad_raw("bad_length") if self.bad else faults.good_raw(W, H, self.i)
        msg = fill_image(Image(), frame)
        msg.header.stamp.sec = self.i
        self.pub.publish(msg)

    def close(self) -> None:
        self.peer.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    model = make_model(tmp_path_factory.mktemp("live") / "m.onnx", height=H, width=W)
    with NodeProcess(f"/live_{os.getpid()}", {
            "model_path": str(model), "qos.reliability": "reliable", "qos.depth": 5,
            "input_timeout": 1.0, "min_output_ratio": 0.3}) as proc:
        yield proc
        assert proc.stop() == 0
        assert "Traceback" not in proc.output()


@pytest.fixture(scope="module")
def watcher(node: NodeProcess) -> Iterator[DiagnosticsWatcher]:
    with Peer(f"liveness_watch_{os.getpid()}") as peer:
        yield DiagnosticsWatcher(peer, node.fqn)


def _no_input(s: NodeStatus) -> bool:
    return s.level == "WARN" and "no image on camera (default)" in s.message


def _flowing_ok(s: NodeStatus) -> bool:
    return s.level == "OK" and s.get_float("input_fps") > 5


def test_input_timeout_and_publisher_restart(node: NodeProcess,
                                             watcher: DiagnosticsWatcher) -> None:
    st = watcher.wait_for(_no_input, 30)  # active, nothing published yet
    assert "input_timeout 1 s" in st.message
    first = TimedCamera(f"cam_a_{os.getpid()}", node.namespace)
    try:
        watcher.wait_for(_flowing_ok, 30)
        assert first.masks, "frames flowed but no mask came back"
    finally:
        first.close()  # the camera driver dies
    watcher.wait_for(_no_input, 15)
    second = TimedCamera(f"cam_b_{os.getpid()}", node.namespace)  # ... and restarts
    try:
        watcher.wait_for(_flowing_ok, 30)
        watcher.wait_for(lambda s: len(second.masks) > 5, 15)
    finally:
        second.close()


def _set(peer: Peer, fqn: str, name: str, value: float) -> None:
    client: Any = peer.node.create_client(SetParameters, f"{fqn}/set_parameters")
    req = SetParameters.Request(parameters=[Parameter(name=name, value=ParameterValue(
        type=ParameterType.PARAMETER_DOUBLE, double_value=value))])
    result = peer.call(client, req).results[0]
    assert result.successful, result.reason
    peer.node.destroy_client(client)


def test_output_rate_below_input_rate_warns_unless_rate_limited(
        node: NodeProcess, watcher: DiagnosticsWatcher) -> None:
    cam = TimedCamera(f"cam_c_{os.getpid()}", node.namespace)
    try:
        watcher.wait_for(_flowing_ok, 30)
        cam.bad = True  # images keep coming, none can be used
        st = watcher.wait_for(lambda s: s.level == "WARN" and "output" in s.message, 15)
        assert "below 0.3 x input" in st.message and "no image" not in st.message
        assert st.get_int("rejected.bad_length") > 0
        cam.bad = False
        watcher.wait_for(_flowing_ok, 15)
        # a deliberate rate limit is not a fault: ~2 masks/s out of ~20 images/s stays OK
        _set(watcher.peer, node.fqn, "max_rate_hz", 2.0)
        limited = watcher.wait_for(lambda s: s.get_float("output_fps") < 4 and
                                   s.get_float("input_fps") > 10, 15)
        later = watcher.wait_for(lambda s: s.received > limited.received + 2.5, 15)
        span = [x for x in list(watcher.history)
                if limited.received <= x.received <= later.received]
        assert len(span) >= 3 and all(x.level == "OK" for x in span), \
            [(x.level, x.message) for x in span]
        _set(watcher.peer, node.fqn, "max_rate_hz", 0.0)
    finally:
        cam.close()


def test_frames_held_back_by_max_rate_hz_count_as_rate_limited_not_dropped(
        node: NodeProcess, watcher: DiagnosticsWatcher) -> None:
    cam = TimedCamera(f"cam_d_{os.getpid()}", node.namespace)
    try:
        watcher.wait_for(_flowing_ok, 30)
        _set(watcher.peer, node.fqn, "max_rate_hz", 2.0)  # ~20 images/s in, 2 masks/s out
        start = watcher.wait_for(lambda s: s.get_float("output_fps") < 4 and
                                 s.get_float("input_fps") > 10, 15)
        end = watcher.wait_for(lambda s: s.get_int("rate_limited_frames")
                               >= start.get_int("rate_limited_frames") + 20, 15)
        held = end.get_int("rate_limited_frames") - start.get_int("rate_limited_frames")
        dropped = end.get_int("dropped_frames") - start.get_int("dropped_frames")
        assert dropped < held, (dropped, held)  # the worker was idle: held back, not dropped
        assert end.get_int("camera.rate_limited") == end.get_int("rate_limited_frames")
    finally:
        _set(watcher.peer, node.fqn, "max_rate_hz", 0.0)
        cam.close()
