"""`peoplesemseg demo`: the live node on the shipped sample, over real DDS.

Starts ``peoplesemseg_node`` in a subprocess (own ROS domain, the large-SHM
Fast DDS profile, ``AMENT_PREFIX_PATH`` = this Python's prefix), publishes each
sample frame as an rgb8 Image (reliable), waits for its mask and overlay,
writes them to ``<out>/masks`` and ``<out>/overlays`` and prints one summary
line: frames in / out and latency (publish -> mask received).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["add_arguments", "run", "sample_frames"]

DATA = Path(__file__).resolve().parents[1] / "data"


def sample_frames() -> list[Path]:
    return sorted((DATA / "vtest").glob("*.jpg"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo_output"),
                        help="output folder (masks/, overlays/)")
    parser.add_argument("--model", type=Path, help="model file (default: the embedded model)")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "tensorrt"))
    parser.add_argument("--images", type=Path, nargs="*",
                        help="frames to publish (default: the shipped vtest sample)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the node to come up / for each mask")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    if not Path(env.get("FASTDDS_DEFAULT_PROFILES_FILE", "")).is_file():
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(DATA / "fastdds_profile.xml")
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = str(1 + (os.getpid() * 7 + int(time.time())) % 232)
    env.pop("RMW_IMPLEMENTATION", None)
    return env


def _node_cmd(args: argparse.Namespace) -> list[str]:
    exe = Path(sys.executable).with_name("peoplesemseg_node")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "peoplesemseg_ros.ros.node"]
    cmd += ["--ros-args", "-r", "__node:=peoplesemseg_demo", "-p", "qos.reliability:=reliable",
            "-p", f"backend:={args.backend}"]
    if args.model:
        cmd += ["-p", f"model_path:={args.model.resolve()}"]
    return cmd


class _Wait:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log

    def until(self, cond: Any, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"the node exited ({self.proc.returncode}) while waiting "
                                   f"for {what}:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.005)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}:\n"
                           f"{self.log.read_text(errors='replace')[-3000:]}")


def run(args: argparse.Namespace) -> int:
    from peoplesemseg_ros.core.pipeline import embedded_model_path

    frames = list(args.images) if args.images else sample_frames()
    if not frames:
        print(f"peoplesemseg demo: no sample frames under {DATA / 'vtest'}", file=sys.stderr)
        return 2
    try:
        model = args.model if args.model else embedded_model_path()
    except Exception as exc:  # ModelLoadError: say what is missing, exit non-zero
        print(f"peoplesemseg demo: {exc}", file=sys.stderr)
        return 2
    if not Path(model).is_file():
        print(f"peoplesemseg demo: model file not found: {model}", file=sys.stderr)
        return 2
    env = _env()
    os.environ.update({k: env[k] for k in ("AMENT_PREFIX_PATH", "FASTDDS_DEFAULT_PROFILES_FILE",
                                           "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID")})
    os.environ.pop("RMW_IMPLEMENTATION", None)
    (args.out / "masks").mkdir(parents=True, exist_ok=True)
    (args.out / "overlays").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="peoplesemseg-demo-") as tmp:
        log_path = Path(tmp) / "node.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(_node_cmd(args), stdout=log, stderr=subprocess.STDOUT,
                                    env=env)
            try:
                return _drive(args, frames, _Wait(proc, log_path))
            except (RuntimeError, TimeoutError) as exc:
                print(f"peoplesemseg demo: {exc}", file=sys.stderr)
                return 1
            finally:
                from peoplesemseg_ros.testing.live import terminate

                terminate(proc, signal.SIGINT, 20.0)


def _drive(args: argparse.Namespace, frames: list[Path], wait: _Wait) -> int:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from peoplesemseg_ros.core.images import fill_image, read_rgb, rgb_to_image_fields, write_rgb

    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                     reliability=ReliabilityPolicy.RELIABLE)
    got: dict[str, dict[int, tuple[Any, float]]] = {"mask": {}, "overlay": {}}
    info: dict[str, str] = {}
    with rclpy.init(args=[]):
        node = rclpy.create_node("peoplesemseg_demo_client")
        pub = node.create_publisher(Image, "image", qos)
        for name in got:
            node.create_subscription(
                Image, name, lambda m, n=name: got[n].__setitem__(
                    m.header.stamp.sec, (m, time.perf_counter())), qos)
        node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: info.update(
            {kv.key: kv.value for st in m.status for kv in st.values}), 10)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        try:
            wait.until(lambda: pub.get_subscription_count() > 0 and all(
                node.count_publishers(t) > 0 for t in ("/mask", "/overlay")),
                args.timeout, "the node's image subscription and mask / overlay publishers")
            latencies: list[float] = []
            for i, path in enumerate(frames, start=1):
                rgb = read_rgb(path)
                if rgb is None:
                    raise RuntimeError(f"cannot read sample frame {path}")
                msg = fill_image(Image(), rgb_to_image_fields(rgb))
                msg.header.frame_id = "camera"
                msg.header.stamp.sec = i
                sent = time.perf_counter()
                pub.publish(msg)
                wait.until(lambda i=i: i in got["mask"] and i in got["overlay"],
                           args.timeout, f"the mask and overlay of {path.name}")
                mask_msg, arrived = got["mask"][i]
                latencies.append((arrived - sent) * 1000.0)
                mask = np.frombuffer(bytes(mask_msg.data), np.uint8).reshape(
                    mask_msg.height, mask_msg.width)
                cv2.imwrite(str(args.out / "masks" / f"{path.stem}.png"), mask)
                ov_msg = got["overlay"][i][0]
                ov = np.frombuffer(bytes(ov_msg.data), np.uint8).reshape(
                    ov_msg.height, ov_msg.width, 3)
                write_rgb(args.out / "overlays" / f"{path.stem}.png", ov)
            # the model id and backend come with the node's 1 Hz diagnostics, which a fast
            # model can outrun: wait for them rather than print "?"
            wait.until(lambda: bool(info.get("model_id")), args.timeout,
                       "the node's diagnostics (model id, backend)")
        finally:
            executor.shutdown()
            node.destroy_node()
    n_out = len(latencies)
    lat = np.asarray(latencies)
    print(f"demo: {len(frames)} frames in, {n_out} masks out ({len(got['overlay'])} overlays) "
          f"over DDS; latency mean {lat.mean():.1f} ms, p95 {np.percentile(lat, 95):.1f} ms; "
          f"model {info.get('model_id', '?')} on {info.get('backend', '?')}; "
          f"masks in {args.out / 'masks'}, overlays in {args.out / 'overlays'}")
    return 0 if n_out == len(frames) else 1
