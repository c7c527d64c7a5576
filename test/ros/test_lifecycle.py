"""The node's lifecycle over the real lifecycle_msgs services, and its exit on signals.

configure / activate / deactivate (stops publishing, frees the backend) /
cleanup / reconfigure with another model / shutdown, each checked from outside:
service answers, what arrives on ``mask``, whether the node still subscribes
``image``, and what ``/diagnostics`` says. SIGINT and SIGTERM to a busy node end
it with exit code 0, no traceback, and none of its /dev/shm files left behind.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sensor_msgs.msg import Image
from tiny_models import make_model

from peoplesemseg_ros.core.images import fill_image
from peoplesemseg_ros.testing import faults
from peoplesemseg_ros.testing.live import (
    DiagnosticsWatcher,
    LifecycleClient,
    NodeProcess,
    Peer,
    qos,
    wait_until,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    with Peer(f"lifecycle_test_{os.getpid()}") as p:
        yield p


class Camera:
    """A reliable image publisher and mask subscriber in the node's namespace."""

    def __init__(self, peer: Peer, ns: str) -> None:
        self.peer = peer
        self.pub = peer.node.create_publisher(Image, f"{ns}/image", qos())
        self.masks: list[Image] = []
        self.sub = peer.node.create_subscription(Image, f"{ns}/mask", self.masks.append, qos())

    def roundtrip(self, width: int, height: int, index: int, timeout: float = 20.0) -> Image:
        msg = fill_image(Image(), faults.good_raw(width, height, index))
        msg.header.stamp.sec = index

        def arrived() -> bool:
            return any(m.header.stamp.sec == index for m in self.masks)

        # reliable QoS, but the node may match the publisher a moment after we see it
        deadline_ok = wait_until(lambda: self.pub.get_subscription_count() > 0, timeout)
        assert deadline_ok, "the node never subscribed image"
        self.pub.publish(msg)
        if not wait_until(arrived, 2.0):
            self.pub.publish(msg)
            assert wait_until(arrived, timeout), f"no mask for frame {index}"
        mask = next(m for m in self.masks if m.header.stamp.sec == index)
        expected = faults.red_truth(faults.good_rgb(width, height, index)).astype(np.uint8) * 255
        got = np.frombuffer(bytes(mask.data), np.uint8).reshape(mask.height, mask.width)
        np.testing.assert_array_equal(got, expected)
        return mask


def test_full_lifecycle_over_services(tmp_path: Path, peer: Peer) -> None:
    small = make_model(tmp_path / "small.onnx", height=48, width=64)
    other = make_model(tmp_path / "other.onnx", height=24, width=32)
    ns = f"/lc_{os.getpid()}"
    with NodeProcess(ns, {"model_path": str(small), "autostart": False,
                          "qos.reliability": "reliable", "qos.depth": 5}) as node:
        lc = LifecycleClient(peer, node.fqn)
        diag = DiagnosticsWatcher(peer, node.fqn)
        cam = Camera(peer, ns)
        assert lc.state() == "unconfigured"
        diag.wait_for(lambda s: s.values.get("state") == "unconfigured" and s.level == "WARN",
                      15)
        assert cam.pub.get_subscription_count() == 0

        assert lc.transition("configure") and lc.state() == "inactive"
        st = diag.wait_for(lambda s: s.values.get("state") == "inactive", 15)
        assert st.values["model_id"].startswith("small.onnx@") and st.level == "WARN"
        assert cam.pub.get_subscription_count() == 0  # inactive: no image subscription

        assert lc.transition("activate") and lc.state() == "active"
        cam.roundtrip(64, 48, 1)
        diag.wait_for(lambda s: s.level == "OK" and s.get_int("frames_out") >= 1, 15)

        # deactivate: no subscription (so nothing can be processed or published), backend freed
        assert lc.transition("deactivate") and lc.state() == "inactive"
        assert wait_until(lambda: cam.pub.get_subscription_count() == 0, 15)
        st = diag.wait_for(lambda s: s.values.get("state") == "inactive", 15)
        assert st.values["model_id"] == "" and st.values["backend"] == "", st.values
        n_masks = len(cam.masks)
        cam.pub.publish(fill_image(Image(), faults.good_raw(64, 48, 2)))
        out_before = st.get_int("frames_in")
        st = diag.wait_for(lambda s: s.received > st.received + 1.5, 15)
        assert st.get_int("frames_in") == out_before and len(cam.masks) == n_masks

        # re-activate loads the model again
        assert lc.transition("activate")
        cam.roundtrip(64, 48, 3)

        # model_path is fixed while configured; cleanup, set, configure swaps the model
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        setp: Any = peer.node.create_client(SetParameters, f"{node.fqn}/set_parameters")
        req = SetParameters.Request(parameters=[Parameter(
            name="model_path", value=ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                    string_value=str(other)))])
        res = peer.call(setp, req).results[0]
        assert not res.successful and "configure" in res.reason
        assert lc.transition("deactivate") and lc.transition("cleanup")
        assert lc.state() == "unconfigured"
        assert peer.call(setp, req).results[0].successful
        assert lc.transition("configure") and lc.transition("activate")
        diag.wait_for(lambda s: s.values.get("model_id", "").startswith("other.onnx@"), 15)
        cam.roundtrip(64, 48, 4)  # letterboxed into 32x24 and back: red block still exact

        assert lc.transition("shutdown") and lc.state() == "finalized"
        assert wait_until(lambda: cam.pub.get_subscription_count() == 0, 15)
        assert node.alive()
        assert node.stop(signal.SIGTERM) == 0
        out = node.output()
    assert "Traceback" not in out, out[-3000:]


def _shm_of(pid: int) -> set[str]:
    """/dev/shm names the process maps or holds open."""
    names: set[str] = set()
    with open(f"/proc/{pid}/maps") as fh:
        names.update(line.rsplit("/", 1)[-1].strip() for line in fh if "/dev/shm/" in line)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/shm/"):
            names.add(target[len("/dev/shm/"):])
    return names


def _shm_held_by_others(exclude: int) -> set[str]:
    names: set[str] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == exclude:
            continue
        try:
            names |= _shm_of(int(pid))
        except OSError:
            continue
    return names


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_exits_zero_without_traceback_and_frees_shm(tmp_path: Path, peer: Peer,
                                                           sig: int) -> None:
    model = make_model(tmp_path / "m.onnx", height=48, width=64)
    ns = f"/sig_{sig}_{os.getpid()}"
    with NodeProcess(ns, {"model_path": str(model), "qos.reliability": "reliable"}) as node:
        cam = Camera(peer, ns)
        cam.roundtrip(64, 48, 1)
        held = {n for n in _shm_of(node.pid) if n.startswith(("fastdds", "fastrtps", "sem."))}
        assert held, "the node uses no Fast DDS shared memory? (profile not applied)"
        # signal it while frames are flowing
        for i in range(2, 6):
            cam.pub.publish(fill_image(Image(), faults.good_raw(64, 48, i)))
        code = node.stop(sig)
        out = node.output()
    assert code == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    left = {n for n in held if os.path.exists(f"/dev/shm/{n}")} - _shm_held_by_others(node.pid)
    assert not left, f"the node left {sorted(left)} in /dev/shm"
