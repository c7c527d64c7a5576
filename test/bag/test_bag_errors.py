"""Bad input to the bag tools: clear errors, exit codes, and nothing already written lost."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from bag_helpers import (
    CUSTOM_TYPE,
    BagMsg,
    compressed,
    compressed_bytes,
    custom_thing,
    deserialize,
    frame_rgb,
    raw_image,
    read_bag,
    run_cli,
    tiny_model,
    write_bag,
)
from rosbags.rosbag2 import Reader

from peoplesemseg_ros.bag.process import STATUS_KEY

T0 = 1_700_000_000_000_000_000
W, H = 64, 48


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "red.onnx")


def _image(i: int) -> BagMsg:
    t = T0 + i * 100_000_000
    return BagMsg("/cam/image", "sensor_msgs/msg/Image", t, raw_image(frame_rgb(i, W, H), t, "c"))


def _process(capsys: pytest.CaptureFixture[str], model: Path, src: Path, dst: Path,
             *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    return run_cli(capsys, ["bag", "process", str(src), str(dst), "--model", str(model),
                            "--no-progress", *extra])


def test_corrupt_messages_are_counted_and_skipped(tmp_path: Path, model: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    good = _image(0).data
    msgs = [
        _image(0),
        BagMsg("/cam/image", "sensor_msgs/msg/Image", T0 + 1, good[: len(good) // 3]),  # cut CDR
        _image(2),
        BagMsg("/cam/image/compressed", "sensor_msgs/msg/CompressedImage", T0 + 3,
               compressed_bytes(b"\xff\xd8 this is not a jpeg", T0 + 3, "c")),
        BagMsg("/cam2/image/compressed", "sensor_msgs/msg/CompressedImage", T0 + 4,
               compressed(frame_rgb(4, W, H), T0 + 4, "c2")),
        _image(5),
    ]
    # /cam/image/compressed and /cam/image would share the namespace /cam: pick topics.
    src = write_bag(tmp_path / "in", "sqlite3", msgs)
    code, summary, err = _process(capsys, model, src, tmp_path / "out", "--image-topic",
                                  "/cam/image", "--image-topic", "/cam2/image/compressed")
    assert code == 0, err
    assert summary is not None
    assert (summary["frames"], summary["masks"], summary["bad_frames"]) == (5, 4, 1)
    assert summary["bad_reasons"] == {"corrupt_cdr": 1}
    assert summary["bad"][0]["topic"] == "/cam/image"
    assert summary["bad"][0]["bag_time_ns"] == T0 + 1
    assert "bad frame on /cam/image" in err
    out = read_bag(tmp_path / "out")
    assert [m.timestamp for m in out if m.topic == "/cam/mask"] == [T0, T0 + 2 * 100_000_000,
                                                                    T0 + 5 * 100_000_000]
    assert len(out) == len(msgs) + 4  # every input copied, plus one mask per good frame

    # The corrupt JPEG topic processed on its own: counted as corrupt, exit 1 with --strict.
    code, summary, _ = _process(capsys, model, src, tmp_path / "strict", "--image-topic",
                                "/cam/image/compressed", "--strict")
    assert code == 1
    assert summary is not None
    assert summary["bad_reasons"] == {"corrupt": 1}
    assert summary["masks"] == 0


def test_unknown_message_type(tmp_path: Path, model: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    src = write_bag(tmp_path / "in", "mcap", [
        _image(0), BagMsg("/thing", CUSTOM_TYPE, T0 + 1, custom_thing(3)), _image(1)])
    # Passes through untouched (its definition comes from the input bag).
    code, _, err = _process(capsys, model, src, tmp_path / "out")
    assert code == 0, err
    out = read_bag(tmp_path / "out")
    assert [m.data for m in out if m.topic == "/thing"] == [custom_thing(3)]
    with Reader(tmp_path / "out") as reader:
        conn = next(c for c in reader.connections if c.topic == "/thing")
        assert conn.msgtype == CUSTOM_TYPE
        assert "string b" in conn.msgdef.data
    # ...but cannot be segmented, and cannot be played (its package is not installed).
    code, _, err = _process(capsys, model, src, tmp_path / "out2", "--image-topic", "/thing")
    assert code == 2
    assert f"/thing has type {CUSTOM_TYPE}" in err
    assert not (tmp_path / "out2").exists()
    code, _, err = run_cli(capsys, ["bag", "play", str(src), "--topics", "/thing"])
    assert code == 2
    assert "nothing to play" in err and CUSTOM_TYPE in err


def test_missing_inputs(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _process(capsys, model, tmp_path / "nope", tmp_path / "out")
    assert code == 2
    assert "bag not found" in err and "nope" in err
    assert not (tmp_path / "out").exists()
    src = write_bag(tmp_path / "in", "mcap", [_image(0)])
    code, _, err = _process(capsys, model, src, tmp_path / "out", "--image-topic", "/other")
    assert code == 2
    assert "/other is not in the bag" in err and "/cam/image" in err
    code, _, err = run_cli(capsys, ["bag", "eval", str(src), "--masks", str(tmp_path / "gt")])
    assert code == 2
    assert "ground-truth folder not found" in err
    code, _, err = run_cli(capsys, ["bag", "play", str(tmp_path / "nope")])
    assert code == 2 and "bag not found" in err


def test_bag_still_being_written(tmp_path: Path, model: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    src = write_bag(tmp_path / "in", "mcap", [_image(i) for i in range(3)])
    # A recorder that has not closed the bag yet: no metadata.yaml.
    open_dir = tmp_path / "recording"
    shutil.copytree(src, open_dir)
    (open_dir / "metadata.yaml").unlink()
    code, _, err = _process(capsys, model, open_dir, tmp_path / "out")
    assert code == 2
    assert "no metadata.yaml" in err and "still being written" in err
    # Metadata there but the .mcap has no footer / summary yet (still being appended to).
    cut_dir = tmp_path / "cut"
    shutil.copytree(src, cut_dir)
    mcap = cut_dir / "in.mcap"
    mcap.write_bytes(mcap.read_bytes()[:-200])
    code, _, err = _process(capsys, model, cut_dir, tmp_path / "out")
    assert code == 2
    assert "cannot open bag" in err and "still being written" in err
    assert not (tmp_path / "out").exists()
    # A sqlite3 bag whose database is garbage (e.g. a copy taken mid-write).
    db_dir = write_bag(tmp_path / "db", "sqlite3", [_image(0)])
    (db_dir / "db.db3").write_bytes(b"SQLite format 3\x00" + b"\x17" * 300)
    code, _, err = _process(capsys, model, db_dir, tmp_path / "out")
    assert code == 2 and "cannot open bag" in err
    # The bare .mcap file, equally.
    code, _, err = _process(capsys, model, mcap, tmp_path / "out")
    assert code == 2 and "cannot open bag" in err


def broken_midway_bag(path: Path) -> Path:
    """A 4-frame mcap bag (640x600) whose third chunk cannot be read."""
    # ~1.1 MiB per frame: rosbags starts a new mcap chunk every MiB, one frame per chunk.
    big = [BagMsg("/cam/image", "sensor_msgs/msg/Image", T0 + i * 100_000_000,
                  raw_image(cv2.resize(frame_rgb(i, W, H), (640, 600),
                                       interpolation=cv2.INTER_NEAREST), T0 + i, "c"))
           for i in range(4)]
    src = write_bag(path, "mcap", big)
    mcap = src / f"{path.name}.mcap"
    data = bytearray(mcap.read_bytes())
    # Find the chunk records (opcode 0x06, > 1 MB each) and break the length of the first
    # message record (opcode 0x05) in the third one: it now claims more bytes than exist.
    starts = [i for i in range(len(data) - 9) if data[i] == 0x06 and
              int.from_bytes(data[i + 1:i + 9], "little") > 1_000_000]
    assert len(starts) == 4, starts
    record = starts[2] + 9 + 40  # chunk header: 9 (op + length) + 40 (times, sizes, crc, "")
    assert data[record] == 0x05
    data[record + 1:record + 9] = (1 << 40).to_bytes(8, "little")
    mcap.write_bytes(bytes(data))
    return src


def test_unreadable_input_midway_keeps_what_was_written(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A chunk of the input that cannot be read: the output up to it is closed and readable."""
    src = broken_midway_bag(tmp_path / "in")
    code, _, err = _process(capsys, model, src, tmp_path / "out")
    assert code == 2
    assert "frames before it are in" in err
    with Reader(tmp_path / "out") as reader:  # closed properly: metadata and footer written
        masks = [deserialize(BagMsg(c.topic, c.msgtype, t, bytes(r)))
                 for c, t, r in reader.messages() if c.topic == "/cam/mask"]
    assert len(masks) == 2
    assert all(np.asarray(m.data).size == 640 * 600 for m in masks)
    meta = (tmp_path / "out" / "metadata.yaml").read_text()
    assert STATUS_KEY in meta and "incomplete" in meta


def test_play_and_record_refuse_clearly(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    src = write_bag(tmp_path / "in", "mcap", [_image(0)])
    code, _, err = run_cli(capsys, ["bag", "play", str(src), "--wait-for-subscribers", "1",
                                    "--wait-timeout", "0.3"])
    assert code == 2
    assert "no 1 subscriber(s) after 0.3 s on: /cam/image (0)" in err
    code, _, err = run_cli(capsys, ["bag", "play", str(src), "--topics", "/nope"])
    assert code == 2 and "not in the bag: /nope" in err
    code, _, err = run_cli(capsys, ["bag", "play", str(src), "--rate", "0"])
    assert code == 2 and "--rate must be > 0" in err
    code, _, err = run_cli(capsys, ["bag", "record", str(src), "/cam/image"])
    assert code == 2 and "exists already" in err
    assert read_bag(src)[0].data == _image(0).data  # untouched
    code, _, err = run_cli(capsys, ["bag", "record", str(tmp_path / "new"), "/x", "--count",
                                    "0"])
    assert code == 2 and "--count must be >= 1" in err
    assert not (tmp_path / "new").exists()


def test_processing_a_processed_bag_is_refused(tmp_path: Path, model: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    src = write_bag(tmp_path / "in", "mcap", [_image(0), _image(1)])
    code, _, err = _process(capsys, model, src, tmp_path / "once")
    assert code == 0, err
    code, _, err = _process(capsys, model, tmp_path / "once", tmp_path / "twice")
    assert code == 2
    assert "already has /cam/mask" in err
    assert not (tmp_path / "twice").exists()
