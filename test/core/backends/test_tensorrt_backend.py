"""TensorRT backend: CPU-side behaviour here, engine builds and accuracy on a GPU (marked gpu).

Without TensorRT / pycuda / a GPU this checks what a CPU-only robot sees (the
fallback, the error messages, the build-engine CLI), the pure I/O mapping, the
precision rules and the FP16 ONNX conversion used on TensorRT >= 11. The ``gpu``
tests build real engines from the embedded model and compare with ONNX Runtime.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from peoplesemseg_ros.bench.timing import bench_backend
from peoplesemseg_ros.cli import main as cli_main
from peoplesemseg_ros.core.backends import (
    BackendOptions,
    BackendUnavailableError,
    InputLayout,
    OutputKind,
    TensorInfo,
    UnsupportedModelError,
    classify_io,
    create_backend,
    select_backend,
)
from peoplesemseg_ros.core.backends.engine import (
    OnnxInput,
    fast_precisions_from_cc,
    fp16_onnx_bytes,
    onnx_input,
    parse_hint,
    qdq_problems,
    qdq_required_message,
    resolve_precision,
)
from peoplesemseg_ros.core.backends.tensorrt import (
    TensorRTBackend,
    TrtTensor,
    classify_trt_io,
    dims_tuple,
    numpy_dtype,
    tensor_info,
    tensorrt_available,
    trt_version_tuple,
)
from peoplesemseg_ros.core.backends.trt_runtime import _trt_module_problem
from peoplesemseg_ros.core.pipeline import EMBEDDED_MODEL_NAME

MODELS = Path(__file__).resolve().parents[3] / "peoplesemseg_ros" / "models"
EMBEDDED = MODELS / EMBEDDED_MODEL_NAME
U8, F32, F16, I32, I64 = (np.dtype(t) for t in (np.uint8, np.float32, np.float16, np.int32,
                                                 np.int64))

TRT_OK, TRT_WHY = tensorrt_available()
needs_gpu = pytest.mark.skipif(not TRT_OK, reason=f"needs TensorRT + pycuda + a GPU: {TRT_WHY}")
no_gpu_here = pytest.mark.skipif(TRT_OK, reason="TensorRT is usable here")


# -- availability and fallback (what a CPU-only robot sees) -----------------------------------

@no_gpu_here
def test_tensorrt_available_says_why_not() -> None:
    ok, why = tensorrt_available()
    assert ok is False
    assert any(w in why for w in ("tensorrt", "TensorRT", "pycuda", "CUDA", "GPU")), why


@no_gpu_here
def test_auto_falls_back_to_onnxruntime_with_the_reason() -> None:
    name, why = select_backend("auto")
    assert name == "onnxruntime"
    assert TRT_WHY in why
    import onnxruntime as ort

    on_gpu = "CUDAExecutionProvider" in ort.get_available_providers()
    assert ("CUDA execution provider (GPU)" in why) is on_gpu
    assert ("ONNX Runtime on CPU" in why) is not on_gpu


@no_gpu_here
def test_explicit_tensorrt_is_unavailable_with_a_clear_message() -> None:
    with pytest.raises(BackendUnavailableError) as err:
        create_backend("tensorrt", EMBEDDED)
    msg = str(err.value)
    assert "tensorrt" in msg and TRT_WHY in msg and "onnxruntime" in msg
    with pytest.raises(BackendUnavailableError):
        TensorRTBackend(EMBEDDED, BackendOptions(precision="fp16"))


@no_gpu_here
def test_build_engine_cli_fails_clearly(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    code = cli_main(["build-engine", str(EMBEDDED), "--precision", "fp16", "--cache-dir",
                     str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert "TensorRT is not usable here" in err and "docs/tensorrt.md" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None,
                    reason="a tensorrt package is installed here")
def test_stub_only_tensorrt_folder_is_not_taken_for_tensorrt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tensorrt-stubs installs site-packages/tensorrt/__init__.pyi: a namespace package.
    (tmp_path / "tensorrt").mkdir()
    (tmp_path / "tensorrt" / "__init__.pyi").write_text("__version__: str\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    try:
        ok, why = tensorrt_available()
    finally:
        sys.modules.pop("tensorrt", None)  # do not leave the bare namespace package imported
    assert ok is False and "stubs" in why


def test_trt_module_checks() -> None:
    assert _trt_module_problem(types.SimpleNamespace(__version__="10.13.0.35",
                                                     Runtime=object)) is None  # type: ignore[arg-type]
    old = _trt_module_problem(types.SimpleNamespace(__version__="8.5.3.1",
                                                    Runtime=object))  # type: ignore[arg-type]
    assert old is not None and "8.6" in old
    bare = _trt_module_problem(types.ModuleType("tensorrt"))
    assert bare is not None and "not the TensorRT runtime" in bare


@pytest.mark.parametrize("text,expected", [
    ("10.13.0.35", (10, 13, 0, 35)), ("8.6.1.post1", (8, 6, 1)), ("11.4.0.106", (11, 4, 0, 106)),
    ("10.14.1.48.post1", (10, 14, 1, 48)), ("", ()),
])
def test_trt_version_tuple(text: str, expected: tuple[int, ...]) -> None:
    assert trt_version_tuple(text) == expected


# -- engine I/O -> ModelIO (same forms and messages as ONNX Runtime) ---------------------------

IO_FORMS = [
    # input (shape, dtype), output (shape, dtype), layout, kind
    ((-1, 544, 960, 3), U8, (-1, 544, 960), U8, InputLayout.NHWC, OutputKind.CLASS_IDS),
    ((-1, 3, 544, 960), F32, (-1, 2, 544, 960), F32, InputLayout.NCHW, OutputKind.LOGITS_NCHW),
    ((-1, 544, 960, 3), F32, (-1, 544, 960, 2), F32, InputLayout.NHWC, OutputKind.LOGITS_NHWC),
    ((4, 3, 544, 960), F16, (4, 2, 544, 960), F16, InputLayout.NCHW, OutputKind.LOGITS_NCHW),
    ((-1, 3, 544, 960), F32, (-1, 1, 544, 960), I32, InputLayout.NCHW, OutputKind.CLASS_IDS),
    ((-1, 3, 544, 960), F32, (-1, 544, 960), I64, InputLayout.NCHW, OutputKind.CLASS_IDS),
    ((-1, 3, 544, 960), F32, (-1, 1, 544, 960), F32, InputLayout.NCHW, OutputKind.SIGMOID_NCHW),
    ((-1, 544, 960, 3), F16, (-1, 544, 960, 1), F16, InputLayout.NHWC, OutputKind.SIGMOID_NHWC),
]


@pytest.mark.parametrize("in_shape,in_dt,out_shape,out_dt,layout,kind", IO_FORMS)
def test_engine_io_forms_classify_like_onnx(in_shape: tuple[int, ...], in_dt: np.dtype,
                                            out_shape: tuple[int, ...], out_dt: np.dtype,
                                            layout: InputLayout, kind: OutputKind) -> None:
    io = classify_trt_io([TrtTensor("in", True, in_shape, in_dt),
                          TrtTensor("out", False, out_shape, out_dt)])
    assert io.layout is layout and io.output_kind is kind
    assert (io.height, io.width) == (544, 960)
    assert io.max_batch == (None if in_shape[0] == -1 else in_shape[0])
    onnx_like = classify_io([TensorInfo("in", tuple(None if d < 0 else d for d in in_shape),
                                        in_dt)],
                            [TensorInfo("out", tuple(None if d < 0 else d for d in out_shape),
                                        out_dt)])
    assert io == onnx_like


def test_extra_outputs_are_allowed_and_the_first_one_is_used() -> None:
    io = classify_trt_io([TrtTensor("probs", False, (-1, 2, 8, 8), F32),
                          TrtTensor("x", True, (-1, 3, 8, 8), F32),
                          TrtTensor("aux", False, (-1, 8), F32)])
    assert io.input.name == "x" and io.output.name == "probs"


@pytest.mark.parametrize("tensors", [
    [TrtTensor("a", True, (-1, 3, 8, 8), F32), TrtTensor("b", True, (-1, 3, 8, 8), F32),
     TrtTensor("o", False, (-1, 2, 8, 8), F32)],
    [TrtTensor("x", True, (-1, 3, -1, -1), F32), TrtTensor("o", False, (-1, 2, -1, -1), F32)],
    [TrtTensor("x", True, (-1, 3, 8, 8), U8), TrtTensor("o", False, (-1, 2, 8, 8), F32)],
    [TrtTensor("x", True, (-1, 3, 8, 8), F32), TrtTensor("o", False, (-1, 5, 8, 8), F32)],
])
def test_unsupported_engine_io_gives_the_onnx_runtime_message(tensors: list[TrtTensor]) -> None:
    with pytest.raises(UnsupportedModelError) as trt_err:
        classify_trt_io(tensors)
    with pytest.raises(UnsupportedModelError) as onnx_err:
        classify_io([tensor_info(t.name, t.shape, t.dtype) for t in tensors if t.is_input],
                    [tensor_info(t.name, t.shape, t.dtype) for t in tensors if not t.is_input])
    assert str(trt_err.value) == str(onnx_err.value)
    assert "unsupported model I/O" in str(trt_err.value)


def test_tensor_info_dims_and_dtypes() -> None:
    info = tensor_info("image", (-1, 544, 960, 3), U8)
    assert info.shape == (None, 544, 960, 3) and str(info) == "image: uint8[?,544,960,3]"
    assert dims_tuple([2, 3, -1]) == (2, 3, -1)

    def nptype(dt: object) -> type:  # the shape of trt.nptype: raises TypeError on BF16 / FP8
        table: dict[object, type] = {"HALF": np.float16, "UINT8": np.uint8}
        if dt not in table:
            raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
        return table[dt]

    assert numpy_dtype(nptype, "HALF", "x") == F16
    with pytest.raises(UnsupportedModelError, match="'x' has TensorRT type BF16"):
        numpy_dtype(nptype, "BF16", "x")


# -- builder rules (pure) ------------------------------------------------------------------------

@pytest.mark.parametrize("cc,expected", [
    ((5, 2), (False, False)), ((5, 3), (True, False)), ((6, 0), (True, False)),
    ((6, 1), (False, True)), ((6, 2), (True, True)), ((7, 2), (True, True)),
    ((8, 7), (True, True)), ((9, 0), (True, True)),
])
def test_fast_precisions_from_compute_capability(cc: tuple[int, int],
                                                 expected: tuple[bool, bool]) -> None:
    assert fast_precisions_from_cc(cc) == expected


def test_precision_falls_back_to_fp32_with_a_reason() -> None:
    assert resolve_precision("fp16", True, True) == ("fp16", "")
    assert resolve_precision("int8", True, True) == ("int8", "")
    got, why = resolve_precision("fp16", False, True)
    assert got == "fp32" and "no fast FP16" in why
    got, why = resolve_precision("int8", True, False)
    assert got == "fp32" and "no fast INT8" in why
    assert resolve_precision("fp32", False, False) == ("fp32", "")
    with pytest.raises(Exception, match="precision must be one of"):
        resolve_precision("bf16", True, True)


def test_qdq_message_says_how_to_make_the_model() -> None:
    msg = qdq_required_message(EMBEDDED, "10.13.0.35")
    assert "QDQ" in msg and "peoplesemseg quantize" in msg and "10.13.0.35" in msg


def test_parse_hint_for_asymmetric_qdq() -> None:
    err = ("In node 3 (parseGraph): INVALID_NODE: Assertion failed: shiftIsAllZeros(zeroPoint) "
           "&& \"TensorRT only supports symmetric quantization. The zero point for the "
           "QuantizeLinear/DequantizeLinear operator must be all zeros.\"")
    assert "--target tensorrt" in parse_hint(err)
    assert parse_hint("Unsupported ONNX data type: BFLOAT16") == ""


def _qdq_model(path: Path, zp_dtype: type, zp: int) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "s"),
             numpy_helper.from_array(np.array(zp, zp_dtype), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q0"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq0")]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_qdq_problems_flags_what_tensorrt_rejects(tmp_path: Path) -> None:
    assert qdq_problems(_qdq_model(tmp_path / "s8.onnx", np.int8, 0)) == []
    u8 = qdq_problems(_qdq_model(tmp_path / "u8.onnx", np.uint8, 128))
    assert len(u8) == 2 and "uint8" in u8[0] and "'q0'" in u8[0]
    asym = qdq_problems(_qdq_model(tmp_path / "a8.onnx", np.int8, 3))
    assert len(asym) == 2 and "nonzero zero point" in asym[0]
    assert qdq_problems(EMBEDDED) == []  # float model: no Q/DQ at all


def test_onnx_input_of_the_embedded_models(logits_model: Path) -> None:
    assert onnx_input(EMBEDDED) == OnnxInput("image", (544, 960, 3), None)
    assert onnx_input(logits_model) == OnnxInput("input", (3, 544, 960), None)


def test_fp16_onnx_conversion_keeps_io_and_agrees(tmp_path: Path) -> None:
    """The FP16 graph TensorRT >= 11 builds (strongly typed), checked on ONNX Runtime CPU."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    data = fp16_onnx_bytes(EMBEDDED)
    path = tmp_path / "fp16.onnx"
    path.write_bytes(data)
    assert onnx_input(path) == OnnxInput("image", (544, 960, 3), None)
    x = np.random.default_rng(1).integers(0, 256, (1, 544, 960, 3), dtype=np.uint8)
    x[:, 100:400, 300:600] = (200, 60, 60)  # a flat region next to noise
    ref = ort.InferenceSession(str(EMBEDDED), providers=["CPUExecutionProvider"])
    half = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    a, b = ref.run(None, {"image": x})[0], half.run(None, {"image": x})[0]
    assert b.dtype == np.uint8 and b.shape == a.shape
    assert float((a == b).mean()) >= 0.995


# -- benchmark hook --------------------------------------------------------------------------

class _DoubleBackend:
    """A Backend test double: threshold on the red channel, with a fixed sleep."""

    name = "double"

    def __init__(self) -> None:
        self.io = classify_io([TensorInfo("image", (None, 8, 8, 3), U8)],
                              [TensorInfo("ids", (None, 8, 8), U8)])
        self.calls = 0

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        time.sleep(0.001)
        return (batch[..., 0] > 127).astype(np.uint8)

    def close(self) -> None:
        pass


def test_bench_backend_reports_latency_and_throughput() -> None:
    backend = _DoubleBackend()
    r = bench_backend(backend, batch=4, warmup=2, iters=10)
    assert backend.calls == 12
    assert r["backend"] == "double" and r["batch"] == 4 and r["iters"] == 10
    assert r["device"] is None
    backend.gpu_name = "NVIDIA Orin"  # type: ignore[attr-defined]
    assert bench_backend(backend, batch=1, warmup=0, iters=1)["device"] == "NVIDIA Orin"
    assert 1.0 <= r["latency_ms_p50"] <= r["latency_ms_p95"]
    assert 0 < r["throughput_fps"] <= 4 / 0.001
    with pytest.raises(ValueError):
        bench_backend(backend, batch=0)


# -- on a GPU --------------------------------------------------------------------------------

def _read(path: Path, flags: int | None = None) -> NDArray[np.uint8]:
    """An image file as uint8: RGB HxWx3, or the raw single channel with flags=grayscale."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR if flags is None else flags)
    assert img is not None, f"cannot read {path}"
    return np.ascontiguousarray(img[..., ::-1] if flags is None else img, dtype=np.uint8)


def _sample_batch(n: int) -> np.ndarray:
    from peoplesemseg_ros.core.preprocess import Preprocessor, resolve_spec

    stills = sorted((MODELS.parents[1].parent / "shared" / "data" / "samples" / "stills")
                    .glob("*.[jp][pn]g"))
    io = classify_trt_io([TrtTensor("image", True, (-1, 544, 960, 3), U8),
                          TrtTensor("class_ids", False, (-1, 544, 960), U8)])
    pre = Preprocessor(io, resolve_spec("auto", io), "letterbox", n)
    rng = np.random.default_rng(0)
    rgbs = [_read(p) for p in stills[:n]]
    while len(rgbs) < n:
        rgbs.append(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    batch, _ = pre.prepare(rgbs)
    return batch.copy()


def _ort_ids(model: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    out: np.ndarray = sess.run(None, {sess.get_inputs()[0].name: batch})[0]
    return out


@pytest.mark.gpu
@needs_gpu
def test_fp16_engine_agrees_with_onnxruntime_and_loads_from_cache(tmp_path: Path) -> None:
    opts = BackendOptions(precision="fp16", engine_cache_dir=tmp_path, max_batch=4)
    backend = TensorRTBackend(EMBEDDED, opts)
    try:
        assert backend.built and backend.capacity == 4 and backend.io.max_batch is None
        batch = _sample_batch(6)  # 6 > max_batch: split into 4 + 2
        ids = backend.infer(batch)
        ref = _ort_ids(EMBEDDED, batch)
        assert ids.shape == ref.shape == (6, 544, 960) and ids.dtype == np.uint8
        assert float((ids == ref).mean()) >= 0.995
        np.testing.assert_array_equal(backend.infer(batch[:1]), ids[:1])
    finally:
        backend.close()
    backend.close()  # idempotent
    t0 = time.perf_counter()
    again = TensorRTBackend(EMBEDDED, opts)
    elapsed = time.perf_counter() - t0
    try:
        assert not again.built
        assert elapsed < 1.0, f"second start took {elapsed:.2f} s"
    finally:
        again.close()


def _miou(pred: np.ndarray, truth: np.ndarray) -> float:
    valid = truth != 255
    ious = []
    for c in (0, 1):
        p, t = (pred == c) & valid, (truth == c) & valid
        union = np.logical_or(p, t).sum()
        if union:
            ious.append(np.logical_and(p, t).sum() / union)
    return float(np.mean(ious)) * 100


@pytest.mark.gpu
@pytest.mark.slow
@needs_gpu
def test_int8_engine_miou_within_one_point(tmp_path: Path, shared_data: Path) -> None:
    import cv2
    import tensorrt as trt

    from peoplesemseg_ros.core.preprocess import Preprocessor, compute_geometry, resolve_spec

    root = shared_data / "train"
    val = [root / line.strip() for line in (root / "splits" / "val.txt").read_text().split()]
    val = val[:: max(1, len(val) // 48)][:48]
    train = [root / line.strip() for line in (root / "splits" / "train.txt").read_text().split()]
    calib = tmp_path / "calib"
    calib.mkdir()
    for p in train[:: max(1, len(train) // 64)][:64]:
        (calib / f"{p.parent.parent.name}_{p.name}").symlink_to(p)
    model = EMBEDDED
    if trt_version_tuple(trt.__version__) >= (10,):
        # the shipped *_int8.onnx targets ONNX Runtime (uint8 activations): make the
        # symmetric TensorRT form here
        from peoplesemseg_ros.training.quantize import quantize_int8

        model = quantize_int8(EMBEDDED, tmp_path / "int8_qdq.onnx", sorted(calib.iterdir()),
                              target="tensorrt")
    backend = TensorRTBackend(model, BackendOptions(precision="int8", engine_cache_dir=tmp_path,
                                                    calib_images=calib, max_batch=4))
    try:
        io = backend.io
        pre = Preprocessor(io, resolve_spec("auto", io), "letterbox", 1)
        got, ref = [], []
        for img_path in val:
            rgb = _read(img_path)
            mask = _read(img_path.parent.parent / "masks" / (img_path.stem + ".png"),
                         cv2.IMREAD_GRAYSCALE)
            batch, _ = pre.prepare([rgb])
            g = compute_geometry(mask.shape[:2], (io.height, io.width), "letterbox")
            sl = (slice(g.top, g.top + g.inner_height), slice(g.left, g.left + g.inner_width))
            truth = cv2.resize(mask, (g.inner_width, g.inner_height),
                               interpolation=cv2.INTER_NEAREST)
            got.append(_miou(backend.infer(batch)[0][sl], truth))
            ref.append(_miou(_ort_ids(EMBEDDED, batch)[0][sl], truth))
    finally:
        backend.close()
    assert abs(float(np.mean(got)) - float(np.mean(ref))) <= 1.0, (np.mean(got), np.mean(ref))
