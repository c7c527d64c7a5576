"""A short soak in CI: the live node over real DDS, thousands of good and bad frames.

``peoplesemseg soak`` runs as a user would run it (console script, JSON out)
against a tiny exact model with the frame size as its input size, so every mask
can be checked pixel by pixel. Asserted: no good frame lost with reliable QoS,
no wrong or stale mask, every bad frame rejected and counted under its reason
(nothing dropped), the node exits 0 without a traceback, RSS grows less than
RSS_GROWTH_MB after the warm-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import make_model

from peoplesemseg_ros.testing import faults

pytestmark = pytest.mark.timeout(240)

FRAMES = 8000
RSS_GROWTH_MB = 25.0


def test_short_soak_loses_nothing_and_counts_every_bad_frame(tmp_path: Path) -> None:
    model = make_model(tmp_path / "red.onnx", height=48, width=64)
    out = tmp_path / "soak.json"
    cmd = [sys.executable, "-m", "peoplesemseg_ros.cli", "soak", "--minutes", "3",
           "--frames", str(FRAMES), "--bad-ratio", "0.1", "--model", str(model),
           "--verify", "red", "--width", "64", "--height", "48", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=230, check=False)
    assert out.is_file(), proc.stderr[-3000:]
    report = json.loads(out.read_text())
    print("\n" + report["summary"])
    frames, node = report["frames"], report["node"]
    assert frames["sent"] == FRAMES, report["summary"]
    assert frames["lost_good"] == 0 and frames["wrong_masks"] == 0
    assert frames["unexpected_masks"] == 0
    assert frames["masks_received"] == frames["good_sent"] > 0
    assert set(frames["bad_sent"]) == set(faults.BAD_RAW_REASONS)
    assert node["rejected"] == frames["bad_sent"] and node["dropped"] == 0
    assert node["frames_in"] == FRAMES and node["frames_out"] == frames["good_sent"]
    assert node["errors"] == {}
    assert node["exit_code"] == 0 and not node["traceback"]
    assert report["rss"]["growth_mb"] < RSS_GROWTH_MB, report["rss"]
    assert all(not s["lost"] for s in report["stalls"])
    assert report["ok"] and proc.returncode == 0, proc.stderr[-3000:]
