"""rclpy plumbing shared by ``bag play`` and ``bag record``: context, signals, types, QoS."""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from peoplesemseg_ros.bag.io import BagError

__all__ = ["message_class", "qos_profile", "ros_node", "stop_on_signals"]

LOG = logging.getLogger("peoplesemseg.bag")


def message_class(msgtype: str) -> Any:
    """The Python class of ``pkg/msg/Name`` (rosidl_runtime_py when installed, else importlib).

    Raises :class:`BagError` when the message package is not installed here.
    """
    try:
        from rosidl_runtime_py.utilities import get_message
    except ImportError:
        get_message = None
    if get_message is not None:
        try:
            return get_message(msgtype)
        except (AttributeError, ModuleNotFoundError, ValueError) as err:
            raise BagError(f"message type {msgtype} is not installed: {err}") from err
    parts = msgtype.split("/")
    if len(parts) != 3:
        raise BagError(f"malformed message type {msgtype!r} (expected pkg/msg/Name)")
    try:
        module = importlib.import_module(f"{parts[0]}.{parts[1]}")
        return getattr(module, parts[2])
    except (ImportError, AttributeError) as err:
        raise BagError(f"message type {msgtype} is not installed here "
                       f"(no Python module {parts[0]}.{parts[1]}.{parts[2]}): {err}") from err


def qos_profile(reliability: str, depth: int) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=(ReliabilityPolicy.RELIABLE if reliability == "reliable"
                     else ReliabilityPolicy.BEST_EFFORT),
        durability=DurabilityPolicy.VOLATILE)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT / SIGTERM while the block runs (previous handlers restored)."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        LOG.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def ros_node(name: str) -> Iterator[Node]:
    """A node in its own rclpy context (no rclpy signal handlers: callers handle signals)."""
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = Node(name, context=context)
        try:
            yield node
        finally:
            node.destroy_node()
    finally:
        context.try_shutdown()
