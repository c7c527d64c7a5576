"""Model faults: bad model files at configure, a model that fails mid-stream, engine cache files.

* Missing, empty, truncated, garbage and unsupported-I/O model files fail with
  a clear error (the path and what is wrong) in the pipeline, and over the
  lifecycle services the node refuses to configure, stays up, reports ERROR
  with the reason in /diagnostics, and configures fine once given a good model.
* Mid-stream: a real ONNX graph that ONNX Runtime refuses to run for some
  inputs (a Reshape whose target depends on one pixel: a white top-left pixel
  asks for rows of 7, which the 48x64 ids cannot fill). Each such frame is
  dropped and counted (errors.InferenceError); after max_consecutive_failures
  in a row diagnostics go to ERROR, and back to OK with the next good frame.
* Engine cache: a partial temporary file left by a killed writer is never
  loaded; the entry is built and verified as usual.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sensor_msgs.msg import Image
from tiny_models import make_model, make_unsupported_model

from peoplesemseg_ros.core.backends import InferenceError, ModelLoadError, UnsupportedModelError
from peoplesemseg_ros.core.backends.engine_cache import EngineCache, EngineKey
from peoplesemseg_ros.core.hashing import sha256_bytes
from peoplesemseg_ros.core.images import fill_image
from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig
from peoplesemseg_ros.testing import faults
from peoplesemseg_ros.testing.live import (
    DiagnosticsWatcher,
    LifecycleClient,
    NodeProcess,
    NodeStatus,
    Peer,
    qos,
)

pytestmark = pytest.mark.timeout(180)

H, W = 48, 64


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def make_failing_model(path: Path) -> Path:
    """uint8 NHWC [N,48,64,3] -> uint8 ids [N,48,64] ("red is person"); ORT raises when the
    top-left pixel's green is 255."""
    nodes = [
        helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
        _const("a3", np.array([3], np.int64)),
        _const("c0", np.array([0], np.int64)), _const("c1", np.array([1], np.int64)),
        _const("c2", np.array([2], np.int64)),
        helper.make_node("Slice", ["xf", "c0", "c1", "a3"], ["r"]),
        helper.make_node("Slice", ["xf", "c1", "c2", "a3"], ["g"]),
        _const("thr", np.array(64.0, np.float32)),
        helper.make_node("Sub", ["r", "g"], ["d0"]),
        helper.make_node("Sub", ["d0", "thr"], ["d"]),
        _const("zero", np.array(0.0, np.float32)),
        helper.make_node("Greater", ["d", "zero"], ["b"]),
        helper.make_node("Cast", ["b"], ["i"], to=TensorProto.UINT8),
        helper.make_node("Squeeze", ["i", "a3"], ["y0"]),
        # trigger: k = 1 + 6 * (x[0, 0, 0, 1] == 255); Reshape(y0, [-1, k]) and back
        _const("s4", np.array([0, 0, 0, 1], np.int64)),
        _const("e4", np.array([1, 1, 1, 2], np.int64)),
        helper.make_node("Slice", ["x", "s4", "e4"], ["corner"]),
        _const("white", np.array(255, np.uint8)),
        helper.make_node("Equal", ["corner", "white"], ["hit"]),
        helper.make_node("Cast", ["hit"], ["hit64"], to=TensorProto.INT64),
        _const("flat1", np.array([1], np.int64)),
        helper.make_node("Reshape", ["hit64", "flat1"], ["h1"]),
        _const("six", np.array([6], np.int64)),
        helper.make_node("Mul", ["h1", "six"], ["h6"]),
        helper.make_node("Add", ["h6", "c1"], ["k"]),
        _const("minus1", np.array([-1], np.int64)),
        helper.make_node("Concat", ["minus1", "k"], ["shape2"], axis=0),
        helper.make_node("Reshape", ["y0", "shape2"], ["y1"]),
        helper.make_node("Shape", ["y0"], ["shape0"]),
        helper.make_node("Reshape", ["y1", "shape0"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "red_people_failing",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", H, W, 3])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, ["N", H, W])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def trigger_rgb(index: int) -> np.ndarray:
    rgb = faults.good_rgb(W, H, index)
    rgb[0, 0] = (255, 255, 255)
    return rgb


# --- bad model files, in-process ---------------------------------------------------------------

def _bad_models(tmp: Path) -> dict[str, tuple[Path, type[Exception], str]]:
    good = make_model(tmp / "good.onnx", height=H, width=W).read_bytes()
    (tmp / "empty.onnx").write_bytes(b"")
    (tmp / "truncated.onnx").write_bytes(good[: len(good) // 2])
    (tmp / "garbage.onnx").write_bytes(os.urandom(4096))
    flipped = bytearray(good)
    flipped[len(flipped) // 3: len(flipped) // 3 + 64] = b"\xff" * 64
    (tmp / "corrupt.onnx").write_bytes(bytes(flipped))
    make_unsupported_model(tmp / "vector.onnx")
    return {
        "missing": (tmp / "missing.onnx", ModelLoadError, "not found"),
        "empty": (tmp / "empty.onnx", ModelLoadError, "empty.onnx"),
        "truncated": (tmp / "truncated.onnx", ModelLoadError, "truncated.onnx"),
        "garbage": (tmp / "garbage.onnx", ModelLoadError, "garbage.onnx"),
        "corrupt": (tmp / "corrupt.onnx", ModelLoadError, "corrupt.onnx"),
        "unsupported": (tmp / "vector.onnx", UnsupportedModelError, "x: float32[?,5]"),
    }


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "garbage", "corrupt",
                                  "unsupported"])
def test_bad_model_file_fails_with_a_clear_error(tmp_path: Path, kind: str) -> None:
    path, error, needle = _bad_models(tmp_path)[kind]
    with pytest.raises(error) as info:
        Pipeline(PipelineConfig(model_path=path, backend="onnxruntime"))
    assert needle in str(info.value)


def test_failing_model_raises_inference_error_only_on_trigger(tmp_path: Path) -> None:
    model = make_failing_model(tmp_path / "failing.onnx")
    with Pipeline(PipelineConfig(model_path=model, backend="onnxruntime")) as pipe:
        good = faults.good_rgb(W, H, 4)
        mask = pipe.segment([good])[0]
        np.testing.assert_array_equal(mask, faults.red_truth(good).astype(np.uint8) * 255)
        with pytest.raises(InferenceError, match="ONNX Runtime failed"):
            pipe.segment([trigger_rgb(5)])
        np.testing.assert_array_equal(pipe.segment([good])[0], mask)  # still usable


# --- the node --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    with Peer(f"model_faults_test_{os.getpid()}") as p:
        yield p


def _set_model(peer: Peer, fqn: str, path: Path) -> bool:
    from typing import Any

    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    client: Any = peer.node.create_client(SetParameters, f"{fqn}/set_parameters")
    req = SetParameters.Request(parameters=[Parameter(name="model_path", value=ParameterValue(
        type=ParameterType.PARAMETER_STRING, string_value=str(path)))])
    ok = bool(peer.call(client, req).results[0].successful)
    peer.node.destroy_client(client)
    return ok


def test_node_refuses_bad_models_stays_up_and_configures_later(tmp_path: Path,
                                                               peer: Peer) -> None:
    bad = _bad_models(tmp_path)
    with NodeProcess(f"/mf_cfg_{os.getpid()}", {"model_path": str(bad["missing"][0]),
                                                "autostart": False}) as node:
        lc = LifecycleClient(peer, node.fqn)
        diag = DiagnosticsWatcher(peer, node.fqn)
        for kind in ("missing", "truncated", "garbage", "unsupported"):
            path, error, needle = bad[kind]
            assert _set_model(peer, node.fqn, path), kind
            assert not lc.transition("configure"), kind
            assert lc.state() == "unconfigured" and node.alive()
            st = diag.wait_for(_mentions(path.name), 15)
            assert st.level == "ERROR" and error.__name__ in st.message and needle in st.message
        good = make_model(tmp_path / "good2.onnx", height=H, width=W)
        assert _set_model(peer, node.fqn, good)
        assert lc.transition("configure") and lc.transition("activate")
        st = diag.wait_for(lambda s: s.values.get("state") == "active", 15)
        assert "last_error" not in st.values and st.level != "ERROR"
        assert node.stop() == 0
        out = node.output()
    assert "Traceback" not in out
    for kind in ("missing", "truncated", "garbage", "unsupported"):
        assert "configure failed, staying unconfigured: " in out and bad[kind][0].name in out


def test_mid_stream_failures_drop_frames_then_error_then_recover(tmp_path: Path,
                                                                peer: Peer) -> None:
    model = make_failing_model(tmp_path / "failing.onnx")
    ns = f"/mf_run_{os.getpid()}"
    with NodeProcess(ns, {"model_path": str(model), "qos.reliability": "reliable",
                          "qos.depth": 5, "max_consecutive_failures": 3,
                          "input_timeout": 0.0, "min_output_ratio": 0.0}) as node:
        diag = DiagnosticsWatcher(peer, node.fqn)
        pub = peer.node.create_publisher(Image, f"{ns}/image", qos())
        masks: list[Image] = []
        peer.node.create_subscription(Image, f"{ns}/mask", masks.append, qos())
        diag.wait_for(lambda s: s.values.get("state") == "active", 30)
        assert _wait_matched(pub)

        def send(rgb: np.ndarray, stamp: int) -> None:
            msg = Image()
            fill_image(msg, faults.RawFrame(H, W, "rgb8", W * 3, rgb.tobytes()))
            msg.header.stamp.sec = stamp
            pub.publish(msg)

        send(faults.good_rgb(W, H, 1), 1)
        diag.wait_for(lambda s: s.get_int("frames_out") == 1 and s.level == "OK", 20)
        for n in (1, 2, 3):  # one at a time: each must reach the worker (not be overwritten)
            send(trigger_rgb(10 + n), 10 + n)
            st = diag.wait_for(_failed(n), 20)
            assert st.get_int("consecutive_failures") == n
            assert st.level == ("ERROR" if n >= 3 else "OK"), (n, st.level, st.message)
        assert "inference failed 3 times in a row" in st.message
        assert "InferenceError" in st.message
        assert {m.header.stamp.sec for m in masks} == {1}  # failed frames published nothing
        send(faults.good_rgb(W, H, 20), 20)
        st = diag.wait_for(lambda s: s.get_int("frames_out") == 2, 20)
        assert st.level == "OK" and st.get_int("consecutive_failures") == 0
        assert _failed(3)(st) and st.get_int("dropped_frames") == 0
        assert {m.header.stamp.sec for m in masks} == {1, 20}
        assert node.stop() == 0
        assert "Traceback" not in node.output()


def _mentions(name: str) -> Callable[[NodeStatus], bool]:
    return lambda s: name in s.values.get("last_error", "")


def _failed(n: int) -> Callable[[NodeStatus], bool]:
    return lambda s: s.get_int("errors.InferenceError") == n


def _wait_matched(pub: object) -> bool:
    from peoplesemseg_ros.testing.live import wait_until

    return wait_until(lambda: pub.get_subscription_count() > 0, 30)  # type: ignore[attr-defined]


# --- engine cache: what engine_cache's own tests do not cover ---------------------------------

KEY = EngineKey(onnx_sha256=sha256_bytes(b"m"), trt_version="10.0", gpu_name="gpu",
                precision="fp16", input_name="x", input_shape=(544, 960, 3), min_batch=1,
                opt_batch=1, max_batch=1)


def test_partial_temp_file_of_a_killed_writer_is_never_loaded(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    engine_path, _sidecar = cache.paths(KEY)
    # a writer killed mid-write leaves its temp file; the final names never appeared
    (tmp_path / f".{engine_path.name}.abc123.tmp").write_bytes(b"half an engi")
    data, why = cache.check(KEY)
    assert data is None and "no cached engine" in why
    built: list[int] = []

    def build() -> bytes:
        built.append(1)
        return b"a whole engine" * 10

    result = cache.get_or_build(KEY, build)
    assert result.built and built == [1] and result.engine == b"a whole engine" * 10
    assert cache.get_or_build(KEY, build).built is False and built == [1]


def test_engine_replaced_without_its_sidecar_is_rebuilt(tmp_path: Path) -> None:
    """A crash between the engine's rename and the sidecar's: new engine, old sidecar."""
    cache = EngineCache(tmp_path)
    first = cache.get_or_build(KEY, lambda: b"engine one" * 8)
    first.path.write_bytes(b"engine two" * 8)  # same size, other bytes
    data, why = cache.check(KEY)
    assert data is None and "sha256" in why
    again = cache.get_or_build(KEY, lambda: b"engine three" * 8)
    assert again.built and again.engine == b"engine three" * 8
