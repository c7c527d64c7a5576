"""`peoplesemseg demo` end to end: node subprocess, DDS, masks and overlays on disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_models import make_model, read_png

from peoplesemseg_ros.cli.demo import sample_frames
from peoplesemseg_ros.core.pipeline import EMBEDDED_MODEL_NAME

pytestmark = pytest.mark.timeout(240)
CLI = [sys.executable, "-m", "peoplesemseg_ros.cli", "demo"]


def test_sample_ships_with_its_licence() -> None:
    frames = sample_frames()
    assert len(frames) == 16
    assert (frames[0].parent / "LICENSE_AND_SOURCE.txt").is_file()
    assert sum(f.stat().st_size for f in frames) < 4 * 2**20


def test_demo_runs_the_live_node(tmp_path: Path) -> None:
    model = make_model(tmp_path / "red.onnx", height=544, width=960)
    out = tmp_path / "demo_output"
    proc = subprocess.run([*CLI, "--out", str(out), "--model", str(model)], capture_output=True,
                          text=True, timeout=200, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "16 frames in, 16 masks out (16 overlays)" in proc.stdout
    assert "latency mean" in proc.stdout and "red.onnx@" in proc.stdout
    masks = sorted((out / "masks").glob("*.png"))
    assert [m.stem for m in masks] == [f.stem for f in sample_frames()]
    m = read_png(masks[0])
    assert m.shape == (576, 768) and m.dtype.name == "uint8"
    ov = read_png(out / "overlays" / masks[0].name)
    assert ov.shape == (576, 768, 3)


def test_demo_with_missing_model_fails_fast(tmp_path: Path) -> None:
    proc = subprocess.run([*CLI, "--out", str(tmp_path / "o"), "--model",
                           str(tmp_path / "missing.onnx")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2 and "missing.onnx" in proc.stderr


def test_demo_with_the_embedded_model_finds_people(tmp_path: Path, repo_root: Path) -> None:
    if not (repo_root / "peoplesemseg_ros" / "models" / EMBEDDED_MODEL_NAME).is_file():
        pytest.skip("the embedded model is not committed yet")
    out = tmp_path / "demo_output"
    proc = subprocess.run([*CLI, "--out", str(out)], capture_output=True, text=True,
                          timeout=220, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    masks = [read_png(p) for p in (out / "masks").glob("*.png")]
    assert len(masks) == 16
    # vtest shows several walking people in every frame
    assert sum(bool(np.any(m > 0)) for m in masks) >= 12
