"""Helpers for tests over real DDS: start the node's console script, a spinning client node.

No sleeps to wait for discovery: everything waits on a condition with a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from peoplesemseg_ros.testing.live import terminate

__all__ = ["NODE_EXE", "Client", "make_image", "node_process", "wait_for"]

NODE_EXE = Path(sys.executable).with_name("peoplesemseg_node")
RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE)


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition",
             poll: float = 0.01, every: Callable[[], None] | None = None) -> None:
    """Poll ``cond`` until true; ``every`` runs each 0.25 s (e.g. republish)."""
    end = time.monotonic() + timeout
    last = 0.0
    while time.monotonic() < end:
        if cond():
            return
        if every is not None and time.monotonic() - last > 0.25:
            every()
            last = time.monotonic()
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def node_cmd(*ros_params: str, name: str | None = None,
             remaps: tuple[str, ...] = ()) -> list[str]:
    exe = [str(NODE_EXE)] if NODE_EXE.exists() else [sys.executable, "-m",
                                                      "peoplesemseg_ros.ros.node"]
    args = [*exe, "--ros-args"]
    if name:
        args += ["-r", f"__node:={name}"]
    for r in remaps:
        args += ["-r", r]
    for p in ros_params:
        args += ["-p", p]
    return args


@contextmanager
def node_process(tmp: Path, *ros_params: str, name: str | None = None,
                 remaps: tuple[str, ...] = ()) -> Iterator[subprocess.Popen[bytes]]:
    """The node as a subprocess of its console script; SIGTERM at the end (must exit 0)."""
    log = (tmp / f"node-{time.monotonic_ns()}.log").open("wb")
    proc = subprocess.Popen(node_cmd(*ros_params, name=name, remaps=remaps), stdout=log,
                            stderr=subprocess.STDOUT, env=dict(os.environ))
    proc.log_path = Path(log.name)  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        terminate(proc, signal.SIGTERM, 20.0)
        log.close()


def make_image(rgb: np.ndarray, encoding: str = "rgb8", frame_id: str = "cam",
               sec: int = 0, nanosec: int = 0) -> Image:
    msg = Image()
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    arr = rgb if encoding != "bgr8" else np.ascontiguousarray(rgb[..., ::-1])
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.step = int(rgb.shape[1]) * 3
    msg.data = arr.tobytes()
    return msg


class Client:
    """A spinning rclpy node for tests: publishers, received messages, diagnostics."""

    def __init__(self, name: str = "test_client") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[Any]] = {}
        self.diag: dict[str, dict[str, str]] = {}  # node name -> latest key/values
        self._lock = threading.Lock()
        self.subscribe("/diagnostics", DiagnosticArray, self._on_diag)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for st in msg.status:
            if "people segmentation" in st.name:
                with self._lock:
                    self.diag[st.name.split(":")[0]] = {kv.key: kv.value for kv in st.values}

    def subscribe(self, topic: str, msg_type: Any, cb: Callable[[Any], None] | None = None,
                  qos: QoSProfile = RELIABLE) -> Any:
        self.received.setdefault(topic, [])

        def store(m: Any) -> None:
            with self._lock:
                self.received[topic].append(m)
            if cb is not None:
                cb(m)
        return self.node.create_subscription(msg_type, topic, store, qos)

    def messages(self, topic: str) -> list[Any]:
        with self._lock:
            return list(self.received.get(topic, []))

    def publisher(self, topic: str, msg_type: Any = Image, qos: QoSProfile = RELIABLE) -> Any:
        return self.node.create_publisher(msg_type, topic, qos)

    def diag_of(self, node: str) -> dict[str, str]:
        with self._lock:
            return dict(self.diag.get(node, {}))

    def diag_int(self, node: str, key: str) -> int:
        return int(self.diag_of(node).get(key, "0"))

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=5)
