"""Model variants derived from an exported ONNX file, without torch.

:func:`logits_from_ids` cuts the float-NCHW-in / logits-out variant (for
TensorRT INT8 calibration and NVIDIA-style pipelines) out of the shipped ids
model: the subgraph from the float cast of the uint8 input to the logits that
feed the class decision. Its input is RGB NCHW float in 0..255 (normalization
stays in the graph); its output ``logits`` is ``[N,2,H,W]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["cut_logits", "logits_from_ids"]


def cut_logits(ids_model: Path, *, normalized: bool = False) -> Any:
    """The logits subgraph of an exported ids model as an ``onnx.ModelProto``.

    Its input is the float NCHW image in 0..255, or with ``normalized`` the
    image after the in-graph normalization (``(x - mean) * inv_std``).
    """
    import onnx
    from onnx.utils import Extractor

    proto = onnx.load(str(ids_model))
    graph = proto.graph
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    try:
        transpose = next(n for n in consumers[graph.input[0].name] if n.op_type == "Transpose")
        cast = next(n for n in consumers[transpose.output[0]] if n.op_type == "Cast")
        start = cast.output[0]
        if normalized:
            start = next(n.output[0] for n in graph.node if "norm.inv_std" in n.input)
        greater = producers[graph.output[0].name]
        while greater.op_type != "Greater":
            greater = producers[greater.input[0]]
        logits = producers[greater.input[0]].input[0]  # Gather(logits, class) > Gather(...)
    except (StopIteration, KeyError) as exc:
        raise ValueError(f"{ids_model} is not an ids model made by `peoplesemseg export` "
                         f"(no Transpose/Cast input or Greater decision: {exc})") from exc
    inferred = onnx.shape_inference.infer_shapes(proto)  # Extractor needs value_info
    sub = Extractor(inferred).extract_model([start], [logits])
    rename = {start: "input", logits: "logits"}
    for node in sub.graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    h, w = (d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:3])
    del sub.graph.input[:]
    del sub.graph.output[:]
    sub.graph.input.append(onnx.helper.make_tensor_value_info(
        "input", onnx.TensorProto.FLOAT, ["N", 3, h, w]))
    sub.graph.output.append(onnx.helper.make_tensor_value_info(
        "logits", onnx.TensorProto.FLOAT, ["N", 2, h, w]))
    del sub.graph.value_info[:]  # only the extractor needed them
    del sub.opset_import[:]
    sub.opset_import.extend(proto.opset_import)
    for entry in proto.metadata_props:
        item = sub.metadata_props.add()
        item.key, item.value = entry.key, "logits" if entry.key == "variant" else entry.value
    onnx.checker.check_model(sub)
    return sub


def logits_from_ids(ids_model: Path, out: Path) -> Path:
    """Write the float-NCHW-in (0..255) / logits-out variant of ``ids_model`` to ``out``."""
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(cut_logits(ids_model), str(out))
    return out
