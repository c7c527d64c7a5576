"""`peoplesemseg bag process IN... --out-dir DIR`: many real bags, resume, bad bags, workers.

Bags are real rosbag2 files built in tmp_path; the model is the exact "red pixels are
people" ONNX graph, run by ONNX Runtime. Outputs are compared byte for byte.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bag_helpers import (
    BagMsg,
    camera_info,
    frame_rgb,
    raw_image,
    read_bag,
    run_cli,
    tiny_model,
    write_bag,
)
from test_bag_errors import broken_midway_bag

from peoplesemseg_ros.bag.fleet import PARTIAL_DIR, plan_jobs
from peoplesemseg_ros.bag.io import BagError
from peoplesemseg_ros.bag.runners import thread_budget

T0 = 1_700_000_000_000_000_000


def make_bag(path: Path, frames: int, size: tuple[int, int] = (64, 48), storage: str = "mcap",
             image: bool = True) -> Path:
    msgs = []
    for i in range(frames):
        t = T0 + i * 50_000_000
        msgs.append(BagMsg("/cam/camera_info", "sensor_msgs/msg/CameraInfo", t,
                           camera_info(*size, t, "cam_optical")))
        if image:
            msgs.append(BagMsg("/cam/image", "sensor_msgs/msg/Image", t + 1,
                               raw_image(frame_rgb(i, *size), t, "cam_optical")))
    return write_bag(path, storage, msgs)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "red.onnx")


def _args(model: Path, *rest: str) -> list[str]:
    return ["bag", "process", *rest, "--model", str(model), "--backend", "onnxruntime",
            "--no-progress"]


def _bag_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _fleet(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A folder with two bags (a and b, sqlite3 and mcap) and one more bag c elsewhere."""
    folder = tmp_path / "day1"
    folder.mkdir()
    make_bag(folder / "a", 5, storage="sqlite3")
    make_bag(folder / "b", 7)
    (folder / "notes.txt").write_text("not a bag")
    make_bag(tmp_path / "c", 4, size=(80, 60))
    return folder, tmp_path / "c", tmp_path / "out"


def test_many_bags_one_command_same_bytes_as_one_bag_each(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, c, out = _fleet(tmp_path)
    code, summary, err = run_cli(capsys, _args(model, str(folder), str(c), "--out-dir", str(out),
                                               "--max-batch", "3"))
    assert code == 0, err
    assert summary is not None and summary["command"] == "bag process"
    assert [(Path(r["input"]).name, r["status"], r["frames"], r["masks"])
            for r in summary["results"]] == [("a", "ok", 5, 5), ("b", "ok", 7, 7),
                                             ("c", "ok", 4, 4)]
    assert (summary["bags"], summary["ok"], summary["failed"], summary["masks"]) == (3, 3, 0, 16)
    assert sorted(p.name for p in out.iterdir()) == [
        PARTIAL_DIR, "a", "a.summary.json", "b", "b.summary.json", "c", "c.summary.json"]
    assert not list((out / PARTIAL_DIR).iterdir())
    masks = [m for m in read_bag(out / "b") if m.topic == "/cam/mask"]
    assert len(masks) == 7
    # the same bag through the one-bag form (batch 1): identical files
    (tmp_path / "single").mkdir()
    code, _, err = run_cli(capsys, _args(model, str(folder / "b"), str(tmp_path / "single" / "b")))
    assert code == 0, err
    assert _bag_bytes(tmp_path / "single" / "b") == _bag_bytes(out / "b")


def test_inputs_globs_and_clear_refusals(tmp_path: Path) -> None:
    folder, c, out = _fleet(tmp_path)
    jobs = plan_jobs([str(tmp_path / "day1" / "*"), str(c), str(c)], out)
    assert [j.name for j in jobs] == ["a", "b", "c"]  # a glob picks bags (not notes.txt)
    assert [j.output for j in jobs] == [out / "a", out / "b", out / "c"]
    with pytest.raises(BagError, match="matches no bag"):
        plan_jobs([str(tmp_path / "nope*")], out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="neither a bag nor a folder of bags"):
        plan_jobs([str(tmp_path / "empty")], out)
    make_bag(tmp_path / "other" / "a", 1)
    with pytest.raises(BagError, match="two inputs would both write"):
        plan_jobs([str(folder), str(tmp_path / "other" / "a")], out)


def test_bad_bags_are_reported_and_the_rest_go_on(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_bag(tmp_path / "good1", 3)
    trunc = make_bag(tmp_path / "truncated", 40)
    data = trunc / "truncated.mcap"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    unfinished = make_bag(tmp_path / "unfinished", 2)
    (unfinished / "metadata.yaml").unlink()
    make_bag(tmp_path / "no_images", 3, image=False)
    broken_midway_bag(tmp_path / "midway")
    make_bag(tmp_path / "good2", 2)
    out = tmp_path / "out"
    names = ["good1", "truncated", "unfinished", "no_images", "missing", "midway", "good2"]
    code, summary, err = run_cli(capsys, _args(model, *(str(tmp_path / n) for n in names),
                                               "--out-dir", str(out)))
    assert code == 1, err
    assert summary is not None
    status = {Path(r["input"]).name: r for r in summary["results"]}
    assert [status[n]["status"] for n in names] == ["ok", "failed", "failed", "failed",
                                                    "failed", "failed", "ok"]
    assert "metadata.yaml" in status["unfinished"]["reason"]
    assert "no sensor_msgs/Image" in status["no_images"]["reason"]
    assert "not found" in status["missing"]["reason"]
    assert summary["failed"] == 5 and summary["ok"] == 2
    # what the midway-broken bag wrote before the damage stays staged, marked incomplete
    partial = Path(status["midway"]["partial_output"])
    assert partial == out / PARTIAL_DIR / "midway"
    assert "incomplete" in (partial / "metadata.yaml").read_text()
    assert len([m for m in read_bag(partial) if m.topic == "/cam/mask"]) == 2
    assert (out / "good1").is_dir() and (out / "good2").is_dir()
    assert not (out / "truncated").exists()  # never looks complete
    assert "truncated" in status["truncated"]["reason"]  # an mcap without its end fails to open
    assert "partial_output" not in status["truncated"]  # so nothing was written for it


def test_resume_after_a_killed_run(tmp_path: Path, model: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    make_bag(tmp_path / "in" / "b1", 3)
    make_bag(tmp_path / "in" / "b2", 1500, size=(160, 120))  # long enough to be killed in
    make_bag(tmp_path / "in" / "b3", 3)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "peoplesemseg_ros.cli", *_args(model, str(tmp_path / "in"),
                                                                "--out-dir", str(out))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ})
    staged = out / PARTIAL_DIR / "b2"
    deadline = time.monotonic() + 120
    while not ((out / "b1").exists() and staged.is_dir() and any(staged.glob("*.mcap"))):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "b2 never started"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "b1").is_dir() and not (out / "b2").exists() and not (out / "b3").exists()
    code, summary, err = run_cli(capsys, _args(model, str(tmp_path / "in"), "--out-dir",
                                               str(out)))
    assert code == 0, err
    assert summary is not None
    assert [(Path(r["input"]).name, r["status"]) for r in summary["results"]] == [
        ("b1", "skipped"), ("b2", "ok"), ("b3", "ok")]
    assert summary["results"][0]["masks"] == 3  # from the first run's summary file
    fresh = tmp_path / "fresh"
    code, _, err = run_cli(capsys, _args(model, str(tmp_path / "in"), "--out-dir", str(fresh)))
    assert code == 0, err
    for name in ("b1", "b2", "b3"):
        assert _bag_bytes(out / name) == _bag_bytes(fresh / name), name


def test_workers_give_the_same_bytes_as_one_process(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, c, _ = _fleet(tmp_path)
    outs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        code, summary, err = run_cli(capsys, _args(model, str(folder), str(c), "--out-dir",
                                                   str(out), "--workers", workers,
                                                   "--max-batch", "2"))
        assert code == 0, err
        assert summary is not None and summary["ok"] == 3
        assert summary["runner"] == ("local" if workers == "1" else "workers")
        outs[workers] = out
    for name in ("a", "b", "c"):
        assert _bag_bytes(outs["1"] / name) == _bag_bytes(outs["2"] / name), name
    per_bag = json.loads((outs["2"] / "b.summary.json").read_text())
    assert per_bag["masks"] == 7


def test_thread_budget_never_oversubscribes() -> None:
    assert thread_budget(1, 0, cores=8) == 8
    assert thread_budget(3, 0, cores=8) == 2
    assert thread_budget(16, 0, cores=8) == 1
    assert thread_budget(2, 1, cores=8) == 1  # asked for fewer: fewer
    assert thread_budget(2, 8, cores=8) == 4  # asked for more than fits: capped
