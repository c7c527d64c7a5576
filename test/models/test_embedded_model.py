"""The committed default model: shipped as package data, loads through the node's
backend, and segments people in held-out images of the shared val split."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from peoplesemseg_ros.cli.evaluate import Confusion, pairs_from_split
from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig, embedded_model_path

# Person IoU the embedded model must reach on the large-person CCP val images
# (the full val-split figures are in peoplesemseg_ros/models/MODEL.md).
MIN_PERSON_IOU = 0.70


def test_embedded_model_is_small_and_has_the_deploy_contract() -> None:
    import onnxruntime as ort

    path = embedded_model_path()
    assert path.is_file()
    assert path.stat().st_size <= 4 * 1024 * 1024
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert inp.type == "tensor(uint8)" and inp.shape[1:] == [544, 960, 3]
    assert out.type == "tensor(uint8)" and out.shape[1:] == [544, 960]
    assert not isinstance(inp.shape[0], int)  # dynamic batch


def test_embedded_model_segments_people(shared_data: Path) -> None:
    items = [i for i in pairs_from_split(shared_data / "train" / "splits" / "val.txt")
             if i.image.parent.parent.name == "ccp"][:6]
    assert items, "no ccp images in the val split"
    conf = Confusion()
    with Pipeline(PipelineConfig(backend="onnxruntime")) as pipeline:
        for item in items:
            bgr = cv2.imread(str(item.image))
            truth = cv2.imread(str(item.mask), cv2.IMREAD_UNCHANGED)
            assert bgr is not None and truth is not None, item
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            truth_u8: NDArray[np.uint8] = np.asarray(truth, np.uint8)
            (mask,) = pipeline.segment([np.ascontiguousarray(rgb)])
            assert mask.shape == truth_u8.shape and set(np.unique(mask)) <= {0, 255}
            conf.add(mask, truth_u8)
    iou = conf.metrics()["iou_person"]
    assert iou >= MIN_PERSON_IOU, f"person IoU {iou:.3f} < {MIN_PERSON_IOU}"


def test_wheel_ships_the_model(tmp_path: Path, repo_root: Path) -> None:
    """A non-editable install gets the model through package data."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(repo_root)], check=True,
                   cwd=tmp_path, timeout=240)
    (wheel,) = tmp_path.glob("peoplesemseg_ros-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "peoplesemseg_ros/models/peoplesemseg_shuffleseg.onnx" in names
    assert "peoplesemseg_ros/models/MODEL.md" in names
    assert "peoplesemseg_ros/py.typed" in names
    assert any(n.endswith("share/peoplesemseg_ros/launch/peoplesemseg.launch.py")
               for n in names)
