"""`peoplesemseg eval` on folders where the answer is known exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from tiny_models import RED, make_model

from peoplesemseg_ros.cli import main
from peoplesemseg_ros.cli.evaluate import Confusion, brightness_bucket, size_bucket


def _scene(folder: Path, masks: Path, name: str, box: tuple[int, int, int, int],
           shape: tuple[int, int] = (96, 144), bg: int = 100) -> np.ndarray:
    img = np.full((*shape, 3), bg, np.uint8)
    y0, y1, x0, x1 = box
    img[y0:y1, x0:x1] = RED
    truth = np.zeros(shape, np.uint8)
    truth[y0:y1, x0:x1] = 1
    cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(masks / f"{name}.png"), truth)
    return truth


def _run_eval(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["eval", "--no-progress", "--backend", "onnxruntime", *args]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return result


def test_perfect_model_scores_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model(tmp_path / "red.onnx", height=48, width=72)
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    _scene(images, masks, "a", (10, 80, 20, 60))
    _scene(images, masks, "b", (0, 96, 100, 140), bg=30)
    result = _run_eval(capsys, "--images", str(images), "--masks", str(masks),
                       "--model", str(model))
    assert result["images"] == 2
    assert result["iou_person"] == pytest.approx(1.0)
    assert result["miou"] == pytest.approx(1.0)
    assert set(result["by_brightness"]) == {"dark", "normal"}


def test_known_partial_iou(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ground truth twice the red area: person IoU is exactly 1/2."""
    model = make_model(tmp_path / "red.onnx", height=48, width=72)
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    _scene(images, masks, "a", (0, 96, 0, 36))
    truth = np.zeros((96, 144), np.uint8)
    truth[:, :72] = 1  # red covers only columns 0..35
    truth[:, 140:] = 255  # ignored columns count nowhere
    cv2.imwrite(str(masks / "a.png"), truth)
    result = _run_eval(capsys, "--images", str(images), "--masks", str(masks),
                       "--model", str(model))
    assert result["iou_person"] == pytest.approx(0.5)
    assert result["iou_background"] == pytest.approx(68 / 104)
    n_valid = 96 * 140
    assert result["pixel_acc"] == pytest.approx((n_valid - 96 * 36) / n_valid)


def test_confusion_and_buckets() -> None:
    c = Confusion()
    truth = np.array([[0, 1, 255], [1, 1, 0]], np.uint8)
    pred = np.array([[0, 255, 255], [0, 255, 255]], np.uint8)
    c.add(pred, truth)
    assert c.counts.tolist() == [[1, 1], [1, 2]]
    assert size_bucket(np.zeros((10, 10), np.uint8)) == "none"
    big = np.zeros((10, 10), np.uint8)
    big[:5] = 1
    assert size_bucket(big) == "large"
    tiny = np.zeros((100, 100), np.uint8)
    tiny[0, :10] = 1
    assert size_bucket(tiny) == "small"
    assert brightness_bucket(np.zeros((4, 4, 3), np.uint8)) == "dark"
    assert brightness_bucket(np.full((4, 4, 3), 250, np.uint8)) == "bright"


def test_missing_inputs_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="give --images"):
        main(["eval"])
    with pytest.raises(SystemExit, match="not a folder"):
        main(["eval", "--images", str(tmp_path / "nope"), "--masks", str(tmp_path)])


def test_shared_scores_val_and_dev_with_people_free_figure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--shared: val split + dev_unseen in one JSON; a red patch on a people-free image is a
    phantom (above 0.5 %), a clean one is not; --failures draws the worst first."""
    model = make_model(tmp_path / "red.onnx", height=48, width=72)
    shared = tmp_path / "shared"
    src = shared / "train" / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    (shared / "train" / "splits").mkdir()
    _scene(src / "images", src / "masks", "p", (10, 80, 20, 60))
    (shared / "train" / "splits" / "val.txt").write_text("src/images/p.png\n")
    dev = shared / "dev_unseen"
    (dev / "images").mkdir(parents=True)
    (dev / "masks").mkdir()
    _scene(dev / "images", dev / "masks", "person", (20, 90, 50, 80))
    for name, patch in (("wall", (40, 56, 60, 76)), ("clean", None)):
        img = np.full((96, 144, 3), 100, np.uint8)
        if patch:
            y0, y1, x0, x1 = patch
            img[y0:y1, x0:x1] = RED  # 256 px of 13,824: 1.85 % painted as person
        cv2.imwrite(str(dev / "images" / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(dev / "masks" / f"{name}.png"), np.zeros((96, 144), np.uint8))
    picture = tmp_path / "fail.png"
    result = _run_eval(capsys, "--shared", str(shared), "--model", str(model),
                       "--failures", str(picture))
    assert set(result) >= {"val", "dev_unseen", "mean_miou", "model"}
    assert result["val"]["images"] == 1 and result["dev_unseen"]["images"] == 3
    free = result["dev_unseen"]["people_free"]
    assert free["images"] == 2 and free["with_phantoms"] == 1
    assert free["mean_person_share"] == pytest.approx(256 / (96 * 144) / 2, rel=0.1)
    assert result["val"]["people_free"]["images"] == 0
    assert result["mean_miou"] == pytest.approx(
        (result["val"]["miou"] + result["dev_unseen"]["miou"]) / 2)
    drawn = cv2.imread(str(picture))
    assert drawn is not None and drawn.shape[1] == 4 * 240
    with pytest.raises(SystemExit, match=r"expected train/splits/val\.txt"):
        main(["eval", "--shared", str(tmp_path / "nowhere")])
