"""``bag play``: publish a bag's messages over DDS, raw CDR, with the recorded timing.

Messages are published in bag order at ``start_wall + (t - t_first) / rate``
(``t`` = bag timestamp). The payload is the bag's CDR bytes as they are
(``Publisher.publish(bytes)``), never deserialized. With ``clock`` a
rosgraph_msgs/Clock with the bag time is published on ``/clock`` before each
message, so nodes with ``use_sim_time`` follow the bag. Topics whose message
package is not installed are skipped with a warning (like ``ros2 bag play``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.publisher import Publisher

from peoplesemseg_ros.bag.io import BagError, open_reader
from peoplesemseg_ros.bag.rosnode import message_class, qos_profile, ros_node, stop_on_signals

__all__ = ["PlayOptions", "play_bag"]

LOG = logging.getLogger("peoplesemseg.bag")
ACK_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True)
class PlayOptions:
    rate: float = 1.0
    loop: bool = False
    topics: tuple[str, ...] = ()  # () -> all
    clock: bool = False
    qos: str = "reliable"  # reliable | best_effort
    depth: int = 10
    wait_for_subscribers: int = 0  # per played topic
    wait_timeout: float = 30.0


def _wait_for_subscribers(pubs: dict[str, Publisher[Any]], wanted: int, timeout: float,
                          stop: threading.Event) -> None:
    deadline = time.monotonic() + timeout
    while True:
        missing = {t: p.get_subscription_count() for t, p in pubs.items()
                   if p.get_subscription_count() < wanted}
        if not missing:
            return
        if stop.is_set():
            raise KeyboardInterrupt
        if time.monotonic() > deadline:
            raise BagError(f"no {wanted} subscriber(s) after {timeout:g} s on: "
                           + ", ".join(f"{t} ({n})" for t, n in sorted(missing.items())))
        stop.wait(0.02)  # re-check the match counts (discovery runs in DDS threads)


def play_bag(path: Path, options: PlayOptions) -> dict[str, Any]:
    """Play ``path``; returns the JSON summary (messages per topic, seconds)."""
    if options.rate <= 0:
        raise BagError(f"--rate must be > 0, got {options.rate}")
    with open_reader(path) as reader, ros_node("peoplesemseg_bag_play") as node, \
            stop_on_signals() as stop:
        known = {c.topic for c in reader.connections}
        wanted = set(options.topics) or known
        if missing := wanted - known:
            raise BagError(f"not in the bag: {', '.join(sorted(missing))}; it has "
                           f"{', '.join(sorted(known))}")
        pubs, skipped = _publishers(node, [c for c in reader.connections if c.topic in wanted],
                                    options)
        conns = [c for c in reader.connections if c.topic in pubs]
        if not conns:
            raise BagError("nothing to play: no topic with an installed message type ("
                           + "; ".join(f"{t}: {why}" for t, why in sorted(skipped.items())) + ")")
        clock_pub = clock_cls = None
        if options.clock:
            clock_cls = message_class("rosgraph_msgs/msg/Clock")
            clock_pub = node.create_publisher(clock_cls, "/clock", qos_profile("reliable", 1))
        if options.wait_for_subscribers > 0:
            _wait_for_subscribers(pubs, options.wait_for_subscribers, options.wait_timeout, stop)
        counts: Counter[str] = Counter()
        t_start = time.monotonic()
        loops = 0
        while not stop.is_set():
            loops += 1
            first: int | None = None
            wall0 = time.monotonic()
            for conn, stamp, raw in reader.messages(connections=conns):
                first = stamp if first is None else first
                delay = wall0 + (stamp - first) / 1e9 / options.rate - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
                if stop.is_set():
                    break
                if clock_pub is not None and clock_cls is not None:
                    clock = clock_cls()
                    clock.clock.sec, clock.clock.nanosec = divmod(stamp, 1_000_000_000)
                    clock_pub.publish(clock)
                pubs[conn.topic].publish(bytes(raw))
                counts[conn.topic] += 1
            if not options.loop:
                break
        unacked = []
        # let reliable subscribers get the last messages, unless told to stop (Ctrl-C on a
        # --loop run must not wait up to ACK_TIMEOUT_S per topic on a recorder that left)
        if options.qos == "reliable" and not stop.is_set():
            unacked = [t for t, pub in sorted(pubs.items())
                       if not pub.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))]
            if unacked:
                LOG.warning("not acknowledged by every subscriber within %g s: %s",
                            ACK_TIMEOUT_S, ", ".join(unacked))
        return {"command": "bag play", "bag": str(path), "messages": sum(counts.values()),
                "topics": dict(sorted(counts.items())), "skipped_topics": skipped,
                "not_acknowledged": unacked, "loops": loops,
                "seconds": round(time.monotonic() - t_start, 3), "rate": options.rate,
                "interrupted": stop.is_set()}


def _publishers(node: Node, conns: list[Any], options: PlayOptions
                ) -> tuple[dict[str, Publisher[Any]], dict[str, str]]:
    pubs: dict[str, Publisher[Any]] = {}
    skipped: dict[str, str] = {}
    qos = qos_profile(options.qos, options.depth)
    for conn in conns:
        if conn.topic in pubs or conn.topic in skipped:
            continue
        try:
            cls = message_class(conn.msgtype)
        except BagError as err:
            LOG.warning("skipping %s: %s", conn.topic, err)
            skipped[conn.topic] = str(err)
            continue
        pubs[conn.topic] = node.create_publisher(cls, conn.topic, qos)
    return pubs, skipped
