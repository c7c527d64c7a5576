"""INT8 calibration data: images -> model-input batches through the node's preprocessing.

The batching is pure numpy / OpenCV and runs here; the TensorRT calibrator that
wraps it (TensorRT 8.6 / 10 with a GPU) is the one ``gpu`` test at the end.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from peoplesemseg_ros.core.backends import (
    BackendError,
    InputLayout,
    OutputKind,
    TensorInfo,
    classify_io,
)
from peoplesemseg_ros.core.backends.base import ModelIO
from peoplesemseg_ros.core.backends.calibration import (
    CalibrationBatches,
    create_entropy_calibrator,
    image_set_digest,
    list_images,
)
from peoplesemseg_ros.core.backends.onnx_io import onnx_model_io
from peoplesemseg_ros.core.backends.tensorrt import tensorrt_available
from peoplesemseg_ros.core.pipeline import EMBEDDED_MODEL_NAME

MODELS = Path(__file__).resolve().parents[3] / "peoplesemseg_ros" / "models"
H, W = 32, 48


def _io(dtype: type, layout: str, max_batch: int | None = None) -> ModelIO:
    shape = (max_batch, H, W, 3) if layout == "NHWC" else (max_batch, 3, H, W)
    return classify_io([TensorInfo("x", shape, np.dtype(dtype))],
                       [TensorInfo("y", (max_batch, 2, H, W), np.dtype(np.float32))])


def _write(folder: Path, name: str, rgb: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


def _flat(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[...] = rgb
    return img


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "calib"
    _write(d, "a.png", _flat(16, 48, (200, 10, 10)))   # wide: letterboxed top / bottom
    _write(d, "b.png", _flat(32, 24, (10, 200, 10)))   # tall: letterboxed left / right
    _write(d / "sub", "c.png", _flat(32, 48, (10, 10, 200)))  # exact size
    _write(d, "d.bmp", _flat(64, 96, (90, 90, 90)))
    _write(d, "e.jpg", _flat(16, 16, (255, 255, 255)))
    (d / "notes.txt").write_text("not an image")
    return d


def test_list_images_recursive_sorted_filtered(folder: Path) -> None:
    names = [p.relative_to(folder).as_posix() for p in list_images(folder)]
    assert names == ["a.png", "b.png", "d.bmp", "e.jpg", "sub/c.png"]
    thinned = list_images(folder, limit=2)
    assert len(thinned) == 2 and thinned[0].name == "a.png"


def test_list_images_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="not found"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="no calibration images"):
        list_images(tmp_path / "empty")


def test_image_set_digest_tracks_the_set(folder: Path) -> None:
    base = image_set_digest(list_images(folder))
    assert image_set_digest(list_images(folder)) == base
    _write(folder, "f.png", _flat(8, 8, (1, 2, 3)))
    assert image_set_digest(list_images(folder)) != base
    after_add = image_set_digest(list_images(folder))
    _write(folder, "f.png", np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8))
    assert image_set_digest(list_images(folder)) != after_add


def test_uint8_batches_are_the_letterboxed_images(folder: Path) -> None:
    batches = CalibrationBatches(list_images(folder), _io(np.uint8, "NHWC"), batch_size=2)
    assert batches.batch_size == 2 and len(batches) == 2  # 5 images: 2 whole batches
    assert batches.batch_shape == (2, H, W, 3) and batches.dtype == np.uint8
    assert batches.nbytes == 2 * H * W * 3
    got = [b.copy() for b in batches]
    assert len(got) == 2 and all(b.shape == (2, H, W, 3) and b.dtype == np.uint8 for b in got)
    a, b = got[0][0], got[0][1]
    # a.png 16x48 -> 16x48 band centred in 32x48: 8 zero rows above and below
    assert (a[:8] == 0).all() and (a[24:] == 0).all()
    np.testing.assert_array_equal(a[8:24], np.broadcast_to([200, 10, 10], (16, W, 3)))
    # b.png 32x24 -> centred horizontally: 12 zero columns each side
    assert (b[:, :12] == 0).all() and (b[:, 36:] == 0).all()
    np.testing.assert_array_equal(b[:, 12:36], np.broadcast_to([10, 200, 10], (H, 24, 3)))
    # d.bmp is an exact 2x downscale of a flat grey image
    np.testing.assert_array_equal(got[1][0], np.full((H, W, 3), 90, np.uint8))


def test_float_nchw_batches_use_the_node_preset(folder: Path) -> None:
    io = _io(np.float32, "NCHW")
    batches = CalibrationBatches(list_images(folder), io, batch_size=5)
    (batch,) = list(batches)
    assert batch.shape == (5, 3, H, W) and batch.dtype == np.float32
    # "auto" for a float model = isaac_ros: RGB, x / 127.5 - 1
    c = batch[4]  # sub/c.png, exact size, blue
    np.testing.assert_allclose(c[:, 5, 5], np.array([10, 10, 200]) / 127.5 - 1, atol=1e-6)
    assert float(batch.min()) >= -1.0 and float(batch.max()) <= 1.0


def test_batch_size_is_clamped(folder: Path) -> None:
    images = list_images(folder)
    assert CalibrationBatches(images, _io(np.uint8, "NHWC"), batch_size=64).batch_size == 5
    assert CalibrationBatches(images, _io(np.uint8, "NHWC", max_batch=1), 4).batch_size == 1
    with pytest.raises(BackendError, match=">= 1"):
        CalibrationBatches(images, _io(np.uint8, "NHWC"), batch_size=0)
    with pytest.raises(BackendError, match="no calibration images"):
        CalibrationBatches([], _io(np.uint8, "NHWC"), batch_size=1)


def test_unreadable_image_is_an_error(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    _write(d, "ok.png", _flat(8, 8, (1, 1, 1)))
    (d / "broken.png").write_bytes(b"\x89PNG not really")
    batches = CalibrationBatches(list_images(d), _io(np.uint8, "NHWC"), batch_size=1)
    with pytest.raises(BackendError, match="cannot read calibration image"):
        list(batches)


def test_onnx_model_io_of_the_shipped_models(logits_model: Path) -> None:
    ids = onnx_model_io(MODELS / EMBEDDED_MODEL_NAME)
    assert ids.layout is InputLayout.NHWC and ids.takes_uint8
    assert ids.output_kind is OutputKind.CLASS_IDS and (ids.height, ids.width) == (544, 960)
    logits = onnx_model_io(logits_model)
    assert logits.layout is InputLayout.NCHW and logits.output_kind is OutputKind.LOGITS_NCHW


def test_from_folder_reads_the_model(folder: Path) -> None:
    batches = CalibrationBatches.from_folder(folder, MODELS / EMBEDDED_MODEL_NAME, 2)
    assert batches.batch_shape == (2, 544, 960, 3)
    first = next(iter(batches))
    assert first.shape == (2, 544, 960, 3) and first.dtype == np.uint8


@pytest.mark.gpu
def test_entropy_calibrator_feeds_every_batch_and_caches(folder: Path, tmp_path: Path) -> None:
    ok, why = tensorrt_available()
    if not ok:
        pytest.skip(f"needs TensorRT + pycuda + a GPU: {why}")
    import pycuda.driver as cuda
    import tensorrt as trt

    from peoplesemseg_ros.core.backends.trt_runtime import CudaContext

    if not hasattr(trt, "IInt8EntropyCalibrator2"):
        pytest.skip(f"TensorRT {trt.__version__} has no implicit INT8 calibration")
    batches = CalibrationBatches(list_images(folder), _io(np.uint8, "NHWC"), batch_size=2)
    cache = tmp_path / "model.calib"
    ctx = CudaContext(cuda, 0)
    try:
        with ctx.active():
            calibrator = create_entropy_calibrator(batches, cache)
            assert calibrator.get_batch_size() == 2
            assert calibrator.read_calibration_cache() is None
            pointers = [calibrator.get_batch(["x"]) for _ in range(len(batches))]
            assert all(p is not None and len(p) == 1 and p[0] > 0 for p in pointers)
            assert calibrator.get_batch(["x"]) is None and calibrator.batches_fed == 2
            calibrator.write_calibration_cache(b"TRT-8601-EntropyCalibration2\n")
            assert calibrator.read_calibration_cache() == cache.read_bytes()
            calibrator.free()
    finally:
        ctx.release()
