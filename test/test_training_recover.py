"""`peoplesemseg recover`: a shipped ONNX back to a checkpoint that exports and trains."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from training_helpers import synthetic_dataset, train_args  # noqa: E402

from peoplesemseg_ros.training import export as export_mod  # noqa: E402
from peoplesemseg_ros.training import recover as recover_mod  # noqa: E402
from peoplesemseg_ros.training import train as train_mod  # noqa: E402
from peoplesemseg_ros.training.dataset import (  # noqa: E402
    SegmentationDataset,
    load_sample,
    read_split,
)
from peoplesemseg_ros.training.export import export_onnx, load_checkpoint_model  # noqa: E402
from peoplesemseg_ros.training.families import build, restore  # noqa: E402
from peoplesemseg_ros.training.model import LogitsWrapper  # noqa: E402
from peoplesemseg_ros.training.quantize import quantize_int8  # noqa: E402
from peoplesemseg_ros.training.recover import RecoverError, recover  # noqa: E402

H, W, INTERNAL = 64, 96, (32, 48)


def _export_run(tmp_path: Path, data: Path, margin: float | None = 0.0, *, flip: bool = False,
                seed_above: float | None = None) -> tuple[Path, Path]:
    """A tiny LiteSeg trained one epoch, exported the way the shipped models are; margin
    ``None``: the median logit gap of the training images (half their pixels flip);
    ``seed_above``: a seed margin that far above the person margin."""
    train_mod.train(train_args(data, tmp_path / "run", epochs=1, family="liteseg",
                               negatives=0))
    model, state = load_checkpoint_model(tmp_path / "run" / "last.pt")
    meta = {"epoch": str(state["epoch"]), "val_miou_torch": f"{state['metrics']['miou']:.4f}",
            "train_args": json.dumps({k: str(v) for k, v in state["args"].items()})}
    if margin is None:
        images = np.stack([cv2.resize(load_sample(s)[0], (W, H))
                           for s in read_split(data, "train")])
        with torch.no_grad():
            logits = LogitsWrapper(model, INTERNAL, flip=flip).eval()(
                torch.from_numpy(images).permute(0, 3, 1, 2).float())
        margin = float((logits[:, 1] - logits[:, 0]).median())
    path = export_onnx(model, tmp_path / "m.onnx", height=H, width=W, internal=INTERNAL,
                       family="liteseg", metadata=meta, person_margin=margin, flip=flip,
                       seed_margin=None if seed_above is None else margin + seed_above)
    return path, tmp_path / "run" / "last.pt"


def _ids(path: Path, images: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out: np.ndarray = sess.run(None, {"image": images})[0]
    return out


def test_recovered_liteseg_exports_the_same_masks_and_trains(tmp_path: Path) -> None:
    """BatchNorm folded by the export is rebuilt: the checkpoint exports back to the same
    masks, batch statistics equal the running ones on the measured images, and it is a
    valid ``--init`` for a new schedule."""
    data = synthetic_dataset(tmp_path / "data")
    path, _ = _export_run(tmp_path, data, margin=0.5)
    state = recover(path, data, images=8)
    assert state["recovered_from"]["pixel_agreement"] >= 0.999
    assert state["recovered_from"]["person_margin"] == 0.5
    assert state["args"]["epochs"] == 1 and state["args"]["redistributable"] is False
    assert state["args"]["init"] is None and "_run" not in state["args"]
    net, family = restore(state)
    assert family == "liteseg"
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(3, H, W, 3), dtype=np.uint8)
    again = export_onnx(net, tmp_path / "again.onnx", height=H, width=W, internal=INTERNAL,
                        family="liteseg", person_margin=0.5)
    assert (_ids(again, images) == _ids(path, images)).mean() >= 0.999

    # the running statistics are those of the 8 training images: train mode on them as
    # one batch computes what eval mode computes
    ds = SegmentationDataset(read_split(data, "train"), INTERNAL, train=False)
    x = train_mod.to_input(torch.stack([ds[i][0] for i in range(len(ds))]),
                           torch.device("cpu"))
    with torch.no_grad():
        want = net.eval()(x)
        got = copy.deepcopy(net).train()(x)
    assert torch.allclose(got, want, atol=1e-3, rtol=1e-3)
    # each folded channel is scaled back to the weight norm training started from (the
    # ImageNet stem here), so a fine-tune's AdamW steps are as large as training's were
    assert state["recovered_from"]["weight_scale_reference"].startswith("imagenet")
    start, _ = build("liteseg", {**train_mod.family_options("liteseg", "tiny"),
                                 "pretrained": True})
    for key in ("encoder._conv_stem.weight", "encoder._blocks.1._expand_conv.weight"):
        torch.testing.assert_close(state["model"][key].flatten(1).norm(dim=1),
                                   start.state_dict()[key].flatten(1).norm(dim=1))

    ckpt = tmp_path / "recovered.pt"
    torch.save(state, ckpt)
    metrics = train_mod.train(train_args(data, tmp_path / "tuned", epochs=1, family="liteseg",
                                         init=ckpt, max_steps=1, negatives=0))
    assert metrics["step"] == 1 and metrics["miou"] == metrics["miou"]


def test_recovered_flip_export_is_the_plain_network(tmp_path: Path) -> None:
    """``export --flip --seed-margin`` files recover too: the wrapper is rebuilt with the
    flip and the seed filter for the agreement check, the checkpoint is the plain network
    and exports back to the file."""
    data = synthetic_dataset(tmp_path / "data")
    # at the median gap the flip decides many pixels: checked without it, recovery fails
    path, _ = _export_run(tmp_path, data, margin=None, flip=True, seed_above=0.5)
    state = recover(path, data, images=8)
    assert state["recovered_from"]["test_time_flip"] is True
    seed = state["recovered_from"]["seed_margin"]
    assert seed == pytest.approx(state["recovered_from"]["person_margin"] + 0.5, abs=1e-4)
    assert state["recovered_from"]["pixel_agreement"] >= 0.999
    net, _ = restore(state)
    images = np.random.default_rng(8).integers(0, 256, size=(3, H, W, 3), dtype=np.uint8)
    margin = state["recovered_from"]["person_margin"]
    again = export_onnx(net, tmp_path / "again.onnx", height=H, width=W, internal=INTERNAL,
                        family="liteseg", person_margin=margin, flip=True, seed_margin=seed)
    assert (_ids(again, images) == _ids(path, images)).mean() >= 0.999
    odd = onnx.load(str(path))
    for p in odd.metadata_props:
        if p.key in ("test_time_flip", "seed_margin"):
            p.value = "yes"
    onnx.save(odd, str(tmp_path / "odd.onnx"))
    with pytest.raises(RecoverError, match="test_time_flip metadata 'yes'"):
        recover(tmp_path / "odd.onnx", data)
    for p in odd.metadata_props:
        if p.key == "test_time_flip":
            p.value = "1"
    onnx.save(odd, str(tmp_path / "odd.onnx"))
    with pytest.raises(RecoverError, match="seed_margin metadata 'yes'"):
        recover(tmp_path / "odd.onnx", data)


def test_recover_command_and_clear_errors(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = synthetic_dataset(tmp_path / "data")
    path, _ = _export_run(tmp_path, data)
    parser = argparse.ArgumentParser()
    recover_mod.add_arguments(parser)
    out = tmp_path / "ck" / "r.pt"
    capsys.readouterr()
    assert recover_mod.run(parser.parse_args([str(path), "--out", str(out), "--data",
                                              str(data), "--images", "4"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["family"] == "liteseg" and report["pixel_agreement"] >= 0.999
    assert report["internal"] == list(INTERNAL) and out.is_file()
    # the recovered checkpoint exports again; `--internal train` = its training size
    ep = argparse.ArgumentParser()
    export_mod.add_arguments(ep)
    again = tmp_path / "again.onnx"
    assert export_mod.run(ep.parse_args([str(out), "--out", str(again), "--height", "128",
                                         "--width", "192", "--internal", "train"])) == 0
    meta = ort.InferenceSession(str(again), providers=["CPUExecutionProvider"]
                                ).get_modelmeta().custom_metadata_map
    assert meta["network_input"] == "64x96" and meta["resize_mode"] == "letterbox"
    assert json.loads(meta["train_args"])["family"] == "liteseg"
    for bad, match in ((["--person-margin", "1", "--seed-margin", "0.5"], "below the person"),
                       (["--variant", "logits", "--seed-margin", "2"], "only the ids variant")):
        with pytest.raises(SystemExit, match=match):
            export_mod.run(ep.parse_args([str(out), "--out", str(tmp_path / "bad.onnx"), *bad]))

    with pytest.raises(SystemExit, match="model not found"):
        recover_mod.run(parser.parse_args([str(tmp_path / "none.onnx"), "--out", str(out),
                                           "--data", str(data)]))
    with pytest.raises(SystemExit, match="no dataset"):
        recover_mod.run(parser.parse_args([str(path), "--out", str(out), "--data",
                                           str(tmp_path)]))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a model")
    with pytest.raises(RecoverError, match="not a readable ONNX"):
        recover(junk, data)
    # an ONNX from elsewhere (no export metadata)
    bare = onnx.load(str(path))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(RecoverError, match="not exported by"):
        recover(tmp_path / "bare.onnx", data)
    # metadata naming another preset: the convolutions do not match
    wrong = onnx.load(str(path))
    for p in wrong.metadata_props:
        if p.key == "train_args":
            p.value = p.value.replace('"preset": "tiny"', '"preset": "default"')
    onnx.save(wrong, str(tmp_path / "wrong.onnx"))
    with pytest.raises(RecoverError, match="not an export of the family / preset"):
        recover(tmp_path / "wrong.onnx", data)
    quantize_int8(path, tmp_path / "q.onnx", [s.image for s in read_split(data, "train")[:2]])
    with pytest.raises(RecoverError, match="INT8"):
        recover(tmp_path / "q.onnx", data)


def test_recovered_mediapipe_matches(tmp_path: Path) -> None:
    """The MediaPipe family keeps its weights' names in the file: loaded by name."""
    data = synthetic_dataset(tmp_path / "data")
    try:
        model, _ = build("mediapipe", {})
    except Exception as exc:  # the tflite reader / model file of the [train] extra
        pytest.skip(f"MediaPipe model not available: {exc}")
    args = {"family": "mediapipe", "preset": "default", "resize": "stretch"}
    path = export_onnx(model.eval(), tmp_path / "mp.onnx", height=H, width=W,
                       internal=(144, 256), family="mediapipe",
                       metadata={"train_args": json.dumps(args)}, person_margin=0.25)
    state = recover(path, data, images=2)
    assert state["family"] == "mediapipe"
    assert state["recovered_from"]["pixel_agreement"] >= 0.999
