"""`peoplesemseg infer`: exact masks from a generated model, errors that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from tiny_models import RED, make_model, read_png, red_person_truth

from peoplesemseg_ros.cli import main


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model(tmp_path / "red.onnx", height=544, width=960)


def _write(path: Path, h: int, w: int) -> np.ndarray:
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[h // 4: h // 2, w // 5: w // 2] = RED
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return rgb


def test_one_mask_per_image_named_by_stem(tmp_path: Path, model: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path / "a.png", 544, 960)
    b = _write(tmp_path / "b.png", 300, 700)
    out = tmp_path / "out"
    code = main(["infer", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--out", str(out),
                 "--model", str(model), "--backend", "onnxruntime", "--overlay-dir",
                 str(tmp_path / "ov")])
    assert code == 0
    assert "2/2 masks written" in capsys.readouterr().out
    ma = read_png(out / "a.png")
    assert ma.dtype == np.uint8 and ma.ndim == 2
    np.testing.assert_array_equal(ma, red_person_truth(a).astype(np.uint8) * 255)
    mb = read_png(out / "b.png")
    assert mb.shape == (300, 700) and set(np.unique(mb).tolist()) == {0, 255}
    assert ((mb > 0) != red_person_truth(b)).sum() < 0.01 * mb.size
    assert (tmp_path / "ov" / "b.png").is_file()


def test_params_file_and_flags(tmp_path: Path, model: Path) -> None:
    _write(tmp_path / "a.png", 100, 100)
    params = tmp_path / "p.yaml"
    params.write_text(f"/**:\n  ros__parameters:\n    model_path: {model}\n    mask_value: 9\n")
    assert main(["infer", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--params",
                 str(params)]) == 0
    assert set(np.unique(read_png(tmp_path / "o" / "a.png", 0)).tolist()) == {0, 9}
    assert main(["infer", str(tmp_path / "a.png"), "--out", str(tmp_path / "o2"), "--params",
                 str(params), "--mask-value", "200"]) == 0
    assert set(np.unique(read_png(tmp_path / "o2" / "a.png", 0)).tolist()) == {0, 200}


def test_errors(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "a.png", 50, 50)
    (tmp_path / "x").mkdir()
    _write(tmp_path / "x" / "a.png", 50, 50)
    out = str(tmp_path / "o")
    assert main(["infer", str(tmp_path / "a.png"), str(tmp_path / "x" / "a.png"), "--out", out,
                 "--model", str(model)]) == 2
    assert "share the stem" in capsys.readouterr().err
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert main(["infer", str(tmp_path / "broken.jpg"), str(tmp_path / "a.png"), "--out", out,
                 "--model", str(model)]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert (tmp_path / "o" / "a.png").is_file()
    assert main(["infer", str(tmp_path / "a.png"), "--out", out, "--model",
                 str(tmp_path / "nope.onnx")]) == 2
    assert "nope.onnx" in capsys.readouterr().err
