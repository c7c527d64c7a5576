"""`bag play` / `bag record` over real DDS, and the sample bag replayed into the live node.

Every process here is real: the node (``python -m peoplesemseg_ros.ros.node``), the
recorder and the player run as subprocesses on this run's ROS_DOMAIN_ID (see
conftest.py). Nothing sleeps for discovery: the recorder logs a line once it is
subscribed and matched, and the player waits for subscribers.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from bag_helpers import BagMsg, deserialize, read_bag, stamp_ns, tiny_model, write_bag

from peoplesemseg_ros.bag.io import typestore
from peoplesemseg_ros.bag.record import READY_LINE
from peoplesemseg_ros.testing.live import terminate

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "peoplesemseg_ros" / "data" / "sample_bag"
BAG = [sys.executable, "-m", "peoplesemseg_ros.cli", "bag"]
TIMEOUT = 60.0


class Proc:
    """A subprocess whose stderr lines are collected by a thread (never blocks on a pipe)."""

    def __init__(self, args: Sequence[str], name: str) -> None:
        self.name = name
        self.popen = subprocess.Popen(list(args), cwd=REPO, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        assert self.popen.stderr is not None
        self._thread = threading.Thread(target=self._pump, args=(self.popen.stderr,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.err.append(line)
            self.lines.put(line)

    def wait_for_line(self, text: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None and self.lines.empty():
                break
            try:
                if text in self.lines.get(timeout=0.2):
                    return
            except queue.Empty:
                continue
        raise AssertionError(f"{self.name}: no {text!r} within {timeout} s (exit "
                             f"{self.popen.poll()}); stderr:\n{''.join(self.err)}")

    def finish(self, timeout: float = TIMEOUT) -> tuple[int, dict[str, Any]]:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            self._thread.join(timeout=5)
            raise AssertionError(f"{self.name} did not finish in {timeout} s; stdout: "
                                 f"{self._stdout()}; stderr:\n{''.join(self.err)}") from None
        self._thread.join(timeout=5)
        out = self._stdout()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        assert lines, f"{self.name}: no JSON summary; stderr:\n{''.join(self.err)}"
        return self.popen.returncode, json.loads(lines[-1])

    def _stdout(self) -> str:
        """Everything on stdout (the process has ended; small JSON summaries only)."""
        assert self.popen.stdout is not None
        return self.popen.stdout.read() if not self.popen.stdout.closed else ""

    def stop(self, sig: int = signal.SIGINT) -> int:
        return terminate(self.popen, sig, 15.0)[0]


@contextmanager
def running(args: Sequence[str], name: str) -> Iterator[Proc]:
    proc = Proc(args, name)
    try:
        yield proc
    finally:
        proc.stop()


def _strings(n: int) -> list[BagMsg]:
    store = typestore()
    cls = store.types["std_msgs/msg/String"]
    return [BagMsg("/chatter", "std_msgs/msg/String", 1_000_000_000 + i * 10_000_000,
                   bytes(store.serialize_cdr(cls(data=f"hello {i}"), "std_msgs/msg/String")))
            for i in range(n)]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_record_stops_cleanly_on_sigterm(tmp_path: Path, storage: str) -> None:
    """Play 25 messages into the recorder, SIGTERM it: the bag is closed and has them all."""
    src = write_bag(tmp_path / "in", "mcap", _strings(25))
    out = tmp_path / "rec"
    with running([*BAG, "record", str(out), "/chatter", "--storage", storage], "record") as rec:
        player = Proc([*BAG, "play", str(src), "--rate", "5", "--qos", "reliable",
                       "--wait-for-subscribers", "1"], "play")
        code, played = player.finish()
        assert code == 0, "".join(player.err)
        assert played["messages"] == 25
        rec.wait_for_line("recording /chatter")
        assert rec.stop(signal.SIGTERM) == 0, "".join(rec.err)
        _, summary = rec.finish()
    assert summary["stopped_by"] == "signal"
    assert summary["topics"] == {"/chatter": 25}
    got = read_bag(out)
    # All of them, in order. (Fast DDS pads serialized payloads to 4 bytes, so compare content.)
    assert [deserialize(m).data for m in got] == [f"hello {i}" for i in range(25)]
    assert all(m.msgtype == "std_msgs/msg/String" for m in got)


def test_sample_bag_replayed_into_the_live_node(tmp_path: Path) -> None:
    """Every frame of the sample bag gives one mask with the input's stamp, nothing lost."""
    model = tiny_model(tmp_path / "red.onnx")  # fast and exact; the node runs what it is given
    node_cmd = [sys.executable, "-m", "peoplesemseg_ros.ros.node", "--ros-args",
                "-r", "__ns:=/camera", "-r", "__node:=peoplesemseg_live_test",
                "-p", "input_transport:=compressed", "-p", "qos.reliability:=reliable",
                "-p", "qos.depth:=10", "-p", "qos.output_reliability:=reliable",
                "-p", "qos.output_depth:=50", "-p", f"model_path:={model}",
                "-p", "backend:=onnxruntime"]
    inputs = read_bag(SAMPLE)
    frames = [m for m in inputs if m.topic == "/camera/image/compressed"]
    out = tmp_path / "masks"
    with running(node_cmd, "node") as node, \
            running([*BAG, "record", str(out), "/camera/mask", "--count", str(len(frames)),
                     "--duration", "90"], "record") as rec:
        rec.wait_for_line(READY_LINE.format(n=1))
        # The node keeps only the newest frame (by design), so play slower than it works:
        # 5 Hz. Only the images: the first CameraInfo makes the node build its occupancy
        # lookup tables on the first frame, longer than a frame period on a 2-core machine.
        player = Proc([*BAG, "play", str(SAMPLE), "--rate", "0.5", "--qos", "reliable",
                       "--wait-for-subscribers", "1", "--topics", "/camera/image/compressed"],
                      "play")
        code, played = player.finish()
        assert code == 0, "".join(player.err)
        assert played["topics"] == {"/camera/image/compressed": len(frames)}
        # Unacknowledged frames mean the node stopped taking messages: its executor hung in
        # rmw_wait (seen ~1 run in 8 with executor.spin(); a bounded spin_once loop fixes it).
        assert played["not_acknowledged"] == [], "".join(node.err)
        try:
            code, summary = rec.finish(timeout=TIMEOUT)
        except AssertionError as err:
            raise AssertionError(f"{err}\nnode stderr:\n{''.join(node.err)}") from None
        assert code == 0, "".join(rec.err)
        assert node.popen.poll() is None, "the node died:\n" + "".join(node.err)
    assert summary["stopped_by"] == "count", summary
    recorded = read_bag(out)
    masks = [deserialize(m) for m in recorded if m.topic == "/camera/mask"]
    want = [stamp_ns(deserialize(m)) for m in frames]
    assert [stamp_ns(m) for m in masks] == want  # one per frame, in order, input stamps
    assert all((m.width, m.height, m.encoding) == (768, 576, "mono8") for m in masks)
    assert all(m.header.frame_id == "camera_optical_frame" for m in masks)
    assert node.popen.returncode == 0, "".join(node.err)  # stopped cleanly by SIGINT


def test_play_loop_and_clock(tmp_path: Path) -> None:
    """--loop replays until interrupted (exit 130); --clock publishes the bag time on /clock."""
    msgs = _strings(5)
    src = write_bag(tmp_path / "in", "mcap", msgs)
    out = tmp_path / "rec"
    with running([*BAG, "record", str(out), "/chatter", "/clock", "--count", "12"],
                 "record") as rec, \
            running([*BAG, "play", str(src), "--rate", "10", "--loop", "--clock",
                     "--wait-for-subscribers", "1", "--topics", "/chatter"], "play") as player:
        code, summary = rec.finish()
        assert code == 0, "".join(rec.err)
        assert summary["stopped_by"] == "count"
        assert player.stop(signal.SIGINT) == 130, "".join(player.err)
        _, played = player.finish()
    assert played["interrupted"] and played["loops"] >= 3
    got = read_bag(out)
    clock = [deserialize(m).clock for m in got if m.topic == "/clock"]
    bag_times = {m.timestamp for m in msgs}
    assert len(clock) >= 12
    assert {c.sec * 1_000_000_000 + c.nanosec for c in clock} <= bag_times
    texts = [deserialize(m).data for m in got if m.topic == "/chatter"]
    assert len(texts) >= 12 and set(texts) == {f"hello {i}" for i in range(5)}
