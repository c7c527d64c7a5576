"""Shared test set-up: ROS 2 environment isolation and data locations.

Every pytest run gets its own ROS_DOMAIN_ID (derived from the process id) and
the repository's Fast DDS profile (16 MiB shared memory + UDPv4 on loopback),
discovery stays on localhost, and the /dev/shm files Fast DDS creates during
the run are removed at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from peoplesemseg_ros.testing import shm

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _setup_ros_env() -> None:
    venv = Path(os.environ.get("VIRTUAL_ENV", "")) if os.environ.get("VIRTUAL_ENV") else None
    prefix = venv or Path(os.__file__).resolve().parents[2]
    os.environ.setdefault("AMENT_PREFIX_PATH", str(prefix))
    profile = REPO / "peoplesemseg_ros" / "data" / "fastdds_profile.xml"
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    # 0..232 are valid domain ids for Fast DDS on one host; avoid 0 (the default).
    os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 200)
    os.environ.pop("RMW_IMPLEMENTATION", None)


_setup_ros_env()


@pytest.fixture(scope="session", autouse=True)
def _clean_fastdds_shm() -> Iterator[None]:
    before = shm.fastdds_files()
    yield
    shm.remove_stale(before)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared training data folder; skips (with the reason) when absent."""
    if not (SHARED_DATA / "train" / "splits" / "val.txt").is_file():
        pytest.skip(f"shared training data not found at {SHARED_DATA} (CI puts ../shared beside "
                    "the clone)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def logits_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The float-NCHW / logits variant, cut from the shipped embedded model (not shipped)."""
    from peoplesemseg_ros.core.pipeline import embedded_model_path
    from peoplesemseg_ros.training.variants import logits_from_ids

    embedded = embedded_model_path()
    return logits_from_ids(embedded, tmp_path_factory.mktemp("models") / "logits.onnx")
