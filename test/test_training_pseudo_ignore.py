"""``peoplesemseg pseudo-ignore``: don't-care maps for people a source did not label."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")

from training_helpers import synthetic_dataset, train_args  # noqa: E402

from peoplesemseg_ros.training import pseudo_ignore  # noqa: E402
from peoplesemseg_ros.training import train as train_mod  # noqa: E402
from peoplesemseg_ros.training.pseudo_ignore import (  # noqa: E402
    RegionRule,
    unlabelled_regions,
)


def test_regions_away_from_labelled_people_only() -> None:
    mask = np.zeros((200, 300), np.uint8)
    mask[50:150, 20:60] = 1  # the labelled person
    gap = np.full((200, 300), -5.0, np.float32)
    gap[50:150, 20:60] = 4.0  # the labelled person, seen
    gap[50:150, 60:64] = 1.0  # a halo touching it: not an unlabelled person
    gap[100:130, 200:210] = 2.0  # a far, unlabelled person
    gap[10:14, 285:290] = 3.0  # a 20-px speck: below min_area (60 px here)
    gap[150:190, 120:130] = -0.5  # weak: below the threshold
    rule = RegionRule(threshold=0.0, clearance=0.03, min_area=1e-3, grow=2)
    out = unlabelled_regions(gap > rule.threshold, mask, rule)
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 1}
    assert out[100:130, 200:210].all()  # the far person
    assert out[98, 205] == 1 and out[95, 205] == 0  # grown by 2 px, no more
    assert not out[:, :100].any()  # nothing near the labelled person
    assert not out[10:14, 285:290].any() and not out[150:190, 120:130].any()
    assert not out[mask == 1].any()
    # a lower threshold takes the weak region too
    assert unlabelled_regions(gap > -1.0, mask, RegionRule(min_area=1e-3))[170, 125] == 1
    with pytest.raises(ValueError, match="differ"):
        unlabelled_regions(gap[:10] > 0, mask)
    with pytest.raises(ValueError, match="bad region rule"):
        RegionRule(clearance=0.7)


def test_command_writes_maps_for_train_extra_ignore(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """On a trained tiny checkpoint: maps only for the chosen sources, 0/1 PNGs at each
    image's size that never cover a labelled person; they load through --extra-ignore."""
    data = synthetic_dataset(tmp_path / "data")
    train_mod.train(train_args(data, tmp_path / "run", epochs=1))
    parser = argparse.ArgumentParser()
    pseudo_ignore.add_arguments(parser)
    out = tmp_path / "ignore"
    args = parser.parse_args([str(tmp_path / "run" / "last.pt"), "--out", str(out), "--data",
                              str(data), "--sources", "synth", "--internal", "64x96",
                              "--threshold=-20", "--clearance", "0.01", "--threads", "1"])
    capsys.readouterr()
    assert pseudo_ignore.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 8 and report["sources"] == ["synth"]
    maps = sorted((out / "synth").glob("*.png"))
    assert len(maps) == report["with_regions"] > 0  # threshold -20: everything is "person"
    for path in maps:
        got = np.asarray(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
        mask = np.asarray(cv2.imread(str(data / "synth" / "masks" / path.name),
                                     cv2.IMREAD_UNCHANGED))
        assert got.shape == mask.shape and set(np.unique(got)) <= {0, 1}
        assert not got[mask == 1].any()
    with pytest.raises(SystemExit, match="already holds maps"):
        pseudo_ignore.run(args)
    with pytest.raises(SystemExit, match="no train images"):
        pseudo_ignore.run(parser.parse_args([str(tmp_path / "run" / "last.pt"), "--out",
                                             str(tmp_path / "other"), "--data", str(data),
                                             "--sources", "ccp"]))
    with pytest.raises(SystemExit, match="checkpoint not found"):
        pseudo_ignore.run(parser.parse_args([str(tmp_path / "nope.pt"), "--out", str(out),
                                             "--data", str(data)]))
