"""The committed models: shipped as package data, load through the node's backend,
segment people in held-out val images, INT8 agrees with fp32, and the fast model
runs in the live node when chosen by the `model` parameter."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from peoplesemseg_ros.cli.evaluate import Confusion, EvalItem, pairs_from_split
from peoplesemseg_ros.core.pipeline import (
    EMBEDDED_MODELS,
    Pipeline,
    PipelineConfig,
    embedded_model_path,
)

# Person IoU each fp32 model must reach on large-person CCP val images (full figures in
# peoplesemseg_ros/models/MODEL.md), and the pixel agreement of each INT8 file with it.
MIN_PERSON_IOU = {"default": 0.75, "fast": 0.70}
MIN_INT8_AGREEMENT = 0.96  # per image; and 0.975 on average
MEAN_INT8_AGREEMENT = 0.975
INPUTS = {"default": [544, 960, 3], "default_single": [544, 960, 3], "fast": [144, 256, 3]}
RESIZE = {"default": "letterbox", "default_single": "letterbox", "fast": "stretch"}
# the default runs with test-time flip inside the graph (MODEL.md); the others do not
FLIP = {"default": "1", "default_single": "0", "fast": "0"}


@pytest.mark.parametrize("name", sorted(EMBEDDED_MODELS))
def test_embedded_models_are_small_and_have_the_deploy_contract(name: str) -> None:
    import onnxruntime as ort

    path = embedded_model_path(name)
    assert path.stat().st_size <= 4 * 1024 * 1024
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    family = name.removesuffix("_int8")
    assert inp.type == "tensor(uint8)" and inp.shape[1:] == INPUTS[family]
    assert out.type == "tensor(uint8)" and out.shape[1:] == INPUTS[family][:2]
    assert not isinstance(inp.shape[0], int)  # dynamic batch
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["resize_mode"] == RESIZE[family], meta
    assert meta.get("test_time_flip", "0") == FLIP[family], meta


def _ccp_items(shared_data: Path, n: int = 6) -> list[EvalItem]:
    items = [i for i in pairs_from_split(shared_data / "train" / "splits" / "val.txt")
             if i.image.parent.parent.name == "ccp"][:n]
    assert items, "no ccp images in the val split"
    return items


def _read(item: EvalItem) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    bgr = cv2.imread(str(item.image))
    truth = cv2.imread(str(item.mask), cv2.IMREAD_UNCHANGED)
    assert bgr is not None and truth is not None, item
    return (np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)),
            np.asarray(truth, np.uint8))


@pytest.mark.parametrize("name", sorted(MIN_PERSON_IOU))
def test_embedded_models_segment_people_and_int8_agrees(shared_data: Path, name: str) -> None:
    conf = Confusion()
    agree: list[float] = []
    with Pipeline(PipelineConfig(backend="onnxruntime", model=name)) as fp32, \
            Pipeline(PipelineConfig(backend="onnxruntime", model=f"{name}_int8")) as int8:
        for item in _ccp_items(shared_data):
            rgb, truth = _read(item)
            (mask,) = fp32.segment([rgb])
            (qmask,) = int8.segment([rgb])
            assert mask.shape == truth.shape and set(np.unique(mask)) <= {0, 255}
            conf.add(mask, truth)
            agree.append(float((mask == qmask).mean()))
    iou = conf.metrics()["iou_person"]
    assert iou >= MIN_PERSON_IOU[name], f"{name}: person IoU {iou:.3f} < {MIN_PERSON_IOU[name]}"
    assert min(agree) >= MIN_INT8_AGREEMENT, f"{name}: INT8 agreement {agree}"
    assert float(np.mean(agree)) >= MEAN_INT8_AGREEMENT, f"{name}: INT8 agreement {agree}"


def test_model_parameter_offers_every_embedded_model() -> None:
    from peoplesemseg_ros.params import SPECS

    assert set(SPECS["model"].choices or ()) == set(EMBEDDED_MODELS)


def test_default_single_is_the_default_network_in_one_pass(shared_data: Path) -> None:
    """The single-pass file holds the default's weights: it segments people as well and
    differs from the flip-averaged default only near the person boundaries."""
    conf = Confusion()
    agree: list[float] = []
    with Pipeline(PipelineConfig(backend="onnxruntime", model="default")) as flip, \
            Pipeline(PipelineConfig(backend="onnxruntime", model="default_single")) as single:
        for item in _ccp_items(shared_data):
            rgb, truth = _read(item)
            (mask,) = single.segment([rgb])
            (fmask,) = flip.segment([rgb])
            conf.add(mask, truth)
            agree.append(float((mask == fmask).mean()))
    assert conf.metrics()["iou_person"] >= MIN_PERSON_IOU["default"]
    assert min(agree) >= 0.97 and float(np.mean(agree)) >= 0.985, agree


def test_wheel_ships_the_models(tmp_path: Path, repo_root: Path) -> None:
    """A non-editable install gets every model through package data."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(repo_root)], check=True,
                   cwd=tmp_path, timeout=240)
    (wheel,) = tmp_path.glob("peoplesemseg_ros-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for file in EMBEDDED_MODELS.values():
        assert f"peoplesemseg_ros/models/{file}" in names
    assert "peoplesemseg_ros/models/MODEL.md" in names
    assert "peoplesemseg_ros/py.typed" in names
    assert any(n.endswith("share/peoplesemseg_ros/launch/peoplesemseg.launch.py")
               for n in names)


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    from ros_helpers import Client

    c = Client("fast_model_client")
    yield c
    c.close()


@pytest.mark.timeout(180)
def test_fast_model_in_the_live_node(shared_data: Path, tmp_path: Path, client: object) -> None:
    """`model:=fast` over real DDS: a real photo in, its person out at the input's size."""
    from ros_helpers import make_image, node_process, wait_for
    from sensor_msgs.msg import Image

    item = _ccp_items(shared_data, 1)[0]
    rgb, truth = _read(item)
    c = client
    pub = c.publisher("/fast/image", Image)  # type: ignore[attr-defined]
    c.subscribe("/fast/mask", Image)  # type: ignore[attr-defined]
    with node_process(tmp_path, "model:=fast", "backend:=onnxruntime",
                      "qos.reliability:=reliable", remaps=("image:=/fast/image",
                                                          "mask:=/fast/mask"),
                      name="seg_fast") as proc:
        msg = make_image(rgb, sec=7)
        wait_for(lambda: bool(c.messages("/fast/mask")), 90,  # type: ignore[attr-defined]
                 "a mask from the fast model", every=lambda: pub.publish(msg))
        wait_for(lambda: "peoplesemseg_fast.onnx@" in c.diag_of("seg_fast").get(  # type: ignore[attr-defined]
            "model_id", ""), 30, "diagnostics naming the fast model")
    assert proc.returncode == 0, proc.log_path.read_text()  # type: ignore[attr-defined]
    out = c.messages("/fast/mask")[0]  # type: ignore[attr-defined]
    assert (out.height, out.width, out.header.stamp.sec) == (*truth.shape, 7)
    mask = np.frombuffer(bytes(out.data), np.uint8).reshape(truth.shape)
    conf = Confusion()
    conf.add(mask, truth)
    assert conf.metrics()["iou_person"] >= 0.6
