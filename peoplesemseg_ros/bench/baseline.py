"""``bench baseline``: the same frames through a tutorial-style pipeline, same run.

The baseline is written the way most ROS + ONNX tutorials write a segmentation
callback, and is meant to be representative, not slow on purpose:

* cv_bridge's ``imgmsg_to_cv2(msg, "bgr8")`` (an ndarray over ``msg.data``, then
  ``cvtColor`` to the desired encoding; JPEG: ``imdecode``),
* ``cvtColor`` BGR -> RGB, ``astype(np.float32)``, ``cv2.resize`` of the float
  image to the network size (stretch),
* per-pixel normalization in float (``(img / 255 - mean) / std``), HWC -> NCHW,
* a float-input, logits-output network (the embedded model with its in-graph
  normalization and class decision cut off, so it is the same network),
* ``softmax`` over classes, then ``argmax``, ``* 255``, nearest resize back,
* an ndarray assigned to ``msg.data`` and the message serialized.

Ours: ``images`` -> ``Pipeline.segment`` -> ``.tobytes()`` -> serialize.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.bench.frames import InputSpec, received_messages
from peoplesemseg_ros.bench.pipeline import decoder_for
from peoplesemseg_ros.bench.stats import summarize_ms
from peoplesemseg_ros.core.images import fill_image, mask_to_image_fields
from peoplesemseg_ros.core.pipeline import Pipeline

__all__ = ["TutorialSegmenter", "bench_baseline_input", "float_logits_model"]


def float_logits_model(model_path: Path) -> tuple[bytes, NDArray[np.float32], NDArray[np.float32]]:
    """The embedded (uint8 in, ids out) model cut to float normalized NCHW in, logits out.

    Returns the ONNX bytes and the per-channel mean / std (0..1 scale) the graph used.
    """
    import onnx
    from onnx import numpy_helper

    from peoplesemseg_ros.training.variants import cut_logits

    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(model_path)).graph.initializer}
    if "norm.mean" not in inits or "norm.inv_std" not in inits:
        raise ValueError(f"{model_path} has no norm.mean / norm.inv_std: not an exported "
                         "ShuffleSeg ids model, the baseline cannot cut it")
    sub = cut_logits(model_path, normalized=True)
    mean = (inits["norm.mean"].reshape(-1) / 255.0).astype(np.float32)
    std = (1.0 / (inits["norm.inv_std"].reshape(-1) * 255.0)).astype(np.float32)
    return sub.SerializeToString(), mean, std


def softmax(x: NDArray[np.float32], axis: int) -> NDArray[np.float32]:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    out: NDArray[np.float32] = e / np.sum(e, axis=axis, keepdims=True)
    return out


class TutorialSegmenter:
    """Tutorial-style callback body: received message -> serialized mask message."""

    def __init__(self, model_path: Path, threads: int) -> None:
        import onnxruntime as ort

        data, self.mean, self.std = float_logits_model(model_path)
        so = ort.SessionOptions()
        if threads > 0:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(data, sess_options=so,
                                            providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = str(inp.name)
        self.height, self.width = int(inp.shape[2]), int(inp.shape[3])
        self.last_inference_s = 0.0

    @staticmethod
    def imgmsg_to_cv2(msg: Any, desired_encoding: str = "bgr8") -> NDArray[np.uint8]:
        """cv_bridge's conversion: an ndarray over the message buffer, then cvtColor."""
        if hasattr(msg, "format"):  # CompressedImage: compressed_imgmsg_to_cv2
            buf = np.ndarray(shape=(1, len(msg.data)), dtype=np.uint8, buffer=msg.data)
            return np.asarray(cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR), dtype=np.uint8)
        im = np.ndarray(shape=(msg.height, msg.width, 3), dtype=np.uint8, buffer=msg.data)
        if msg.encoding == desired_encoding:
            return im
        return np.asarray(cv2.cvtColor(im, cv2.COLOR_RGB2BGR), dtype=np.uint8)

    def callback(self, msg: Any) -> bytes:
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import Image

        cv_image = self.imgmsg_to_cv2(msg, "bgr8")
        h, w = cv_image.shape[:2]
        img: Any = cv2.cvtColor(cv_image, cv2.COLOR_BGR2RGB).astype(np.float32)
        img = cv2.resize(img, (self.width, self.height))
        img = (img / 255.0 - self.mean) / self.std
        tensor = np.expand_dims(np.transpose(img, (2, 0, 1)), 0).astype(np.float32)
        t0 = time.perf_counter()
        logits = self.session.run(None, {self.input_name: tensor})[0]
        self.last_inference_s = time.perf_counter() - t0
        probs = softmax(logits, axis=1)
        mask = (np.argmax(probs, axis=1)[0] * 255).astype(np.uint8)
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        out = Image()
        out.header = msg.header
        out.height, out.width = h, w
        out.encoding = "mono8"
        out.step = w
        out.data = mask.ravel()  # the ndarray, as tutorials do
        result: bytes = serialize_message(out)
        return result


def _ours(pipe: Pipeline, spec: InputSpec) -> Any:
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    decode = decoder_for(spec)

    def callback(msg: Any) -> bytes:
        mask = pipe.segment([decode(msg)])[0]
        out = fill_image(Image(), mask_to_image_fields(mask))
        out.header = msg.header
        result: bytes = serialize_message(out)
        return result
    return callback


def bench_baseline_input(pipe: Pipeline, tutorial: TutorialSegmenter, spec: InputSpec,
                         warmup: int, iters: int) -> dict[str, Any]:
    """Interleaved: each frame through ours, then through the tutorial code."""
    msgs = received_messages(spec)
    ours = _ours(pipe, spec)
    t_ours, t_base, inf_ours, inf_base = [], [], [], []
    agree = []
    for i in range(warmup + iters):
        msg = msgs[i % len(msgs)]
        t0 = time.perf_counter()
        a = ours(msg)
        t1 = time.perf_counter()
        b = tutorial.callback(msg)
        t2 = time.perf_counter()
        if i < warmup:
            continue
        t_ours.append(t1 - t0)
        t_base.append(t2 - t1)
        inf_ours.append(pipe.last_timings["inference"])
        inf_base.append(tutorial.last_inference_s)
        agree.append(len(a) == len(b))
    ours_s, base_s = summarize_ms(t_ours), summarize_ms(t_base)
    oh_ours = summarize_ms([t - i for t, i in zip(t_ours, inf_ours, strict=True)])
    oh_base = summarize_ms([t - i for t, i in zip(t_base, inf_base, strict=True)])
    return {
        "input": spec.name, "iters": iters, "warmup": warmup,
        "ours": {"total": ours_s, "inference": summarize_ms(inf_ours), "overhead": oh_ours},
        "baseline": {"total": base_s, "inference": summarize_ms(inf_base), "overhead": oh_base},
        "speedup_total_p50": float(base_s["p50_ms"]) / float(ours_s["p50_ms"]),
        "speedup_overhead_p50": float(oh_base["p50_ms"]) / float(oh_ours["p50_ms"]),
        "same_message_size": all(agree),
    }
