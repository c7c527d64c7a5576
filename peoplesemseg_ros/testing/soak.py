"""The soak run behind ``peoplesemseg soak``: good and bad frames into the live node.

Starts ``peoplesemseg_node`` as a subprocess in its own namespace with reliable
image QoS, then publishes frames in lock step: a good frame (rgb8 with a red
block, stamped with its index) is followed by waiting for its mask; bad frames
(one per rejection reason in turn, see :mod:`peoplesemseg_ros.testing.faults`) are
interleaved at ``--bad-ratio``. It reports, as JSON:

* frames sent (good, bad by reason), masks received, good frames whose mask never
  came (``lost_good``), masks that were wrong (``--verify red``: the tiny test
  models' "red pixels are people" rule) or stale (a stamp not asked for);
* the node's own counts read back from ``/diagnostics`` (frames in / out,
  rejected by reason, dropped, errors);
* the node's RSS over time (psutil, every ``--rss-every`` seconds) and its growth
  after the warm-up;
* stalls: every wait for a mask longer than ``--stall-s`` while input flowed.

The node rejects bad frames in its subscription callback (before the one-slot
mailbox), so the invariant is exact: rejected by reason == bad frames sent by
reason, and nothing dropped (lock step never overwrites a good frame).
Exit status 0 when no good frame was lost, no mask was wrong, every bad frame
is accounted for and the node exited cleanly on SIGINT; else 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from peoplesemseg_ros.core.images import fill_image
from peoplesemseg_ros.testing import faults

__all__ = ["soak"]


class _Masks:
    """Masks by stamp index, with a condition to wait on one."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.got: dict[int, Any] = {}
        self.unexpected = 0
        self.expected: set[int] = set()

    def on_mask(self, msg: Any) -> None:
        idx = int(msg.header.stamp.sec) - _STAMP0
        with self.cond:
            if idx not in self.expected or idx in self.got:
                self.unexpected += 1
            self.got[idx] = msg
            self.cond.notify_all()

    def wait(self, idx: int, timeout: float) -> Any:
        with self.cond:
            self.cond.wait_for(lambda: idx in self.got, timeout)
            return self.got.get(idx)


_STAMP0 = 1_000_000


def _mask_ok(msg: Any, rgb: np.ndarray) -> bool:
    h, w = rgb.shape[:2]
    if (msg.height, msg.width, msg.encoding) != (h, w, "mono8") or msg.step != w:
        return False
    mask = np.frombuffer(bytes(msg.data), np.uint8).reshape(h, w)
    return bool(np.array_equal(mask, faults.red_truth(rgb).astype(np.uint8) * 255))


def soak(args: argparse.Namespace) -> dict[str, Any]:
    from sensor_msgs.msg import Image

    from peoplesemseg_ros.testing.live import DiagnosticsWatcher, NodeProcess, Peer, qos

    ns = args.namespace or f"peoplesemseg_soak_{os.getpid()}"
    params: dict[str, Any] = {"qos.reliability": "reliable", "qos.depth": 10,
                              "publish.overlay": False, "publish.occupancy": False,
                              "publish.scan": False}
    if args.model is not None:
        params["model_path"] = str(Path(args.model).resolve())
    rng = np.random.default_rng(args.seed)
    sent_bad: Counter[str] = Counter()
    good_sent = lost = wrong = 0
    stalls: list[dict[str, float]] = []
    rss: list[dict[str, float]] = []
    rss_warm: float | None = None
    masks = _Masks()
    node = NodeProcess(ns, params)
    peer = Peer(f"soak_driver_{os.getpid()}")
    exit_code: int | None = None
    t_start = time.monotonic()
    try:
        proc = psutil.Process(node.pid)
        diag = DiagnosticsWatcher(peer, node.fqn)
        pub = peer.node.create_publisher(Image, f"{node.namespace}/image", qos(True, 10))
        peer.node.create_subscription(Image, f"{node.namespace}/mask", masks.on_mask,
                                      qos(True, 10))
        try:
            diag.wait_for(lambda s: s.values.get("state") == "active", 60.0)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\nnode output:\n{node.output()[-3000:]}") from exc
        deadline = time.monotonic() + 60.0
        while pub.get_subscription_count() < 1 or \
                peer.node.count_publishers(f"{node.namespace}/mask") < 1:
            if time.monotonic() > deadline or not node.alive():
                raise RuntimeError(f"node never matched image/mask; output:\n{node.output()}")
            time.sleep(0.02)
        t0 = time.monotonic()
        end = t0 + args.minutes * 60.0
        next_rss = t0
        i = 0
        reasons = faults.BAD_RAW_REASONS
        bad_frames = {r: faults.bad_raw(r) for r in reasons}
        while time.monotonic() < end and (args.frames <= 0 or i < args.frames):
            now = time.monotonic()
            if now >= next_rss:
                rss.append({"t": round(now - t0, 2), "rss_mb": proc.memory_info().rss / 2**20,
                            "frames": i})
                if rss_warm is None and i >= args.warmup_frames:
                    rss_warm = rss[-1]["rss_mb"]
                next_rss = now + args.rss_every
            msg = Image()
            msg.header.stamp.sec = _STAMP0 + i
            msg.header.frame_id = "soak_camera"
            if rng.random() < args.bad_ratio:
                reason = reasons[sum(sent_bad.values()) % len(reasons)]
                fill_image(msg, bad_frames[reason])
                pub.publish(msg)
                sent_bad[reason] += 1
                i += 1
                continue
            rgb = faults.good_rgb(args.width, args.height, i)
            fill_image(msg, faults.good_raw(args.width, args.height, i))
            with masks.cond:
                masks.expected.add(i)
            t_pub = time.monotonic()
            pub.publish(msg)
            good_sent += 1
            got = masks.wait(i, args.stall_s)
            if got is None:
                got = masks.wait(i, max(0.0, args.timeout_s - args.stall_s))
                waited = time.monotonic() - t_pub
                stalls.append({"frame": i, "t": round(t_pub - t0, 2),
                               "waited_s": round(waited, 3), "lost": got is None})
            if got is None:
                lost += 1
            elif args.verify == "red" and not _mask_ok(got, rgb):
                wrong += 1
            i += 1
        sent_total = good_sent + sum(sent_bad.values())
        duration = time.monotonic() - t0
        # The node reports at 1 Hz: wait until its counts cover every frame sent.
        try:
            final = diag.wait_for(lambda s: s.get_int("frames_in") >= sent_total and
                                  s.get_int("frames_out") >= good_sent - lost, 10.0)
        except TimeoutError:
            last = diag.latest
            if last is None:
                raise
            final = last
        rss.append({"t": round(time.monotonic() - t0, 2),
                    "rss_mb": proc.memory_info().rss / 2**20, "frames": i})
        exit_code = node.stop(signal.SIGINT)
    finally:
        output = node.output()
        node.close()
        peer.close()
    rejected = final.prefixed("rejected.")
    dropped = final.get_int("dropped_frames")
    bad_total = sum(sent_bad.values())
    accounted = rejected == dict(sent_bad) and dropped == 0
    rss_start = rss_warm if rss_warm is not None else rss[0]["rss_mb"]
    traceback = "Traceback (most recent call last)" in output
    ok = (lost == 0 and wrong == 0 and masks.unexpected == 0 and accounted
          and exit_code == 0 and not traceback
          and final.get_int("frames_in") == sent_total)
    report: dict[str, Any] = {
        "ok": ok,
        "duration_s": round(duration, 2),
        "wall_s": round(time.monotonic() - t_start, 2),
        "frames": {"sent": sent_total, "good_sent": good_sent, "bad_sent": dict(sent_bad),
                   "masks_received": len(masks.got), "lost_good": lost, "wrong_masks": wrong,
                   "unexpected_masks": masks.unexpected,
                   "fps": round(sent_total / duration, 1) if duration > 0 else 0.0},
        "node": {"frames_in": final.get_int("frames_in"),
                 "frames_out": final.get_int("frames_out"), "rejected": rejected,
                 "dropped": dropped, "errors": final.prefixed("errors."),
                 "level": final.level, "message": final.message,
                 "latency_ms": {k: v for k, v in final.values.items()
                                if k.startswith("latency_ms.")},
                 "exit_code": exit_code, "traceback": traceback},
        "bad_frames_accounted": accounted,
        "rss": {"start_mb": round(rss_start, 2), "end_mb": round(rss[-1]["rss_mb"], 2),
                "growth_mb": round(rss[-1]["rss_mb"] - rss_start, 2),
                "max_mb": round(max(r["rss_mb"] for r in rss), 2), "samples": rss},
        "stalls": stalls,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                     if not k.startswith("_") and k != "command"},
    }
    report["summary"] = (
        f"{sent_total} frames ({good_sent} good, {bad_total} bad) in {duration:.1f} s; "
        f"{len(masks.got)} masks, {lost} lost, {wrong} wrong; rejected "
        f"{sum(rejected.values())} {dict(sorted(rejected.items()))}, dropped {dropped}; RSS "
        f"{rss_start:.1f} -> {rss[-1]['rss_mb']:.1f} MiB; {len(stalls)} stalls; node exit "
        f"{exit_code}; {'OK' if ok else 'FAILED'}")
    return report
