"""``peoplesemseg average``: the weighted mean of checkpoints of one network."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")

from training_helpers import synthetic_dataset, train_args  # noqa: E402

from peoplesemseg_ros.training import average  # noqa: E402
from peoplesemseg_ros.training import train as train_mod  # noqa: E402
from peoplesemseg_ros.training.export import export_onnx, load_checkpoint_model  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    average.add_arguments(parser)
    return parser


def test_weighted_mean_of_two_runs_is_a_valid_checkpoint(tmp_path: Path) -> None:
    data = synthetic_dataset(tmp_path / "data")
    train_mod.train(train_args(data, tmp_path / "a", epochs=1, seed=1))
    train_mod.train(train_args(data, tmp_path / "b", epochs=1, seed=2))
    a = torch.load(tmp_path / "a" / "last.pt", map_location="cpu", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", map_location="cpu", weights_only=False)
    out = tmp_path / "mean.pt"
    assert average.run(_parser().parse_args([str(tmp_path / "a" / "last.pt"),
                                             str(tmp_path / "b" / "last.pt"),
                                             "--weights", "3,1", "--out", str(out)])) == 0
    mean = torch.load(out, map_location="cpu", weights_only=False)
    checked = 0
    for key, value in a["model"].items():
        got = mean["model"][key]
        if value.is_floating_point():
            torch.testing.assert_close(got, 0.75 * value + 0.25 * b["model"][key])
            checked += int(not torch.equal(value, b["model"][key]))
        else:
            assert torch.equal(got, value)  # BatchNorm's batch counter: the first's
    assert checked > 10  # the two runs differ, so the mean is not either of them
    assert mean["family"] == a["family"] and mean["args"] == a["args"]
    assert [e["weight"] for e in mean["averaged_from"]] == [3.0, 1.0]
    model, _ = load_checkpoint_model(out)  # export / calibrate / --init read it
    export_onnx(model, tmp_path / "mean.onnx", height=64, width=96)
    assert (tmp_path / "mean.onnx").stat().st_size > 0


def test_refuses_what_cannot_be_averaged(tmp_path: Path) -> None:
    data = synthetic_dataset(tmp_path / "data")
    train_mod.train(train_args(data, tmp_path / "a", epochs=1))
    ckpt = str(tmp_path / "a" / "last.pt")
    out = str(tmp_path / "m.pt")
    with pytest.raises(SystemExit, match="at least two"):
        average.run(_parser().parse_args([ckpt, "--out", out]))
    with pytest.raises(SystemExit, match="not found"):
        average.run(_parser().parse_args([ckpt, str(tmp_path / "no.pt"), "--out", out]))
    with pytest.raises(SystemExit, match="comma-separated"):
        average.run(_parser().parse_args([ckpt, ckpt, "--weights", "a,b", "--out", out]))
    with pytest.raises(SystemExit, match="2 checkpoints, 3 weights"):
        average.run(_parser().parse_args([ckpt, ckpt, "--weights", "1,1,1", "--out", out]))
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(SystemExit, match="not a training checkpoint"):
        average.run(_parser().parse_args([ckpt, str(tmp_path / "other.pt"), "--out", out]))
    train_mod.train(train_args(data, tmp_path / "c", epochs=1, preset="default"))
    with pytest.raises(SystemExit, match=r"other parameters|is \("):
        average.run(_parser().parse_args([ckpt, str(tmp_path / "c" / "last.pt"),
                                          "--out", out]))
    assert not Path(out).exists()
