"""The ``peoplesemseg`` lifecycle node: camera images in, person masks (and more) out.

Thin glue around :class:`peoplesemseg_ros.core.pipeline.Pipeline` (the same code path
as ``peoplesemseg infer`` and ``peoplesemseg bag process``). Per camera it
subscribes ``image`` (or ``image/compressed``) and ``camera_info`` and publishes
``mask``, ``overlay`` (only while subscribed), ``person_occupancy``,
``people_scan`` and ``people_cloud``; ``/diagnostics`` at 1 Hz (steady clock: also
under ``use_sim_time`` without /clock); all take ``qos_overrides.*``. One worker
thread runs the newest frame of every camera, batched. See docs/node.md.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from peoplesemseg_ros import params
from peoplesemseg_ros.core.images import (
    ImageConversionError,
    check_compressed,
    check_image,
    compressed_to_rgb,
    image_msg,
    image_to_rgb,
    mask_to_image_fields,
    rgb_to_image_fields,
)
from peoplesemseg_ros.core.pipeline import Pipeline
from peoplesemseg_ros.occupancy.pose_source import PoseResolver
from peoplesemseg_ros.occupancy.stage import OccupancyStage
from peoplesemseg_ros.ros import health
from peoplesemseg_ros.ros.camera import (
    OVERRIDABLE,
    CameraPublishers,
    CameraState,
    input_qos,
    now,
    topic,
)
from peoplesemseg_ros.ros.diagnostics import NodeStats, to_status
from peoplesemseg_ros.ros.mailbox import Frame, Mailbox, Put
from peoplesemseg_ros.ros.occupancy_out import OccupancyOutput, pose_info, pose_resolver
from peoplesemseg_ros.ros.parameters import current_values, declare_parameters
from peoplesemseg_ros.ros.scheduler import BatchScheduler
from peoplesemseg_ros.ros.tf import Tf2Source

__all__ = ["PeopleSegNode", "main"]

_THROTTLE_S = 5.0


class PeopleSegNode(LifecycleNode):
    """LifecycleNode ``peoplesemseg``; configures and activates itself unless autostart is false."""

    def __init__(self, node_name: str = params.NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        # Raises params.ParameterError (naming the parameter) on a bad start value.
        self.config: params.NodeConfig = declare_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)
        self.stats = NodeStats()
        self.pipeline: Pipeline | None = None
        self.state_label = "unconfigured"
        self.last_error = ""
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._active = False
        self._scheduler = BatchScheduler(self._cond, self._stop)
        self.cameras: dict[str, CameraState] = {}
        self._last_rx: dict[str, float] = {}  # camera -> time of its newest image (or activate)
        self._failures = 0  # inference batches failed in a row
        self._failure_msg = ""
        self._tf: Tf2Source | None = None
        self._poses = PoseResolver("parameters", None)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10,
                                               qos_overriding_options=OVERRIDABLE)
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics,
                                             clock=Clock(clock_type=ClockType.STEADY_TIME))
        if self.config.autostart and \
                self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        cfg = self.config = params.validate(current_values(self))
        try:
            self.pipeline = Pipeline(cfg.pipeline_config())
        except Exception as exc:  # any load failure leaves the node unconfigured, retryable
            self.last_error = health.load_error(exc, cfg)
            self.get_logger().error(f"configure failed, staying unconfigured: {self.last_error}")
            return TransitionCallbackReturn.FAILURE
        self.last_error = ""
        p = self.pipeline
        self.get_logger().info(
            f"model {p.model_id} on {p.backend_name} ({p.backend_reason}); {p.io_description}; "
            f"preprocessing {p.spec.name}, {cfg.resize_mode}")
        poses, log = cfg.camera_poses(), self.get_logger().info
        self._poses, self._tf = pose_resolver(self, cfg, lambda: self.config.tf_timeout, log)
        for name in cfg.camera_names:
            pubs = CameraPublishers.create(self, name, cfg)
            stage = OccupancyStage(topic(name, "camera_info"), self._warn)
            output = OccupancyOutput(name, stage, self._poses, pubs, log)
            self.cameras[name] = CameraState(name, Mailbox(self._cond), poses[name], stage, pubs,
                                             output)
        self.state_label = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        cfg = self.config
        if self.pipeline is None:  # freed by deactivate: load the configured model again
            try:
                self.pipeline = Pipeline(cfg.pipeline_config())
            except Exception as exc:  # the node stays inactive; activate can be retried
                self.last_error = health.load_error(exc, cfg)
                self.get_logger().error(f"activate failed, staying inactive: {self.last_error}")
                return TransitionCallbackReturn.FAILURE
            self.last_error = ""
        compressed = cfg.input_transport == "compressed"
        for name, cam in self.cameras.items():
            if compressed:
                cam.subs.append(self.create_subscription(
                    CompressedImage, topic(name, "image/compressed"),
                    lambda m, c=cam: self._on_image(c, m), input_qos(cfg),
                    qos_overriding_options=OVERRIDABLE))
            else:
                cam.subs.append(self.create_subscription(
                    Image, topic(name, "image"), lambda m, c=cam: self._on_image(c, m),
                    input_qos(cfg), qos_overriding_options=OVERRIDABLE))
            cam.subs.append(self.create_subscription(
                CameraInfo, topic(name, "camera_info"), lambda m, c=cam: self._on_info(c, m),
                input_qos(cfg), qos_overriding_options=OVERRIDABLE))
        self._stop.clear()
        self._last_rx = dict.fromkeys(self.cameras, now())
        self._failures = 0
        self._active = True
        self._worker = threading.Thread(target=self._work, name="peoplesemseg-worker",
                                        daemon=True)
        self._worker.start()
        self.state_label = "active"
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._close_pipeline()  # free the backend (GPU / CPU memory) while inactive
        self.state_label = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.state_label = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._release()
        self.state_label = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def _stop_worker(self) -> None:
        self._active = False
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def _unsubscribe(self) -> None:
        """Stop the worker, drop the image / camera_info subscriptions and pending frames."""
        self._stop_worker()
        for cam in self.cameras.values():
            for sub in cam.subs:
                self.destroy_subscription(sub)
            cam.subs.clear()
            cam.mailbox.clear()

    def _close_pipeline(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None

    def _release(self) -> None:
        for cam in self.cameras.values():
            for pub in cam.pubs.all():
                self.destroy_publisher(pub)
        self.cameras.clear()
        if self._tf is not None:
            self._tf.close()
            self._tf = None
        self._close_pipeline()

    def close(self) -> None:
        """Stop the worker and free the backend (idempotent); then destroy the node."""
        self._stop_worker()
        self._release()

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, changes: Sequence[Any]) -> SetParametersResult:
        values = {p.name: list(p.value) if hasattr(p.value, "__len__") and
                  not isinstance(p.value, str) else p.value for p in changes}
        why = params.check_update(current_values(self), values,
                                  configured=self.state_label != "unconfigured")
        return SetParametersResult(successful=why is None, reason=why or "")

    def _after_set_parameters(self, changes: Sequence[Any]) -> None:
        self.config = params.validate(current_values(self))
        poses = self.config.camera_poses()
        for name, cam in self.cameras.items():
            cam.pose = poses[name]  # the occupancy stage rebuilds its mapper when it changed

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, cam: CameraState, msg: Any) -> None:
        self.stats.add(cam.name, received=1)
        self._last_rx[cam.name] = now()
        try:  # O(1) field checks here: a bad frame never takes a good frame's mailbox slot
            if isinstance(msg, CompressedImage):
                check_compressed(msg, self.config.max_image_pixels)
            else:
                check_image(msg, self.config.max_image_pixels)
        except ImageConversionError as exc:
            self._reject(cam, exc)
            return
        put = cam.mailbox.put(Frame(msg, now()))
        if put is Put.DROPPED:
            self.stats.add(cam.name, dropped=1)
        elif put is Put.RATE_LIMITED:
            self.stats.add(cam.name, rate_limited=1)

    def _reject(self, cam: CameraState, exc: ImageConversionError) -> None:
        self.stats.reject(exc.reason)
        self.get_logger().warning(f"skipping a frame on {topic(cam.name, 'image')}: {exc}",
                                  throttle_duration_sec=_THROTTLE_S)

    def _on_info(self, cam: CameraState, msg: CameraInfo) -> None:
        cam.occupancy.set_info(msg)

    def _warn(self, text: str, throttled: bool) -> None:
        if throttled:
            self.get_logger().warning(text, throttle_duration_sec=_THROTTLE_S)
        else:
            self.get_logger().warning(text)

    # ------------------------------------------------------------------ worker
    def _take_batch(self) -> list[tuple[CameraState, Frame]]:
        cams = list(self.cameras.values())
        cfg = self.config
        batch = self._scheduler.take([c.mailbox for c in cams], cfg.max_batch,
                                     cfg.batch_window_ms, cfg.max_rate_hz)
        return [(cams[i], frame) for i, frame in batch]

    def _work(self) -> None:
        while not self._stop.is_set():
            batch = self._take_batch()
            if not batch:
                continue
            try:
                self._process(batch)
            except Exception as exc:  # the node never dies on one bad batch: count, log
                self.stats.error(type(exc).__name__)
                self._failures += 1
                self._failure_msg = f"{type(exc).__name__}: {exc}"
                self.get_logger().error(f"processing failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=_THROTTLE_S)

    def _convert(self, frame: Frame) -> Any:
        cap = self.config.max_image_pixels
        if isinstance(frame.msg, CompressedImage):
            return compressed_to_rgb(frame.msg, cap)
        return image_to_rgb(frame.msg, cap)

    def _process(self, batch: list[tuple[CameraState, Frame]]) -> None:
        pipe = self.pipeline
        if pipe is None:
            return
        cfg = self.config
        items = []
        t0 = now()
        for cam, frame in batch:
            try:
                items.append((cam, frame, self._convert(frame)))
            except ImageConversionError as exc:
                self._reject(cam, exc)
        if not items:
            return
        t1 = now()
        masks = pipe.segment([rgb for _, _, rgb in items], mask_value=cfg.mask_value)
        self._failures = 0
        self.stats.add_latency("convert", t1 - t0)
        for stage, seconds in pipe.last_timings.items():
            self.stats.add_latency(stage, seconds)
        for (cam, frame, rgb), mask in zip(items, masks, strict=True):
            self.stats.add(cam.name, processed=1)
            if not self._active:
                return
            header = frame.msg.header
            if cfg.publish_mask:
                cam.pubs.mask.publish(image_msg(Image, header, mask_to_image_fields(mask)))
            ov = cam.pubs.overlay
            if cfg.publish_overlay and ov.get_subscription_count() > 0:
                t = now()
                ov.publish(image_msg(Image, header, rgb_to_image_fields(
                    pipe.overlay(rgb, mask, cfg.overlay_alpha))))
                self.stats.add_latency("overlay", now() - t)
            t = now()
            if cam.output.publish(mask, header, cam.pose, cfg):
                self.stats.add_latency("occupancy", now() - t)
            self.stats.add(cam.name, published=1)
            self.stats.add_latency("total", now() - frame.received)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        snap = self.stats.snapshot()
        p = self.pipeline
        info = {"state": self.state_label,
                "backend": p.backend_name if p else "",
                "precision": p.precision if p else self.config.precision,
                "model_id": p.model_id if p else "",
                "cameras": ",".join(self.cameras) or "(default)"}
        if self.last_error:
            info["last_error"] = self.last_error
        cfg = self.config
        verdict = health.evaluate(
            state=self.state_label, last_error=self.last_error, failures=self._failures,
            failure_message=self._failure_msg, snap=snap, last_rx=self._last_rx, now=now(),
            input_timeout=cfg.input_timeout, min_output_ratio=cfg.min_output_ratio,
            max_consecutive_failures=cfg.max_consecutive_failures, max_rate_hz=cfg.max_rate_hz)
        info["consecutive_failures"] = str(self._failures)
        info.update(pose_info(self._poses, [c.output for c in self.cameras.values()]))
        lvl, message = verdict.level, verdict.message
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [to_status(f"{self.get_name()}: people segmentation",
                                self.get_fully_qualified_name(), snap, info, lvl, message)]
        self._diag_pub.publish(arr)


def main(args: Sequence[str] | None = None) -> int:
    """Console script ``peoplesemseg_node``: 0 on Ctrl-C / SIGTERM, 2 on bad parameters.

    SIGINT / SIGTERM only set a flag (rclpy's own handlers are off), so the node
    always leaves through the same orderly path: worker stopped, backend freed,
    node destroyed, context shut down. The executor runs ``spin_once`` with a
    timeout rather than ``spin()``: with the worker thread publishing, ``spin()``
    was seen (about 1 start in 8) to block for good in ``wait_set.wait``, timers
    included; a bounded wait re-arms the wait set every 0.1 s.
    """
    argv = list(sys.argv if args is None else args)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO):
            try:
                node = PeopleSegNode()
            except params.ParameterError as exc:
                print(f"peoplesemseg_node: {exc}", file=sys.stderr)
                return 2
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            try:
                while not stop.is_set() and rclpy.ok():
                    executor.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                pass  # the context was shut down from outside: leave like on a signal
            finally:
                node.close()
                executor.remove_node(node)
                node.destroy_node()
                executor.shutdown()  # its guard conditions go before the context does
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
