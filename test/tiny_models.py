"""Tiny ONNX graphs with exact, known answers: "red pixels are people".

A pixel is a person iff ``R - G > threshold`` (in the model's input units).
Every supported I/O form can be generated, plus unsupported ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["RED", "make_model", "make_unsupported_model", "read_png", "red_person_truth"]

RED = (220, 30, 30)

_DT = {"uint8": TensorProto.UINT8, "float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16,
       "int32": TensorProto.INT32, "int64": TensorProto.INT64}


def read_png(path: Path, flags: int = -1) -> np.ndarray:
    """cv2.imread that fails loudly (IMREAD_UNCHANGED by default)."""
    import cv2

    img = cv2.imread(str(path), flags)
    assert img is not None, f"cannot read {path}"
    return np.asarray(img)


def red_person_truth(rgb: np.ndarray, threshold: float = 64) -> np.ndarray:
    """The reference answer in uint8 pixel units."""
    return (rgb[..., 0].astype(np.int32) - rgb[..., 1].astype(np.int32) > threshold)


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def make_model(path: Path, *, in_dtype: str = "uint8", layout: str = "NHWC",
               out: str = "ids", out_dtype: str = "uint8", height: int = 32, width: int = 48,
               batch: int | str = "N", threshold: float = 64.0, ids_4d: bool = False) -> Path:
    """out: ids | logits_nchw | logits_nhwc | sigmoid_nchw | sigmoid_nhwc."""
    nodes: list[onnx.NodeProto] = []
    if layout == "NHWC":
        in_shape = [batch, height, width, 3]
        axis = 3
    else:
        in_shape = [batch, 3, height, width]
        axis = 1
    nodes.append(helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT))
    for ch, name in ((0, "r"), (1, "g")):
        nodes += [
            _const(f"{name}_s", np.array([ch], np.int64)),
            _const(f"{name}_e", np.array([ch + 1], np.int64)),
            _const(f"{name}_a", np.array([axis], np.int64)),
            helper.make_node("Slice", ["xf", f"{name}_s", f"{name}_e", f"{name}_a"], [name]),
        ]
    nodes += [
        _const("thr", np.array(threshold, np.float32)),
        helper.make_node("Sub", ["r", "g"], ["d0"]),
        helper.make_node("Sub", ["d0", "thr"], ["d"]),  # > 0 means person; 1 channel on `axis`
    ]
    odt = _DT[out_dtype]
    if out == "ids":
        nodes += [
            _const("zero", np.array(0.0, np.float32)),
            helper.make_node("Greater", ["d", "zero"], ["b"]),
            helper.make_node("Cast", ["b"], ["i4" if ids_4d or layout == "NCHW" else "i"],
                             to=odt),
        ]
        if layout == "NHWC":
            if ids_4d:  # NHWC [N,H,W,1] -> [N,1,H,W]
                nodes.append(helper.make_node("Transpose", ["i4"], ["y"], perm=[0, 3, 1, 2]))
            else:
                nodes += [_const("ax", np.array([3], np.int64)),
                          helper.make_node("Squeeze", ["i", "ax"], ["y"])]
            out_shape = [batch, 1, height, width] if ids_4d else [batch, height, width]
        elif ids_4d:
            nodes.append(helper.make_node("Identity", ["i4"], ["y"]))
            out_shape = [batch, 1, height, width]
        else:
            nodes += [_const("ax", np.array([1], np.int64)),
                      helper.make_node("Squeeze", ["i4", "ax"], ["y"])]
            out_shape = [batch, height, width]
    else:
        # Bring d to NCHW [N,1,H,W] or NHWC [N,H,W,1] as the output form asks.
        want_nchw = out.endswith("nchw")
        if want_nchw and layout == "NHWC":
            nodes.append(helper.make_node("Transpose", ["d"], ["dd"], perm=[0, 3, 1, 2]))
        elif not want_nchw and layout == "NCHW":
            nodes.append(helper.make_node("Transpose", ["d"], ["dd"], perm=[0, 2, 3, 1]))
        else:
            nodes.append(helper.make_node("Identity", ["d"], ["dd"]))
        cax = 1 if want_nchw else 3
        if out.startswith("logits"):
            nodes += [_const("zf", np.array(0.0, np.float32)),
                      helper.make_node("Mul", ["dd", "zf"], ["l0"]),
                      helper.make_node("Concat", ["l0", "dd"], ["yf"], axis=cax)]
            c = 2
        else:
            nodes.append(helper.make_node("Sigmoid", ["dd"], ["yf"]))
            c = 1
        nodes.append(helper.make_node("Cast", ["yf"], ["y"], to=odt))
        out_shape = [batch, c, height, width] if want_nchw else [batch, height, width, c]
    graph = helper.make_graph(
        nodes, "red_people",
        [helper.make_tensor_value_info("x", _DT[in_dtype], in_shape)],
        [helper.make_tensor_value_info("y", odt, out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_unsupported_model(path: Path) -> Path:
    """float [N,5] -> float [N,5]: no image I/O at all."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "vector",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
