"""ONNX Runtime backend: every supported I/O form on tiny graphs with exact answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_models import make_model, make_unsupported_model, red_person_truth

from peoplesemseg_ros.core.backends import (
    ModelLoadError,
    OutputKind,
    UnsupportedModelError,
    create_backend,
    select_backend,
    to_class_map,
)
from peoplesemseg_ros.core.backends.base import InputLayout
from peoplesemseg_ros.core.backends.onnxruntime import OnnxRuntimeBackend
from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig

H, W = 32, 48


def _scene(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)


FORMS = [
    # in_dtype, layout, out, out_dtype, ids_4d, expected kind
    ("uint8", "NHWC", "ids", "uint8", False, OutputKind.CLASS_IDS),
    ("float32", "NHWC", "ids", "int32", False, OutputKind.CLASS_IDS),
    ("float32", "NCHW", "ids", "int64", False, OutputKind.CLASS_IDS),
    ("float32", "NCHW", "ids", "int64", True, OutputKind.CLASS_IDS),
    ("float32", "NHWC", "logits_nchw", "float32", False, OutputKind.LOGITS_NCHW),
    ("float32", "NCHW", "logits_nchw", "float32", False, OutputKind.LOGITS_NCHW),
    ("float32", "NCHW", "logits_nhwc", "float32", False, OutputKind.LOGITS_NHWC),
    ("float32", "NHWC", "logits_nhwc", "float32", False, OutputKind.LOGITS_NHWC),
    ("float32", "NCHW", "sigmoid_nchw", "float32", False, OutputKind.SIGMOID_NCHW),
    ("float32", "NHWC", "sigmoid_nhwc", "float32", False, OutputKind.SIGMOID_NHWC),
    ("float16", "NCHW", "logits_nchw", "float16", False, OutputKind.LOGITS_NCHW),
]


@pytest.mark.parametrize(("in_dtype", "layout", "out", "out_dtype", "ids_4d", "kind"), FORMS)
def test_every_io_form_gives_exact_class_ids(tmp_path: Path, in_dtype: str, layout: str,
                                             out: str, out_dtype: str, ids_4d: bool,
                                             kind: OutputKind) -> None:
    # Float models see the "unit" preset's [0, 1] values: threshold 64/255 in those units.
    thr = 64.0 if in_dtype == "uint8" else 64.5 / 255.0
    path = make_model(tmp_path / "m.onnx", in_dtype=in_dtype, layout=layout, out=out,
                      out_dtype=out_dtype, ids_4d=ids_4d, threshold=thr, height=H, width=W)
    backend = OnnxRuntimeBackend(path)
    try:
        assert backend.io.output_kind is kind
        assert backend.io.layout is InputLayout[layout]
        assert (backend.io.height, backend.io.width) == (H, W)
        rgb = _scene(2)
        if in_dtype == "uint8":
            batch: np.ndarray = rgb
        else:
            x = rgb.astype(np.float32) / 255.0
            batch = (x if layout == "NHWC" else x.transpose(0, 3, 1, 2)).astype(in_dtype)
        ids = to_class_map(backend.infer(np.ascontiguousarray(batch)), kind)
        assert ids.shape == (2, H, W) and ids.dtype == np.uint8
        truth = red_person_truth(rgb, 64.5 if in_dtype != "uint8" else 64)
        # float16 rounding can flip pixels sitting on the threshold: R - G is an integer and
        # the threshold sits half way, so even fp16 must be exact.
        np.testing.assert_array_equal(ids, truth.astype(np.uint8))
    finally:
        backend.close()
        backend.close()  # idempotent


def test_pipeline_on_float_model_with_unit_preset_matches_truth(tmp_path: Path) -> None:
    path = make_model(tmp_path / "m.onnx", in_dtype="float32", layout="NCHW",
                      out="logits_nchw", out_dtype="float32", threshold=64.5 / 255, height=H,
                      width=W)
    cfg = PipelineConfig(model_path=path, backend="onnxruntime", preprocessing="unit",
                         resize_mode="stretch", max_batch=3)
    with Pipeline(cfg) as pipe:
        rgb = _scene(3, seed=4)
        masks = pipe.segment(list(rgb))
        for m, img in zip(masks, rgb, strict=True):
            np.testing.assert_array_equal(m, red_person_truth(img, 64.5).astype(np.uint8) * 255)
        assert pipe.spec.name == "unit"
        assert set(pipe.last_timings) == {"preprocess", "inference", "postprocess"}
        assert pipe.model_id.startswith("m.onnx@") and len(pipe.model_id) == len("m.onnx@") + 12


def test_bgr_override_swaps_channels(tmp_path: Path) -> None:
    """With color_order=bgr the model sees B where R was: blue pixels become people."""
    path = make_model(tmp_path / "m.onnx", in_dtype="float32", layout="NHWC", out="ids",
                      out_dtype="int64", threshold=64.5 / 255, height=H, width=W)
    cfg = PipelineConfig(model_path=path, backend="onnxruntime", preprocessing="unit",
                         color_order="bgr", resize_mode="stretch")
    with Pipeline(cfg) as pipe:
        img = np.zeros((H, W, 3), np.uint8)
        img[:10, :, 0] = 220  # red: no longer a person
        img[20:, :, 2] = 220  # blue: a person
        mask = pipe.segment([img])[0]
        assert not mask[:10].any() and (mask[20:] == 255).all()


def test_unsupported_io_is_refused_showing_the_io(tmp_path: Path) -> None:
    path = make_unsupported_model(tmp_path / "vec.onnx")
    with pytest.raises(UnsupportedModelError) as err:
        OnnxRuntimeBackend(path)
    assert "x: float32[?,5]" in str(err.value) and "y: float32[?,5]" in str(err.value)


def test_uint8_model_refuses_normalizing_preset(tmp_path: Path) -> None:
    path = make_model(tmp_path / "m.onnx", height=H, width=W)
    with pytest.raises(ValueError, match="uint8"):
        Pipeline(PipelineConfig(model_path=path, backend="onnxruntime", preprocessing="unit"))


def test_missing_and_corrupt_files_raise_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        OnnxRuntimeBackend(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ModelLoadError, match=r"bad\.onnx"):
        create_backend("onnxruntime", bad)
    truncated = tmp_path / "trunc.onnx"
    whole = make_model(tmp_path / "whole.onnx").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelLoadError):
        OnnxRuntimeBackend(truncated)


def test_auto_selects_a_backend_with_a_reason() -> None:
    name, why = select_backend("auto")
    assert name in ("onnxruntime", "tensorrt") and why


def test_static_batch_model_is_padded(tmp_path: Path) -> None:
    path = make_model(tmp_path / "m.onnx", batch=2, height=H, width=W)
    with Pipeline(PipelineConfig(model_path=path, backend="onnxruntime", max_batch=1,
                                 resize_mode="stretch")) as pipe:
        rgb = _scene(3, seed=9)
        masks = pipe.segment(list(rgb))
        assert len(masks) == 3
        for m, img in zip(masks, rgb, strict=True):
            np.testing.assert_array_equal(m, red_person_truth(img).astype(np.uint8) * 255)
