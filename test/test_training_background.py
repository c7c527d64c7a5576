"""People-free windows cut from labelled scenery (``--background``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")

from training_helpers import synthetic_dataset, train_args  # noqa: E402

from peoplesemseg_ros.training import train as train_mod  # noqa: E402
from peoplesemseg_ros.training.background import (  # noqa: E402
    BackgroundConfig,
    background_window,
)
from peoplesemseg_ros.training.dataset import Sample, SegmentationDataset  # noqa: E402


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A 200x300 scene: one person on the left third, a crowd (ignore) top right."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    mask = np.zeros((200, 300), np.uint8)
    mask[40:180, 30:80] = 1
    mask[0:40, 250:300] = 255
    return image, mask


def test_window_keeps_clear_of_people_and_crowds() -> None:
    image, mask = _scene()
    cfg = BackgroundConfig(p=1.0, tries=200)
    found = 0
    for seed in range(40):
        win = background_window(image, mask, np.random.default_rng(seed), cfg)
        if win is None:
            continue
        found += 1
        img, msk = win
        assert img.shape[:2] == msk.shape and not (msk == 1).any()
        assert (msk == 255).mean() <= cfg.max_ignore
        # the window is a real cut of the image, and never within the margin of the person
        ys, xs = np.nonzero((image[..., 0] == img[0, 0, 0]) & (image[..., 1] == img[0, 0, 1]))
        assert any(np.array_equal(image[y:y + img.shape[0], x:x + img.shape[1]], img)
                   and x >= 80 + round(cfg.margin * 300) for y, x in zip(ys, xs, strict=True))
    assert found >= 20
    # a frame full of people has no background window
    assert background_window(image, np.ones_like(mask), np.random.default_rng(1), cfg) is None
    with pytest.raises(ValueError, match="probability"):
        BackgroundConfig(p=1.5)


def test_dataset_uses_windows_only_for_fully_labelled_sources(tmp_path: Path) -> None:
    data = synthetic_dataset(tmp_path / "data", n_train=6, n_val=0)
    samples = [Sample(data / "synth" / "images" / f"{i:03d}.jpg",
                      data / "synth" / "masks" / f"{i:03d}.png", None) for i in range(6)]
    plain = SegmentationDataset(samples, (48, 64), train=True, seed=3)
    off = SegmentationDataset(samples, (48, 64), train=True, seed=3,
                              background=BackgroundConfig(p=0.0))
    on = SegmentationDataset(samples, (48, 64), train=True, seed=3,
                             background=BackgroundConfig(p=1.0, tries=100, margin=0.0))
    people_on = [int((on[i][1] == 1).sum()) for i in range(6)]
    for i in range(6):  # p = 0 draws nothing: the same windows as before the option
        assert torch.equal(plain[i][0], off[i][0]) and torch.equal(plain[i][1], off[i][1])
    assert sum(p == 0 for p in people_on) >= 3  # most items became people-free scenery
    assert all(int((plain[i][1] == 1).sum()) > 0 for i in range(6))

    ccp = tmp_path / "data" / "ccp"
    (data / "synth").rename(ccp)
    ccp_samples = [Sample(ccp / "images" / f"{i:03d}.jpg", ccp / "masks" / f"{i:03d}.png",
                          None) for i in range(6)]
    ccp_on = SegmentationDataset(ccp_samples, (48, 64), train=True, seed=3,
                                 background=BackgroundConfig(p=1.0, tries=100, margin=0.0))
    assert all(int((ccp_on[i][1] == 1).sum()) > 0 for i in range(6))  # never from ccp


def test_train_with_background_option(tmp_path: Path) -> None:
    data = synthetic_dataset(tmp_path / "data")
    metrics = train_mod.train(train_args(data, tmp_path / "run", epochs=1, background=0.5))
    assert metrics["miou"] == metrics["miou"]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert state["args"]["background"] == 0.5
    assert train_mod.LEGACY_ARGS["background"] == 0.0


def test_dataset_turns_people_hue_after_the_paste(tmp_path: Path) -> None:
    """person_hue_p draws last: the same window as without it, changed only on (and right
    beside) person pixels, pasted people included; 0 draws nothing."""
    from peoplesemseg_ros.training.copypaste import PasteConfig
    from peoplesemseg_ros.training.transforms import AugmentConfig

    data = synthetic_dataset(tmp_path / "data", n_train=6, n_val=0)
    samples = [Sample(data / "synth" / "images" / f"{i:03d}.jpg",
                      data / "synth" / "masks" / f"{i:03d}.png", None) for i in range(6)]
    paste = PasteConfig(p=1.0, p_negative=1.0)
    plain = SegmentationDataset(samples, (48, 64), train=True, seed=3, paste=paste)
    turned = SegmentationDataset(samples, (48, 64), train=True, seed=3, paste=paste,
                                 augment_config=AugmentConfig(person_hue_p=1.0))
    changed_people = 0
    for i in range(6):
        (a, mask_a, _), (b, mask_b, _) = plain[i], turned[i]
        assert torch.equal(mask_a, mask_b)
        person = (mask_a == 1).numpy()
        near = np.zeros_like(person)  # person pixels and their 8 neighbours
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                near |= np.roll(np.roll(person, dy, 0), dx, 1)
        diff = (a.int() - b.int()).abs().sum(0).numpy()
        assert (diff[~near] == 0).all()
        changed_people += int((diff[person] > 0).sum())
    assert changed_people > 0


def test_extra_ignore_maps_reach_the_loss_mask(tmp_path: Path) -> None:
    """--extra-ignore gives samples without an ignore map of their own the folder's map:
    its pixels load as 255 (no loss); samples without a file, or with their own map, keep
    theirs; a missing folder is a clear error."""
    import cv2

    from peoplesemseg_ros.training.dataset import load_sample, read_split, with_extra_ignore

    data = synthetic_dataset(tmp_path / "data", n_train=4, n_val=2)
    samples = read_split(data, "train")
    extra = tmp_path / "extra" / "synth"
    extra.mkdir(parents=True)
    _, mask = load_sample(samples[1])
    ign = np.zeros_like(mask)
    ign[:5, :5] = 1
    cv2.imwrite(str(extra / "001.png"), ign)
    own = Sample(samples[2].image, samples[2].mask, extra / "001.png")  # has its own map
    out, found = with_extra_ignore([samples[0], samples[1], own], tmp_path / "extra")
    assert found == 1
    assert out[0] == samples[0] and out[2] == own
    _, got = load_sample(out[1])
    assert (got[:5, :5] == 255).all() and np.array_equal(got[5:], mask[5:])
    with pytest.raises(FileNotFoundError, match="extra ignore folder"):
        with_extra_ignore(samples, tmp_path / "nowhere")
    # the option reaches training and its checkpoint's arguments
    ns = train_args(data, tmp_path / "run", epochs=1, extra_ignore=tmp_path / "extra")
    train_mod.train(ns)
    state = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=False)
    assert str(state["args"]["extra_ignore"]).endswith("extra")
