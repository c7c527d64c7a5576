"""`bench peers`: our pipeline against MediaPipe on the TFLite interpreter, same frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_models import make_model

pytest.importorskip("ai_edge_litert", reason="the MediaPipe peer runs on ai-edge-litert (dev)")

from peoplesemseg_ros.bench.peers import MediaPipePeer, PeerConfig, bench_peers
from peoplesemseg_ros.training.mediapipe_files import find_tflite


def test_peer_masks_people_at_camera_resolution() -> None:
    peer = MediaPipePeer(find_tflite("landscape"))
    assert (peer.height, peer.width) == (144, 256)
    blank = np.full((544, 960, 3), 128, np.uint8)
    (mask,) = peer.segment([blank])
    assert mask.shape == (544, 960) and set(np.unique(mask)) <= {0, 255}
    assert (mask == 0).mean() > 0.99  # a grey frame has nobody in it


def test_bench_peers_alternates_rounds_and_reports_ratios(tmp_path: Path) -> None:
    model = make_model(tmp_path / "red.onnx", height=144, width=256)
    cfg = PeerConfig(models=(("red", model),), peer_model=find_tflite("landscape"),
                     rounds=3, iters=2, warmup=1)
    report = bench_peers(cfg)
    results = report["results"]
    assert set(results) == {"red", "mediapipe_landscape_litert"}
    ours, peer = results["red"], results["mediapipe_landscape_litert"]
    assert ours["full_path"]["n"] == peer["full_path"]["n"] == 6
    assert ours["model"].startswith("red.onnx@")
    assert ours["peer_over_ours_p50"] > 0 and "quality" not in ours
    assert report["peer"]["input"] == "256x144"
