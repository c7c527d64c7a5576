"""``bag record``: raw subscriptions to live topics, written to a new rosbag2 (rosbags).

Each requested topic is subscribed as soon as the graph shows a publisher for it
(its type comes from ``get_topic_names_and_types``, its QoS from the publishers;
topics that appear later are picked up later). Messages are written as received
(raw CDR, bag timestamp = receive time). Recording stops on SIGINT / SIGTERM,
after ``duration`` seconds, or once every topic has ``count`` messages; then the
messages the middleware has already received are taken too (for at most
``DRAIN_MAX_S``), and the bag is closed (metadata.yaml written), so everything
received is kept and readable.

Once every topic is subscribed and matched to a publisher, one line
``recording: all N topics subscribed`` is logged (scripts can wait for it).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import ReliabilityPolicy
from rclpy.subscription import MessageInfo, Subscription
from rosbags.rosbag2 import Writer

from peoplesemseg_ros.bag.io import BagError, create_writer, typestore
from peoplesemseg_ros.bag.rosnode import message_class, qos_profile, ros_node, stop_on_signals

__all__ = ["READY_LINE", "RecordOptions", "record_bag"]

LOG = logging.getLogger("peoplesemseg.bag")
READY_LINE: Final = "recording: all {n} topics subscribed"
SPIN_S: Final = 0.05
DEPTH: Final = 100
DRAIN_IDLE: Final = 5
DRAIN_MAX_S: Final = 1.0


@dataclass(frozen=True)
class RecordOptions:
    topics: tuple[str, ...]
    duration: float | None = None
    count: int | None = None  # stop once every topic has this many messages
    storage: str = "mcap"
    qos: str = "auto"  # auto | reliable | best_effort


class _Recorder:
    def __init__(self, node: Node, writer: Writer, options: RecordOptions) -> None:
        self.node = node
        self.writer = writer
        self.options = options
        self.pending = [t if t.startswith("/") else f"/{t}" for t in options.topics]
        self.subs: dict[str, Subscription[Any]] = {}
        self.counts: Counter[str] = Counter()
        self.failed: dict[str, str] = {}
        self.ready = False

    def discover(self) -> None:
        types = dict(self.node.get_topic_names_and_types())
        for topic in list(self.pending):
            if topic not in types or not types[topic] or not self.node.count_publishers(topic):
                continue  # not there yet, or only subscribers so far: wait for a publisher
            self.pending.remove(topic)
            msgtype = types[topic][0]
            try:
                self._subscribe(topic, msgtype)
            except BagError as err:
                LOG.error("not recording %s: %s", topic, err)
                self.failed[topic] = str(err)
        if not self.ready and not self.pending and self.subs and all(
                s.get_publisher_count() > 0 for s in self.subs.values()):
            self.ready = True
            LOG.info(READY_LINE.format(n=len(self.subs)))

    def _reliability(self, topic: str) -> str:
        if self.options.qos != "auto":
            return self.options.qos
        infos = self.node.get_publishers_info_by_topic(topic)
        reliable = infos and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                                 for i in infos)
        return "reliable" if reliable else "best_effort"

    def _subscribe(self, topic: str, msgtype: str) -> None:
        store = typestore()
        if msgtype not in store.types:
            raise BagError(f"type {msgtype} is unknown to rosbags' typestore (no message "
                           "definition to store)")
        cls = message_class(msgtype)
        conn = self.writer.add_connection(topic, msgtype, typestore=store)
        reliability = self._reliability(topic)

        def on_message(raw: bytes, info: MessageInfo) -> None:
            stamp = int(info["received_timestamp"]) or time.time_ns()
            self.writer.write(conn, stamp, raw)
            self.counts[topic] += 1

        self.subs[topic] = self.node.create_subscription(
            cls, topic, on_message, qos_profile(reliability, DEPTH), raw=True)
        LOG.info("recording %s (%s, %s)", topic, msgtype, reliability)

    def done(self) -> bool:
        count = self.options.count
        return (count is not None and not self.pending and bool(self.subs)
                and all(self.counts[t] >= count for t in self.subs))


def _drain(executor: SingleThreadedExecutor, recorder: _Recorder) -> None:
    """Take what the middleware already received: until DRAIN_IDLE spins in a row bring
    nothing, for at most DRAIN_MAX_S (a publisher that never pauses must not keep us)."""
    idle = 0
    deadline = time.monotonic() + DRAIN_MAX_S
    while idle < DRAIN_IDLE and time.monotonic() < deadline:
        before = sum(recorder.counts.values())
        executor.spin_once(timeout_sec=0.01)
        idle = idle + 1 if sum(recorder.counts.values()) == before else 0


def record_bag(path: Path, options: RecordOptions) -> dict[str, Any]:
    """Record until stopped; returns the JSON summary (messages per topic, seconds)."""
    if not options.topics:
        raise BagError("name at least one topic to record")
    if options.count is not None and options.count < 1:
        raise BagError(f"--count must be >= 1, got {options.count}")
    writer = create_writer(path, options.storage)
    t0 = time.monotonic()
    reason = "signal"
    try:
        with ros_node("peoplesemseg_bag_record") as node, stop_on_signals() as stop:
            recorder = _Recorder(node, writer, options)
            executor = SingleThreadedExecutor(context=node.context)
            executor.add_node(node)
            try:
                while not stop.is_set():
                    recorder.discover()
                    if recorder.done():
                        reason = "count"
                        break
                    if options.duration is not None and time.monotonic() - t0 >= options.duration:
                        reason = "duration"
                        break
                    executor.spin_once(timeout_sec=SPIN_S)
                _drain(executor, recorder)
            finally:
                executor.shutdown(timeout_sec=1.0)
    finally:
        writer.close()
    return {"command": "bag record", "bag": str(path), "stopped_by": reason,
            "messages": sum(recorder.counts.values()),
            "topics": {t: recorder.counts[t] for t in sorted(recorder.subs)},
            "never_seen": recorder.pending, "not_recorded": recorder.failed,
            "seconds": round(time.monotonic() - t0, 3)}
