"""Shared by the training tests: a synthetic dataset in the shared-data layout and
``peoplesemseg train`` arguments for tiny, fast runs."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def synthetic_dataset(root: Path, n_train: int = 8, n_val: int = 2) -> Path:
    """Shared-data layout; 'people' are red upright boxes on a noisy grey background."""
    rng = np.random.default_rng(0)
    (root / "synth" / "images").mkdir(parents=True)
    (root / "synth" / "masks").mkdir(parents=True)
    (root / "splits").mkdir()
    lines = []
    for i in range(n_train + n_val):
        h, w = (120, 160) if i % 2 else (160, 120)
        img = rng.integers(60, 140, size=(h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), np.uint8)
        for _ in range(2):
            bh, bw = int(rng.integers(20, h // 2)), int(rng.integers(8, w // 4))
            y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
            img[y:y + bh, x:x + bw] = (220, 30, 30)
            mask[y:y + bh, x:x + bw] = 1
        cv2.imwrite(str(root / "synth" / "images" / f"{i:03d}.jpg"),
                    cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(root / "synth" / "masks" / f"{i:03d}.png"), mask)
        lines.append(f"synth/images/{i:03d}.jpg")
    (root / "splits" / "train.txt").write_text("\n".join(lines[:n_train]) + "\n")
    (root / "splits" / "val.txt").write_text("\n".join(lines[n_train:]) + "\n")
    return root


def train_args(data: Path, out: Path, **kw: object) -> argparse.Namespace:
    from peoplesemseg_ros.training import train as train_mod  # torch: the [train] extra

    parser = argparse.ArgumentParser()
    train_mod.add_arguments(parser)
    ns = parser.parse_args(["--data", str(data), "--out", str(out), "--preset", "tiny",
                            "--family", "shuffleseg",
                            "--size", "64x96", "--batch-size", "4", "--workers", "0",
                            "--amp", "off", "--no-progress", "--threads", "1"])
    for key, value in kw.items():
        setattr(ns, key, value)
    return ns
