"""Drive the live node from outside: its process, a peer rclpy node, its diagnostics.

Used by ``peoplesemseg soak`` and by the reliability tests. :class:`NodeProcess`
starts ``peoplesemseg_node`` as a real subprocess (stderr kept in a temporary
file so a chatty node never blocks on a full pipe); :class:`Peer` is an rclpy
node in its own context, spun by a background executor thread;
:class:`DiagnosticsWatcher` keeps the newest ``/diagnostics`` status of one node
and lets callers wait on a condition over it (never a fixed sleep).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

__all__ = [
    "DiagnosticsWatcher",
    "LifecycleClient",
    "NodeProcess",
    "NodeStatus",
    "Peer",
    "fastdds_profile",
    "param_arg",
    "qos",
    "wait_until",
]

LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}


def fastdds_profile() -> Path:
    """The Fast DDS profile shipped with the package (16 MiB shared memory, UDP loopback)."""
    return Path(__file__).resolve().parents[1] / "data" / "fastdds_profile.xml"


def node_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for node subprocesses: the package's Fast DDS profile unless one is set."""
    env = dict(os.environ if base is None else base)
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(fastdds_profile()))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def terminate(proc: subprocess.Popen[Any], sig: int = signal.SIGINT,
              grace_s: float = 20.0) -> tuple[int, bool]:
    """Send ``sig`` to a running process, wait ``grace_s``, then kill it.

    Returns ``(returncode, killed)``; a process that already ended is only reaped.
    """
    if proc.poll() is not None:
        return int(proc.returncode), False
    proc.send_signal(sig)
    try:
        return int(proc.wait(timeout=grace_s)), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return int(proc.wait()), True


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def qos(reliable: bool = True, depth: int = 10) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliable
                      else ReliabilityPolicy.BEST_EFFORT)


def param_arg(name: str, value: Any) -> str:
    """``name:=value`` as ``--ros-args -p`` wants it (YAML values)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(param_arg("x", v)[3:] for v in value) + "]"
    elif isinstance(value, str):
        text = value if value else "''"
    else:
        text = repr(value)
    return f"{name}:={text}"


class NodeProcess:
    """``python -m peoplesemseg_ros.ros.node`` in namespace ``namespace`` with ``params``."""

    def __init__(self, namespace: str, params: Mapping[str, Any] | None = None,
                 extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> None:
        self.namespace = "/" + namespace.strip("/")
        self.fqn = f"{self.namespace}/peoplesemseg"
        args = [sys.executable, "-m", "peoplesemseg_ros.ros.node", "--ros-args",
                "-r", f"__ns:={self.namespace}"]
        for k, v in (params or {}).items():
            args += ["-p", param_arg(k, v)]
        args += list(extra_args)
        self.args = args
        self._err = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 (lives with the process)
        self._out = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=self._err,
                                     env=node_env(env))
        self.pid = self.proc.pid

    def output(self) -> str:
        """stdout + stderr so far (the node logs to stderr)."""
        parts = []
        for fh in (self._out, self._err):
            fh.flush()
            fh.seek(0)
            parts.append(fh.read().decode(errors="replace"))
        return "".join(parts)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait; kills (and raises) when the node does not exit in time."""
        code, killed = terminate(self.proc, sig, timeout)
        if killed:
            raise RuntimeError(f"node pid {self.pid} ignored {signal.Signals(sig).name} for "
                               f"{timeout:.0f} s; killed. Output:\n{self.output()[-3000:]}")
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Peer:
    """An rclpy node in its own context, spun by a daemon thread until :meth:`close`."""

    def __init__(self, name: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f"{name}-spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except rclpy.executors.ExternalShutdownException:
                return
            except rclpy.executors.ShutdownException:
                return

    def call(self, client: Any, request: Any, timeout: float = 10.0) -> Any:
        """Call a service (waiting for it first); returns the response or raises TimeoutError."""
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {client.srv_name} not available after {timeout} s")
        future = client.call_async(request)
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"service {client.srv_name} did not answer in {timeout} s")
        return future.result()

    def close(self) -> None:
        self.context.try_shutdown()
        self._thread.join(timeout=10)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class NodeStatus:
    """One DiagnosticStatus of the node, parsed."""

    level: str
    message: str
    values: dict[str, str]
    received: float  # time.monotonic()

    def get_int(self, key: str, default: int = 0) -> int:
        v = self.values.get(key)
        return int(v) if v not in (None, "") else default

    def get_float(self, key: str, default: float = 0.0) -> float:
        v = self.values.get(key)
        return float(v) if v not in (None, "") else default

    def prefixed(self, prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: int(v) for k, v in self.values.items() if k.startswith(prefix)}


@dataclass
class DiagnosticsWatcher:
    """Newest ``/diagnostics`` status of the node whose hardware_id is ``fqn``."""

    peer: Peer
    fqn: str
    history: list[NodeStatus] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sub = self.peer.node.create_subscription(DiagnosticArray, "/diagnostics",
                                                      self._on_diag, qos(True, 50))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for st in msg.status:
            if st.hardware_id != self.fqn:
                continue
            level = st.level[0] if isinstance(st.level, bytes) else int(st.level)
            status = NodeStatus(LEVELS.get(level, str(level)), st.message,
                                {kv.key: kv.value for kv in st.values}, time.monotonic())
            with self._lock:
                self.history.append(status)
                del self.history[:-600]

    @property
    def latest(self) -> NodeStatus | None:
        with self._lock:
            return self.history[-1] if self.history else None

    def wait_for(self, predicate: Callable[[NodeStatus], bool], timeout: float) -> NodeStatus:
        """The first status (received from now on, or the newest) that satisfies ``predicate``."""
        found: list[NodeStatus] = []

        def check() -> bool:
            s = self.latest
            if s is not None and predicate(s):
                found.append(s)
                return True
            return False

        if not wait_until(check, timeout, poll=0.05):
            last = self.latest
            raise TimeoutError(f"no /diagnostics status of {self.fqn} matched in {timeout} s; "
                               f"last: {None if last is None else (last.level, last.message)}")
        return found[0]


class LifecycleClient:
    """``<node>/change_state`` and ``<node>/get_state`` (lifecycle_msgs) of one node."""

    def __init__(self, peer: Peer, fqn: str) -> None:
        from lifecycle_msgs.srv import ChangeState, GetState

        self.peer = peer
        self._change: Any = peer.node.create_client(ChangeState, f"{fqn}/change_state")
        self._get: Any = peer.node.create_client(GetState, f"{fqn}/get_state")

    def state(self, timeout: float = 15.0) -> str:
        from lifecycle_msgs.srv import GetState

        return str(self.peer.call(self._get, GetState.Request(), timeout).current_state.label)

    def transition(self, label: str, timeout: float = 30.0) -> bool:
        """``configure`` | ``activate`` | ``deactivate`` | ``cleanup`` | ``shutdown``."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        ids = {"configure": Transition.TRANSITION_CONFIGURE,
               "activate": Transition.TRANSITION_ACTIVATE,
               "deactivate": Transition.TRANSITION_DEACTIVATE,
               "cleanup": Transition.TRANSITION_CLEANUP}
        if label == "shutdown":
            current = self.state()
            tid = {"unconfigured": Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
                   "inactive": Transition.TRANSITION_INACTIVE_SHUTDOWN,
                   "active": Transition.TRANSITION_ACTIVE_SHUTDOWN}[current]
        else:
            tid = ids[label]
        req = ChangeState.Request(transition=Transition(id=tid))
        return bool(self.peer.call(self._change, req, timeout).success)
