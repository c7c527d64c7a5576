"""The processes of ``bench node``: camera publisher, mask subscriber, echo node.

Run as ``python -m peoplesemseg_ros.bench.actors <role> <json-config>``; each
role writes its result as JSON to ``config["result"]``. Synchronisation is by
waiting on conditions, never on fixed sleeps: the subscriber writes
``config["ready"]`` once every mask topic has a publisher; the publisher waits for
that file and for a subscriber on every image topic, publishes ``warmup`` frames and
goes on publishing warm-up frames until the subscriber has a mask of every camera
(``config["flowing"]``: the whole chain is matched, not only each pair's discovery),
writes ``config["started"]`` (``{"first_seq": n}``), publishes ``frames`` more and
touches ``config["done"]``; the subscriber stops on the last frame's mask (or after
``drain_s`` without it).

Every image's ``header.stamp`` is the wall-clock publish time and its
``frame_id`` is ``"<camera>#<seq>"`` (the node copies headers), so the
subscriber gets latency and sequence from each mask.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "run_echo", "run_publisher", "run_subscriber"]

_POLL_S = 0.005


def _wait_for(cond: Any, timeout_s: float, what: str, spin: Any = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        if spin is not None:
            spin()
        else:
            time.sleep(_POLL_S)


def _write(path: str, data: dict[str, Any]) -> None:
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


def _topic(prefix: str, name: str) -> str:
    """``prefix`` is the camera's namespace (``/bench_node``, ``/bench_multi/cam0``)."""
    return f"{prefix.rstrip('/')}/{name}"


def run_publisher(cfg: dict[str, Any]) -> None:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from peoplesemseg_ros.bench.frames import build_message, load_source_frames, parse_input
    from peoplesemseg_ros.bench.pipeline import bench_camera

    spec = parse_input(cfg["input"])
    cameras: list[str] = cfg["prefixes"]
    rgb = load_source_frames(4)
    msgs = [build_message(f, spec) for f in rgb]
    model, _ = bench_camera(spec.width, spec.height)
    info = CameraInfo(width=spec.width, height=spec.height,
                      k=model.K.reshape(-1).tolist(), distortion_model="plumb_bob",
                      d=[0.0] * 5, p=[*model.K[0], 0.0, *model.K[1], 0.0, *model.K[2], 0.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    kind, name = (CompressedImage, "image/compressed") if spec.compressed else (Image, "image")
    rclpy.init()
    node = rclpy.create_node("bench_camera_publisher")
    pubs = [node.create_publisher(kind, _topic(c, name), qos_profile_sensor_data)
            for c in cameras]
    infos = [node.create_publisher(CameraInfo, _topic(c, "camera_info"), qos_profile_sensor_data)
             for c in cameras]
    try:
        _wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs), cfg["timeout_s"],
                  "the node to subscribe to " + ", ".join(p.topic_name for p in pubs))
        _wait_for(lambda: Path(cfg["ready"]).exists(), cfg["timeout_s"], "the mask subscriber")
        period = 1.0 / float(cfg["rate_hz"])
        warmup, frames = int(cfg["warmup"]), int(cfg["frames"])
        sent = 0
        publish_s: list[float] = []
        next_t = time.perf_counter()
        flowing = Path(cfg["flowing"])
        deadline = time.monotonic() + float(cfg["timeout_s"])
        seq, first_seq = 0, -1
        while first_seq < 0 or seq < first_seq + frames:
            if first_seq < 0 and seq >= warmup and flowing.exists():
                first_seq = seq
                _write(cfg["started"], {"first_seq": seq})
            elif first_seq < 0 and time.monotonic() > deadline:
                raise TimeoutError(f"no mask came back within {cfg['timeout_s']:.0f} s "
                                   f"of warm-up frames ({seq} sent per camera)")
            for cam, pub, ipub in zip(cameras, pubs, infos, strict=True):
                msg = msgs[seq % len(msgs)]
                msg.header.frame_id = f"{cam}#{seq}"
                t = time.time_ns()
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t, 1_000_000_000)
                info.header = msg.header
                t0 = time.perf_counter()
                pub.publish(msg)
                publish_s.append(time.perf_counter() - t0)
                ipub.publish(info)
                sent += 1
            seq += 1
            next_t += period
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # the camera's frame period (rate control)
            else:
                next_t = time.perf_counter()
        Path(cfg["done"]).touch()
        _write(cfg["result"], {"sent": sent, "first_seq": first_seq, "last_seq": seq - 1,
                               "publish_call_ms_mean": 1000.0 * sum(publish_s) / len(publish_s)})
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def run_subscriber(cfg: dict[str, Any]) -> None:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    cameras: list[str] = cfg["prefixes"]
    frames = int(cfg["frames"])
    diag_name: str = cfg.get("diag_name", "")
    rclpy.init()
    node = rclpy.create_node("bench_mask_subscriber")
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                     reliability=ReliabilityPolicy.RELIABLE)
    arrivals: list[tuple[str, int, int, float]] = []  # camera, seq, latency ns, monotonic
    last_seen: dict[str, int] = {}
    diags: list[tuple[float, dict[str, str]]] = []
    started_t: list[float] = []
    first: list[int] = []  # the first measured frame's seq, from the publisher
    ready, flowing = Path(cfg["ready"]), Path(cfg["flowing"])

    def on_mask(msg: Image) -> None:
        now_ns = time.time_ns()
        cam, _, seq = str(msg.header.frame_id).rpartition("#")
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        arrivals.append((cam, int(seq), now_ns - stamp, time.monotonic()))
        last_seen[cam] = int(seq)
        if ready.exists() and not flowing.exists() and all(c in last_seen for c in cameras):
            flowing.touch()  # every camera's chain is matched end to end

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if diag_name and diag_name in status.name:
                diags.append((time.monotonic(), {kv.key: kv.value for kv in status.values}))

    subs = [node.create_subscription(Image, _topic(c, "mask"), on_mask, qos) for c in cameras]
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 50)

    def spin() -> None:
        rclpy.spin_once(node, timeout_sec=_POLL_S)

    try:
        _wait_for(lambda: all(s.get_publisher_count() > 0 for s in subs), cfg["timeout_s"],
                  "a publisher on " + ", ".join(s.topic_name for s in subs), spin)
        if diag_name:  # a baseline for the node's cumulative counters (1 Hz reports)
            _wait_for(lambda: bool(diags), 5.0, f"diagnostics from {diag_name}", spin)
        last_seen.clear()  # (masks of an earlier run's frames do not count)
        ready.touch()

        def finished() -> bool:
            if not started_t and Path(cfg["started"]).exists():
                started_t.append(time.monotonic())
                first.append(int(json.loads(Path(cfg["started"]).read_text())["first_seq"]))
            return Path(cfg["done"]).exists()
        # (the publisher may spend up to timeout_s on warm-up frames until masks flow)
        _wait_for(finished, 2 * cfg["timeout_s"] + cfg["publish_s"], "the publisher", spin)
        done_t = time.monotonic()
        first_seq = first[0] if first else 0
        last_seq = first_seq + frames - 1
        drain = float(cfg["drain_s"])
        try:
            _wait_for(lambda: all(last_seen.get(c, -1) >= last_seq for c in cameras) or
                      time.monotonic() - done_t > drain, drain + 1.0, "the last masks", spin)
            if diag_name:  # one diagnostics report after the end (1 Hz)
                _wait_for(lambda: bool(diags) and diags[-1][0] > done_t, 3.0,
                          "a diagnostics report", spin)
        except TimeoutError as exc:
            print(f"bench subscriber: {exc}", file=sys.stderr)
        t_start = started_t[0] if started_t else done_t
        before = [d for t, d in diags if t <= t_start]
        _write(cfg["result"], {
            "arrivals": [a for a in arrivals if a[1] >= first_seq],
            "publish_window_s": done_t - t_start,
            "diag_start": before[-1] if before else {},
            "diag_end": diags[-1][1] if diags else {},
        })
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(height, width) from a JPEG's SOF marker, without decoding."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise ValueError("bad JPEG marker")
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return (int.from_bytes(data[i + 5:i + 7], "big"),
                    int.from_bytes(data[i + 7:i + 9], "big"))
        i += 2 + length
    raise ValueError("no SOF marker in JPEG")


def run_echo(cfg: dict[str, Any]) -> None:
    """The do-nothing node: each image answered with a same-size mono8 (zeros)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    rclpy.init()
    node = rclpy.create_node(cfg.get("name", "bench_echo"), namespace=cfg.get("namespace", ""))
    out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(Image, "mask", out_qos)
    zeros: dict[tuple[int, int], bytes] = {}

    def answer(header: Any, h: int, w: int) -> None:
        out = Image(height=h, width=w, encoding="mono8", step=w)
        out.header = header
        data = zeros.get((h, w))
        if data is None:
            data = zeros[(h, w)] = bytes(h * w)
        out.data = data
        pub.publish(out)

    node.create_subscription(Image, "image", lambda m: answer(m.header, m.height, m.width),
                             qos_profile_sensor_data)
    node.create_subscription(CompressedImage, "image/compressed",
                             lambda m: answer(m.header, *_jpeg_size(bytes(m.data))),
                             qos_profile_sensor_data)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # SIGINT / SIGTERM from the harness: the normal way this node ends
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("pub", "sub", "echo"):
        print("usage: python -m peoplesemseg_ros.bench.actors {pub|sub|echo} JSON",
              file=sys.stderr)
        return 2
    cfg = json.loads(args[1])
    {"pub": run_publisher, "sub": run_subscriber, "echo": run_echo}[args[0]](cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
