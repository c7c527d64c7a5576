"""Removing the Fast DDS files a run left in /dev/shm, never ones still in use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from peoplesemseg_ros.testing import shm


def test_remove_stale_keeps_files_in_use() -> None:
    if not Path(shm.SHM_DIR).is_dir():
        pytest.skip("no /dev/shm on this machine")
    before = shm.fastdds_files()
    stale = Path(shm.SHM_DIR) / f"fastrtps_peoplesemseg_test_{os.getpid()}_stale"
    held = Path(shm.SHM_DIR) / f"fastrtps_peoplesemseg_test_{os.getpid()}_held"
    other = Path(shm.SHM_DIR) / f"peoplesemseg_test_{os.getpid()}_not_fastdds"
    for p in (stale, held, other):
        p.write_bytes(b"x")
    try:
        with held.open("rb"):
            assert {stale.name, held.name} <= shm.fastdds_files()
            assert other.name not in shm.fastdds_files()
            removed = shm.remove_stale(before)
            assert stale.name in removed and not stale.exists()
            assert held.exists() and other.exists()
    finally:
        for p in (stale, held, other):
            p.unlink(missing_ok=True)
