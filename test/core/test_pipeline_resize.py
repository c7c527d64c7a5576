"""resize_mode auto: the model's metadata decides (our fast model asks for stretch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from tiny_models import RED, make_model

from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig


def _with_metadata(path: Path, **props: str) -> Path:
    proto = onnx.load(str(path))
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize(("meta", "asked", "used"), [
    ({}, "auto", "letterbox"),
    ({"resize_mode": "stretch"}, "auto", "stretch"),
    ({"resize_mode": "stretch"}, "letterbox", "letterbox"),
    ({"resize_mode": "squash"}, "auto", "letterbox"),  # an unknown wish is not followed
])
def test_auto_follows_the_model_metadata(tmp_path: Path, meta: dict[str, str], asked: str,
                                         used: str) -> None:
    model = _with_metadata(make_model(tmp_path / "m.onnx", height=48, width=96), **meta)
    # a 4:3 frame whose left quarter is "person": letterbox pads it, stretch fills the input
    frame = np.full((96, 128, 3), 90, np.uint8)
    frame[:, :32] = RED
    with Pipeline(PipelineConfig(model_path=model, backend="onnxruntime",
                                 resize_mode=asked)) as pipe:
        assert pipe.resize_mode == used
        (mask,) = pipe.segment([frame])
    person = mask[:, :32] == 255
    assert person.mean() > 0.9 and (mask[:, 40:] == 0).mean() > 0.95
