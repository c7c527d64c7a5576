"""Training pipeline: model, augmentation, dataset reader, train/resume, export, INT8."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")
ort = pytest.importorskip("onnxruntime")

from training_helpers import synthetic_dataset as _synthetic_dataset  # noqa: E402
from training_helpers import train_args as _args  # noqa: E402

from peoplesemseg_ros.training import train as train_mod  # noqa: E402
from peoplesemseg_ros.training.dataset import read_split  # noqa: E402
from peoplesemseg_ros.training.export import (  # noqa: E402
    export_onnx,
    load_checkpoint_model,
    logits_from_ids,
)
from peoplesemseg_ros.training.model import (  # noqa: E402
    DeployWrapper,
    ShuffleSegConfig,
    build_model,
)
from peoplesemseg_ros.training.quantize import quantize_int8  # noqa: E402
from peoplesemseg_ros.training.transforms import (  # noqa: E402
    AugmentConfig,
    augment,
    turn_people_hue,
)

TINY = ShuffleSegConfig(**train_mod.PRESETS["tiny"])


def test_model_shapes_and_size() -> None:
    model = build_model().eval()
    params = sum(p.numel() for p in model.parameters())
    assert 200_000 < params < 1_000_000, params  # fp32 ONNX must stay <= 4 MB
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 544, 960))
        ids = DeployWrapper(model).eval()(torch.zeros(2, 64, 96, 3, dtype=torch.uint8))
    assert out.shape == (1, 2, 544, 960)
    assert ids.shape == (2, 64, 96) and ids.dtype == torch.uint8


_NO_PHOTOMETRIC = {"jitter_p": 0, "dark_p": 0, "low_contrast_p": 0, "gray_p": 0, "blur_p": 0,
                   "cutout_p": 0, "noise_p": 0}


def test_augment_keeps_image_and_mask_aligned() -> None:
    rng = np.random.default_rng(1)
    img = np.full((200, 300, 3), 40, np.uint8)
    mask = np.zeros((200, 300), np.uint8)
    img[50:150, 100:160] = (250, 0, 0)
    mask[50:150, 100:160] = 1
    geometric_only = AugmentConfig(**_NO_PHOTOMETRIC)
    for _ in range(20):
        out_img, out_mask = augment(img, mask, (96, 160), geometric_only, rng)
        person = out_mask == 1
        if person.sum() < 20:
            continue
        red = out_img[..., 0] > 150
        agree = (red[out_mask != 255] == person[out_mask != 255]).mean()
        assert agree > 0.97, agree
        assert set(np.unique(out_mask)) <= {0, 1, 255}


def test_recolour_paints_background_only() -> None:
    """Red blobs land on background, never on people or padding; the mask is unchanged."""
    img = np.full((120, 200, 3), 90, np.uint8)
    mask = np.zeros((120, 200), np.uint8)
    mask[20:100, 80:120] = 1
    mask[:, :10] = 255  # ignored
    img[mask == 1] = (30, 160, 30)
    cfg = AugmentConfig(scale_min=1.0, scale_max=1.0, max_roll_deg=0, flip_p=0,
                        recolour_p=1.0, **_NO_PHOTOMETRIC)
    painted_any = False
    for seed in range(8):
        out_img, out_mask = augment(img, mask, (120, 200), cfg, np.random.default_rng(seed))
        np.testing.assert_array_equal(out_mask, mask)
        np.testing.assert_array_equal(out_img[mask == 1], img[mask == 1])
        np.testing.assert_array_equal(out_img[mask == 255], img[mask == 255])
        changed = np.abs(out_img.astype(int) - img.astype(int)).sum(axis=2) > 30
        painted_any |= bool(changed[mask == 0].any())
    assert painted_any


def test_hue_shift_changes_colour_not_brightness_order() -> None:
    img = np.zeros((60, 60, 3), np.uint8)
    img[..., 0] = 220  # saturated red
    img[..., 1] = 30
    mask = np.zeros((60, 60), np.uint8)
    cfg = AugmentConfig(scale_min=1.0, scale_max=1.0, max_roll_deg=0, flip_p=0, hue_p=1.0,
                        **_NO_PHOTOMETRIC)
    hues = set()
    for seed in range(6):
        out, _ = augment(img, mask, (60, 60), cfg, np.random.default_rng(seed))
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        hues.add(int(np.median(hsv[..., 0])))
        assert int(hsv[..., 2].mean()) > 150  # value kept
    assert len(hues) >= 4


def test_person_hue_turns_people_only() -> None:
    """Red people get another hue, the red background stays red."""
    img = np.zeros((120, 200, 3), np.uint8)
    img[...] = (210, 40, 40)  # red everywhere
    mask = np.zeros((120, 200), np.uint8)
    mask[20:100, 80:120] = 1
    for seed in range(6):
        out_img = turn_people_hue(img, mask, np.random.default_rng(seed))
        hsv = cv2.cvtColor(out_img, cv2.COLOR_RGB2HSV)[..., 0].astype(int)
        inner, outer = hsv[30:90, 90:110], hsv[:, :60]
        assert (outer == int(cv2.cvtColor(img[:1, :1], cv2.COLOR_RGB2HSV)[0, 0, 0])).all()
        red_distance = np.minimum(inner, 180 - inner)
        assert (red_distance >= 25).all(), red_distance.min()  # >= 50 deg from red


def test_colour_options_off_keep_the_random_stream() -> None:
    """hue_p = recolour_p = 0 draw nothing, so recipes from before them reproduce exactly."""
    img = np.random.default_rng(0).integers(0, 255, (80, 120, 3), dtype=np.uint8)
    mask = np.zeros((80, 120), np.uint8)
    off, never = np.random.default_rng(5), np.random.default_rng(5)
    augment(img, mask, (64, 96), AugmentConfig(), off)
    augment(img, mask, (64, 96), AugmentConfig(hue_p=1e-12, recolour_p=1e-12), never)
    assert off.random() != never.random()  # neither fired, but only the second one drew


def test_cutout_clears_mask_under_occluder() -> None:
    rng = np.random.default_rng(2)
    img = np.zeros((100, 100, 3), np.uint8)
    mask = np.ones((100, 100), np.uint8)
    cfg = AugmentConfig(scale_min=1.0, scale_max=1.0, max_roll_deg=0, flip_p=0,
                        **{**_NO_PHOTOMETRIC, "cutout_p": 1.0})
    _, out_mask = augment(img, mask, (100, 100), cfg, rng)
    assert (out_mask == 0).any() and (out_mask == 1).any()


def test_loss_falls_when_overfitting_one_batch() -> None:
    torch.manual_seed(0)
    model = build_model(config=TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randn(2, 3, 64, 96)
    y = (x[:, 0] > 0.5).long()  # a learnable, exact rule
    losses = []
    for _ in range(40):
        loss = train_mod.seg_loss(model(x), y, 0.5)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.75 * losses[0], losses


def test_train_smoke_and_exact_resume(tmp_path: Path) -> None:
    data = _synthetic_dataset(tmp_path / "data")
    full = train_mod.train(_args(data, tmp_path / "full", epochs=2))
    assert {"miou", "loss", "epoch"} <= set(full)
    lines = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1]

    train_mod.train(_args(data, tmp_path / "part", epochs=1))
    resumed = _args(data, tmp_path / "part", epochs=2, resume=tmp_path / "part" / "last.pt")
    train_mod.train(resumed)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 1 and a["step"] == b["step"]
    assert a["args"]["lr"] == b["args"]["lr"]
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key


def test_export_parity_and_int8(tmp_path: Path) -> None:
    data = _synthetic_dataset(tmp_path / "data")
    train_mod.train(_args(data, tmp_path / "run", epochs=1))
    model, _ = load_checkpoint_model(tmp_path / "run" / "last.pt")
    onnx_path = export_onnx(model, tmp_path / "m.onnx", height=64, width=96)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert inp.type == "tensor(uint8)" and inp.shape[1:] == [64, 96, 3]
    assert out.type == "tensor(uint8)" and out.shape[1:] == [64, 96]
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(3, 64, 96, 3), dtype=np.uint8)
    got = sess.run(None, {inp.name: images})[0]
    with torch.no_grad():
        want = DeployWrapper(model).eval()(torch.from_numpy(images)).numpy()
    assert got.shape == want.shape == (3, 64, 96)
    assert (got == want).mean() >= 0.999

    logits_path = export_onnx(model, tmp_path / "l.onnx", variant="logits", height=64, width=96)
    lsess = ort.InferenceSession(str(logits_path), providers=["CPUExecutionProvider"])
    logits = lsess.run(None, {"input": images.transpose(0, 3, 1, 2).astype(np.float32)})[0]
    assert logits.shape == (3, 2, 64, 96)
    assert ((logits[:, 1] > logits[:, 0]).astype(np.uint8) == want).mean() >= 0.999
    # the same variant cut out of the ids ONNX (no torch) gives the same logits
    cut = logits_from_ids(onnx_path, tmp_path / "cut.onnx")
    csess = ort.InferenceSession(str(cut), providers=["CPUExecutionProvider"])
    assert [i.shape for i in csess.get_inputs()] == [["N", 3, 64, 96]]
    cut_logits = csess.run(None, {"input": images.transpose(0, 3, 1, 2).astype(np.float32)})[0]
    assert np.allclose(cut_logits, logits, atol=1e-4)

    calib = sorted((data / "synth" / "images").glob("*.jpg"))[:4]
    q = quantize_int8(onnx_path, tmp_path / "q.onnx", calib)
    qsess = ort.InferenceSession(str(q), providers=["CPUExecutionProvider"])
    import onnx

    qnodes = {n.op_type for n in onnx.load(str(q)).graph.node}
    assert "QuantizeLinear" in qnodes and "DequantizeLinear" in qnodes
    assert qsess.run(None, {inp.name: images})[0].shape == (3, 64, 96)

    # TensorRT's explicit quantization needs symmetric int8 (zero point 0) everywhere.
    from onnx import numpy_helper

    t = quantize_int8(onnx_path, tmp_path / "t.onnx", calib, target="tensorrt")
    proto = onnx.load(str(t))
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    zero_points = [inits[n.input[2]] for n in proto.graph.node
                   if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)


def test_read_split_on_shared_data(shared_data: Path) -> None:
    root = shared_data / "train"
    val = read_split(root, "val")
    train = read_split(root, "train")
    assert len(val) == 194 and len(train) == 1802
    assert all(s.mask.is_file() for s in val)
    free = read_split(root, "train", redistributable=True)
    sources = {s.source for s in free}
    assert not sources & {"camvid", "humanseg", "davis2016"}
    assert 0 < len(free) < len(train)


def test_canvas_crops_keep_deployed_pixel_scale() -> None:
    """A window cut from a 2x canvas shows people at twice the plain letterbox size."""
    img = np.full((200, 400, 3), 40, np.uint8)
    mask = np.zeros((200, 400), np.uint8)
    img[60:140, 180:220] = (250, 0, 0)  # 80 px tall, centred
    mask[60:140, 180:220] = 1
    fixed = AugmentConfig(scale_min=1.0, scale_max=1.0, max_roll_deg=0, flip_p=0, jitter_p=0,
                          dark_p=0, low_contrast_p=0, gray_p=0, blur_p=0, cutout_p=0, noise_p=0)
    rng = np.random.default_rng(4)
    _, plain = augment(img, mask, (100, 200), fixed, rng)
    heights = []
    for _ in range(10):
        _, crop = augment(img, mask, (100, 200), fixed, rng, canvas_hw=(200, 400))
        assert crop.shape == (100, 200)
        assert (crop != 255).all()  # windows stay on the content, not the padding
        rows = np.flatnonzero((crop == 1).any(axis=1))
        if rows.size and rows[0] > 0 and rows[-1] < 99:
            heights.append(rows[-1] - rows[0] + 1)
    plain_rows = np.flatnonzero((plain == 1).any(axis=1))
    assert plain_rows[-1] - plain_rows[0] + 1 == 40
    assert heights and all(h == 80 for h in heights)


def test_train_liteseg_with_negatives_paste_and_dev(tmp_path: Path) -> None:
    """The pretrained family trains with hard negatives, copy-paste and dev selection."""
    data = _synthetic_dataset(tmp_path / "data")
    neg = data / "neg"
    (neg / "images").mkdir(parents=True)
    (neg / "masks").mkdir()
    rng = np.random.default_rng(7)
    for i in range(3):
        cv2.imwrite(str(neg / "images" / f"{i}.jpg"),
                    rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
        cv2.imwrite(str(neg / "masks" / f"{i}.png"), np.zeros((90, 120), np.uint8))
    (data / "splits" / "negatives.txt").write_text(
        "".join(f"neg/images/{i}.jpg\n" for i in range(3)))
    dev = tmp_path / "dev"
    (dev / "images").mkdir(parents=True)
    (dev / "masks").mkdir()
    for i in range(2):
        src = data / "synth" / "images" / f"{i:03d}.jpg"
        (dev / "images" / f"{i}.jpg").write_bytes(src.read_bytes())
        (dev / "masks" / f"{i}.png").write_bytes(
            (data / "synth" / "masks" / f"{i:03d}.png").read_bytes())
    args = _args(data, tmp_path / "run", epochs=1, family="liteseg", negatives=2,
                 paste=0.5, small_weight=3.0, dev=dev)
    metrics = train_mod.train(args)
    assert metrics["dev_miou"] == metrics["dev_miou"]  # scored (not NaN)
    assert metrics["score"] == pytest.approx((metrics["miou"] + metrics["dev_miou"]) / 2)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert state["family"] == "liteseg" and state["model_config"]["cut_block"] == 4
    model, _ = load_checkpoint_model(tmp_path / "run" / "last.pt")
    onnx_path = export_onnx(model, tmp_path / "l.onnx", height=64, width=96, internal=(32, 48),
                            family="liteseg")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    images = rng.integers(0, 256, size=(2, 64, 96, 3), dtype=np.uint8)
    with torch.no_grad():
        want = DeployWrapper(model, (32, 48)).eval()(torch.from_numpy(images)).numpy()
    assert (sess.run(None, {"image": images})[0] == want).mean() >= 0.999


def test_person_margin_export_and_calibrate(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """--person-margin moves the in-graph decision to logit1 - logit0 > m (ids and logits);
    calibrate sweeps margins on val only and picks the best val mIoU."""
    from peoplesemseg_ros.training import calibrate

    data = _synthetic_dataset(tmp_path / "data")
    train_mod.train(_args(data, tmp_path / "run", epochs=1))
    model, _ = load_checkpoint_model(tmp_path / "run" / "last.pt")
    images = np.random.default_rng(4).integers(0, 256, size=(2, 64, 96, 3), dtype=np.uint8)
    with torch.no_grad():
        logits = model(DeployWrapper(model).norm(
            torch.from_numpy(images).permute(0, 3, 1, 2).float()))
    diff = (logits[:, 1] - logits[:, 0]).numpy()
    margin = float(np.median(diff))  # half the pixels flip: a margin that is not a no-op
    path = export_onnx(model, tmp_path / "m.onnx", height=64, width=96, person_margin=margin)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": images})[0]
    assert ((diff > margin).astype(np.uint8) == got).mean() >= 0.999
    assert ((diff > 0).astype(np.uint8) != got).mean() > 0.2
    meta = sess.get_modelmeta().custom_metadata_map
    assert float(meta["person_margin"]) == pytest.approx(margin, rel=1e-4)
    cut = ort.InferenceSession(str(logits_from_ids(path, tmp_path / "cut.onnx")),
                               providers=["CPUExecutionProvider"])
    cut_logits = cut.run(None, {"input": images.transpose(0, 3, 1, 2).astype(np.float32)})[0]
    assert ((cut_logits[:, 1] > cut_logits[:, 0]).astype(np.uint8) == got).mean() >= 0.999

    parser = argparse.ArgumentParser()
    calibrate.add_arguments(parser)
    args = parser.parse_args([str(tmp_path / "run" / "last.pt"), "--data", str(data),
                              "--margins=-1,0,1", "--threads", "1"])
    capsys.readouterr()  # (training's own per-epoch lines)
    assert calibrate.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["margin"] for r in report["val"]] == [-1.0, 0.0, 1.0]
    assert report["margin"] == max(report["val"], key=lambda r: r["miou"])["margin"]
    assert "dev_unseen_for_information" not in report  # the synthetic set has none
    assert report["test_time_flip"] is False
    # --flip scores the flip-averaged logits `export --flip` ships: other figures
    assert calibrate.run(parser.parse_args([str(tmp_path / "run" / "last.pt"), "--data",
                                            str(data), "--margins=-1,0,1", "--threads", "1",
                                            "--flip"])) == 0
    flipped = json.loads(capsys.readouterr().out)
    assert flipped["test_time_flip"] is True and len(flipped["val"]) == 3
    assert [r["miou"] for r in flipped["val"]] != [r["miou"] for r in report["val"]]
    # --internal scores at the size `export --internal` will run the network at
    assert calibrate.run(parser.parse_args([str(tmp_path / "run" / "last.pt"), "--data",
                                            str(data), "--margins=-1,0,1", "--threads", "1",
                                            "--internal", "32x48"])) == 0
    smaller = json.loads(capsys.readouterr().out)
    assert smaller["size"] == [32, 48] and report["size"] != [32, 48]
    assert [r["miou"] for r in smaller["val"]] != [r["miou"] for r in report["val"]]
    with pytest.raises(SystemExit, match="--internal"):
        calibrate.run(parser.parse_args([str(tmp_path / "run" / "last.pt"), "--data",
                                         str(data), "--internal", "8x8"]))
    with pytest.raises(SystemExit, match="comma-separated"):
        calibrate.run(parser.parse_args([str(tmp_path / "run" / "last.pt"), "--data",
                                         str(data), "--margins", "a,b"]))
