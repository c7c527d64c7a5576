"""Model families: pretrained weight loading, the MediaPipe port, copy-paste, loss weights."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")
ort = pytest.importorskip("onnxruntime")

from peoplesemseg_ros.training.copypaste import PasteConfig, PersonBank, paste_people  # noqa: E402
from peoplesemseg_ros.training.dataset import small_person_weights  # noqa: E402
from peoplesemseg_ros.training.efficientnet import (  # noqa: E402
    EfficientNetLite0,
    LiteSeg,
    LiteSegConfig,
    WeightsError,
    imagenet_weights_path,
    load_imagenet_weights,
)
from peoplesemseg_ros.training.export import export_onnx  # noqa: E402
from peoplesemseg_ros.training.families import FAMILIES, build, restore  # noqa: E402
from peoplesemseg_ros.training.mediapipe import (  # noqa: E402
    MediaPipeConfig,
    TFLiteNet,
    TFLiteWeightsError,
    find_tflite,
)
from peoplesemseg_ros.training.model import (  # noqa: E402
    DeployWrapper,
    LogitsWrapper,
    SeedFilter,
)

SOCCER_BALL, BASKETBALL, BASEBALL = 805, 430, 429


def test_imagenet_encoder_classifies_a_real_photo(shared_data: Path) -> None:
    """The ported keys and layout reproduce ImageNet predictions: messi5 is a soccer scene."""
    import torch.nn.functional as F

    encoder = EfficientNetLite0(cut_block=15).eval()
    assert load_imagenet_weights(encoder) == len(encoder.state_dict())
    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    bgr = cv2.imread(str(shared_data / "samples" / "stills" / "messi5.jpg"))
    assert bgr is not None
    rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (224, 224)).astype(np.float32)
    x = (rgb / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    with torch.no_grad():
        feat = encoder(torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32)))[-1]
        feat = F.relu6(F.batch_norm(F.conv2d(feat, state["_conv_head.weight"]),
                                    state["_bn1.running_mean"], state["_bn1.running_var"],
                                    state["_bn1.weight"], state["_bn1.bias"], eps=1e-3))
        logits = F.linear(feat.mean((2, 3)), state["_fc.weight"], state["_fc.bias"])
    top1 = int(logits.argmax())
    assert top1 == SOCCER_BALL, top1


def test_missing_or_wrong_weight_files_are_clear_errors(tmp_path: Path) -> None:
    encoder = EfficientNetLite0()
    with pytest.raises(WeightsError, match="not found"):
        load_imagenet_weights(encoder, tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable torch state dict"):
        load_imagenet_weights(encoder, garbage)
    other = tmp_path / "other.pth"
    torch.save({"_conv_stem.weight": torch.zeros(8, 3, 3, 3)}, other)
    with pytest.raises(WeightsError, match="not EfficientNet-Lite0's state dict"):
        load_imagenet_weights(encoder, other)
    with pytest.raises(TFLiteWeightsError, match="not found"):
        find_tflite("landscape", tmp_path / "absent.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(TFLiteWeightsError, match=r"bad\.tflite"):
        TFLiteNet(bad)
    with pytest.raises(TFLiteWeightsError, match="unknown MediaPipe variant"):
        find_tflite("portrait")


def test_liteseg_shapes_and_size() -> None:
    model = LiteSeg(LiteSegConfig(pretrained=False)).eval()
    params = sum(p.numel() for p in model.parameters())
    assert 500_000 < params < 1_000_000, params  # fp32 ONNX <= 4 MB
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 288, 512)).shape == (1, 2, 288, 512)
        assert model(torch.zeros(1, 3, 100, 150)).shape == (1, 2, 100, 150)


def test_mediapipe_port_matches_litert() -> None:
    """The torch port gives the tflite interpreter's mask (same sigmoid, same decisions)."""
    litert = pytest.importorskip("ai_edge_litert.interpreter",
                                 reason="the peer runtime ai-edge-litert is a dev dependency")
    path = find_tflite("landscape")
    net = TFLiteNet(path, drop_final_logistic=False).eval()
    interp = litert.Interpreter(model_path=str(path))
    interp.allocate_tensors()
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (9, 16, 3), dtype=np.uint8), (256, 144))
    noise = np.asarray(rng.normal(0, 0.05, (144, 256, 3)), np.float32)
    image = np.clip(np.asarray(base, np.float32) / 255.0 + noise, 0, 1)[None]
    interp.set_tensor(interp.get_input_details()[0]["index"], image)
    interp.invoke()
    want = interp.get_tensor(interp.get_output_details()[0]["index"])[0, ..., 0]
    with torch.no_grad():
        got = net(torch.from_numpy(image.transpose(0, 3, 1, 2).copy()))[0, 0].numpy()
    assert np.abs(got - want).max() < 1e-3
    assert ((got > 0.5) == (want > 0.5)).mean() >= 0.999


def test_families_build_restore_and_export_parity(tmp_path: Path) -> None:
    """Every family restores from its checkpoint dict and exports with >= 99.9 % agreement."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(2, 72, 128, 3), dtype=np.uint8)
    for family, options in (("liteseg", {"cut_block": 4, "decoder_channels": (16, 8),
                                         "pretrained": False}),
                            ("shuffleseg", {}),
                            ("mediapipe", {})):
        model, config = build(family, options)
        state = {"family": family, "model_config": config.to_dict(),
                 "model": model.state_dict()}
        restored, name = restore(state)
        assert name == family
        internal = (36, 64) if family != "mediapipe" else (144, 256)
        path = export_onnx(restored, tmp_path / f"{family}.onnx", height=72, width=128,
                           internal=internal, family=family)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"image": images})[0]
        with torch.no_grad():
            want = DeployWrapper(restored, internal).eval()(torch.from_numpy(images)).numpy()
        assert got.shape == (2, 72, 128)
        assert (got == want).mean() >= 0.999, family
    assert set(FAMILIES) == {"liteseg", "shuffleseg", "mediapipe"}
    with pytest.raises(ValueError, match="unknown model family"):
        build("resnet", {})
    assert MediaPipeConfig.from_dict(MediaPipeConfig().to_dict()) == MediaPipeConfig()


def test_test_time_flip_export_is_mirror_symmetric_and_matches_torch(tmp_path: Path) -> None:
    """``export --flip``: the graph averages the frame's and its mirror's logits."""
    import onnx

    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(2, 72, 128, 3), dtype=np.uint8)
    model, _ = build("liteseg", {"cut_block": 4, "decoder_channels": (16, 8),
                                 "pretrained": False})
    model.eval()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    with torch.no_grad():  # a margin at the median logit gap: a random net decides both ways
        one_logits = LogitsWrapper(model, (36, 64)).eval()(x)
        flip_logits = LogitsWrapper(model, (36, 64), flip=True).eval()(x)
    margin = float((one_logits[:, 1] - one_logits[:, 0]).median())
    plain = export_onnx(model, tmp_path / "plain.onnx", height=72, width=128,
                        internal=(36, 64), family="liteseg", person_margin=margin)
    flipped = export_onnx(model, tmp_path / "flip.onnx", height=72, width=128,
                          internal=(36, 64), family="liteseg", person_margin=margin, flip=True)
    meta = {p.key: p.value for p in onnx.load(str(flipped)).metadata_props}
    assert meta["test_time_flip"] == "1"
    run = {path: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
           for path in (plain, flipped)}
    got = run[flipped].run(None, {"image": images})[0]
    gap = (flip_logits[:, 1] - flip_logits[:, 0] - margin).numpy()
    want = (gap > 0).astype(np.uint8)
    # the 5 % of pixels nearest the decision boundary may go either way (float order)
    clear = np.abs(gap) > np.quantile(np.abs(gap), 0.05)
    assert (got == want)[clear].all()
    single = ((one_logits[:, 1] - one_logits[:, 0] - margin).numpy() > 0).astype(np.uint8)
    assert (want != single).any(), "the flip must change a random network's decision"
    mirrored = run[flipped].run(None, {"image": np.ascontiguousarray(images[:, :, ::-1])})[0]
    assert (mirrored[:, :, ::-1] == got)[clear].all()
    plain_ids = run[plain].run(None, {"image": images})[0]
    plain_mirrored = run[plain].run(None, {"image": np.ascontiguousarray(images[:, :, ::-1])})[0]
    assert (plain_mirrored[:, :, ::-1] != plain_ids).any(), "a plain export is not symmetric"


def test_seed_filter_keeps_seeded_regions_whole_and_drops_the_rest() -> None:
    """Hysteresis: a weak region with one confident pixel survives entire (even a long
    snake seeded at one end), one without is dropped, and the frame size need not be a
    multiple of the cell."""
    gap = torch.full((1, 70, 101), -1.0)
    gap[0, 4:20, 4:30] = 0.5  # seeded block
    gap[0, 10, 10] = 5.0
    gap[0, 40:60, 4:30] = 0.5  # weak block: a phantom
    gap[0, 4:8, 40:100] = 0.5  # snake: along the top, down the right edge, seed at its end
    gap[0, 4:66, 96:100] = 0.5
    gap[0, 65, 98] = 3.0
    keep = SeedFilter(2.0, cell=4, steps=64)(gap)
    person = gap > 0
    kept = (person & keep)[0]
    assert kept[4:20, 4:30].all() and kept[4:8, 40:100].all() and kept[4:66, 96:100].all()
    assert not kept[40:60, 4:30].any()
    assert int(kept.sum()) == int(person.sum()) - 20 * 26
    # too few steps: the snake's far end is not reached (the reach is steps x cell pixels)
    short = (person & SeedFilter(2.0, cell=4, steps=3)(gap))[0]
    assert short[60:66, 96:100].all() and not short[4:8, 40:60].any()
    with pytest.raises(ValueError, match="seed gap"):
        SeedFilter(-1.0)


def test_seed_margin_export_matches_torch(tmp_path: Path) -> None:
    """``export --seed-margin``: ORT equals the torch wrapper, the filter only removes
    person pixels, and the metadata names it."""
    torch.manual_seed(6)
    rng = np.random.default_rng(6)
    noise = rng.integers(0, 256, size=(144, 128, 3), dtype=np.uint8)
    images = cv2.GaussianBlur(noise, (0, 0), 4).reshape(2, 72, 128, 3)  # smooth: blobs
    model, _ = build("liteseg", {"cut_block": 4, "decoder_channels": (16, 8),
                                 "pretrained": False})
    model.eval()
    with torch.no_grad():
        head = model.get_submodule("head")
        assert isinstance(head, torch.nn.Conv2d)
        head.weight.mul_(50.0)  # a random decoder is nearly flat: spread its logits
        logits = LogitsWrapper(model, (36, 64)).eval()(
            torch.from_numpy(images).permute(0, 3, 1, 2).float())
    gap = (logits[:, 1] - logits[:, 0]).numpy()
    margin = float(np.quantile(gap, 0.6))
    # the seed between two well-separated 8x8-cell maxima, so no region is a float tie
    cells = np.sort((gap - margin).reshape(2, 9, 8, 16, 8).max(axis=(2, 4)).ravel())
    cells = cells[cells > 0]
    lo = len(cells) // 4
    k = lo + int(np.argmax(np.diff(cells[lo:-lo])))
    seed = margin + float(cells[k] + cells[k + 1]) / 2
    plain = export_onnx(model, tmp_path / "plain.onnx", height=72, width=128,
                        internal=(36, 64), family="liteseg", person_margin=margin)
    seeded = export_onnx(model, tmp_path / "seed.onnx", height=72, width=128,
                         internal=(36, 64), family="liteseg", person_margin=margin,
                         seed_margin=seed)
    run = {p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
           for p in (plain, seeded)}
    got = run[seeded].run(None, {"image": images})[0]
    base = run[plain].run(None, {"image": images})[0]
    with torch.no_grad():
        want = DeployWrapper(model, (36, 64), person_margin=margin, seed_margin=seed
                             ).eval()(torch.from_numpy(images)).numpy()
    assert (got == want).mean() >= 0.999
    assert not (got & ~base.astype(bool)).any(), "the filter only removes person pixels"
    assert 0 < int(got.sum()) < int(base.sum()), "some regions kept, some dropped"
    meta = run[seeded].get_modelmeta().custom_metadata_map
    assert float(meta["seed_margin"]) == pytest.approx(seed, rel=1e-4)
    assert run[plain].get_modelmeta().custom_metadata_map["seed_margin"] == "none"
    with pytest.raises(ValueError, match="below the person margin"):
        export_onnx(model, tmp_path / "x.onnx", height=72, width=128, person_margin=1.0,
                    seed_margin=0.5)
    with pytest.raises(ValueError, match="only the ids variant"):
        export_onnx(model, tmp_path / "x.onnx", variant="logits", height=72, width=128,
                    seed_margin=0.5)


def test_small_person_weights_are_exact() -> None:
    mask = np.zeros((100, 200), np.uint8)
    mask[10:14, 10:15] = 1  # 20 px: small
    mask[30:90, 100:180] = 1  # 4,800 px: large (reference 2 % = 400 px)
    mask[0, 199] = 255
    w = small_person_weights(mask, max_weight=3.0)
    assert w[12, 12] == pytest.approx(min(3.0, np.sqrt(400 / 20)))
    assert w[50, 150] == 1.0 and w[50, 50] == 1.0 and w[0, 199] == 1.0
    w2 = small_person_weights(mask, max_weight=10.0)
    assert w2[12, 12] == pytest.approx(np.sqrt(400 / 20))
    assert (small_person_weights(mask, max_weight=1.0) == 1.0).all()


def test_copy_paste_puts_people_on_people_free_windows() -> None:
    donor = np.zeros((120, 80, 3), np.uint8)
    donor[20:110, 25:55] = (250, 10, 10)
    donor_mask = np.zeros((120, 80), np.uint8)
    donor_mask[20:110, 25:55] = 1
    bank = PersonBank([donor_mask, np.zeros((50, 50), np.uint8), None])
    assert len(bank) == 1 and bank.donors[0].box == (25, 20, 55, 110)
    cfg = PasteConfig(p=0.0, p_negative=1.0, max_people=2)
    rng = np.random.default_rng(5)
    pasted = 0
    for _ in range(10):
        image = np.full((96, 160, 3), 60, np.uint8)
        mask = np.zeros((96, 160), np.uint8)
        paste_people(image, mask, bank, lambda i: (donor, donor_mask), rng, cfg)
        person = mask == 1
        if person.any():
            pasted += 1
            # the new person pixels are the donor's red
            assert (image[person][:, 0] > 150).mean() > 0.9
            assert (image[~person][:, 0] <= 200).mean() > 0.97
    assert pasted >= 8
    # a window with people and p = 0 stays as it was
    image = np.full((96, 160, 3), 60, np.uint8)
    mask = np.zeros((96, 160), np.uint8)
    mask[10:20, 10:20] = 1
    paste_people(image, mask, bank, lambda i: (donor, donor_mask), rng, cfg)
    assert int(mask.sum()) == 100 and (image == 60).all()


def test_stretch_dataset_fills_the_frame_and_pastes_in_its_own_space(tmp_path: Path) -> None:
    from peoplesemseg_ros.training.dataset import Sample, SegmentationDataset

    samples = []
    for i, (h, w) in enumerate(((300, 200), (120, 400))):  # portrait and wide
        img = np.full((h, w, 3), 50, np.uint8)
        mask = np.zeros((h, w), np.uint8)
        img[h // 4: 3 * h // 4, w // 3: w // 2] = (240, 20, 20)
        mask[h // 4: 3 * h // 4, w // 3: w // 2] = 1
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(tmp_path / f"{i}.png"), mask)
        samples.append(Sample(tmp_path / f"{i}.jpg", tmp_path / f"{i}.png", None))
    val = SegmentationDataset(samples, (72, 128), train=False, resize="stretch")
    for index in range(2):
        _, msk, _ = val[index]
        assert not (msk == 255).any()  # stretch: no letterbox padding
        rows = np.flatnonzero((msk == 1).any(dim=1).numpy())
        assert abs(int(rows[0]) - 18) <= 1 and abs(int(rows[-1]) - 53) <= 1
    train = SegmentationDataset(samples, (72, 128), train=True, resize="stretch",
                                paste=PasteConfig(p=1.0, p_negative=1.0))
    assert len(train.bank) == 2
    for epoch in range(3):
        train.set_epoch(epoch)
        for index in range(2):
            timg, tmsk, weight = train[index]
            assert timg.shape == (3, 72, 128) and tmsk.shape == weight.shape == (72, 128)
    with pytest.raises(ValueError, match="letterbox or stretch"):
        SegmentationDataset(samples, (72, 128), train=False, resize="crop")
