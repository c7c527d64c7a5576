"""Engine cache: key composition, atomic writes, and verification before use (no TensorRT)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from peoplesemseg_ros.core.backends.engine_cache import (
    EngineCache,
    EngineKey,
    atomic_write_bytes,
    default_cache_dir,
)
from peoplesemseg_ros.core.hashing import sha256_bytes, sha256_file

KEY = EngineKey(
    onnx_sha256=sha256_bytes(b"model"),
    trt_version="10.13.0.35",
    gpu_name="NVIDIA Orin",
    precision="fp16",
    input_name="image",
    input_shape=(544, 960, 3),
    min_batch=1,
    opt_batch=4,
    max_batch=4,
)


class FakeBuilder:
    """Stands in for the TensorRT build callback: counts calls, returns fixed bytes."""

    def __init__(self, payload: bytes = b"serialized-engine-" * 100) -> None:
        self.payload = payload
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.payload


@pytest.mark.parametrize("field,value", [
    ("onnx_sha256", sha256_bytes(b"other model")),
    ("trt_version", "8.6.2.3"),
    ("gpu_name", "NVIDIA GeForce RTX 4090"),
    ("precision", "int8"),
    ("input_name", "input"),
    ("input_shape", (3, 544, 960)),
    ("min_batch", 2),
    ("opt_batch", 2),
    ("max_batch", 16),
    ("calibration", "abc"),
])
def test_every_key_component_changes_the_digest(field: str, value: Any) -> None:
    other = dataclasses.replace(KEY, **{field: value})
    assert other.digest != KEY.digest
    assert EngineCache(Path("c")).paths(other)[0] != EngineCache(Path("c")).paths(KEY)[0]


def test_digest_is_stable_and_profile_is_full_shapes() -> None:
    same = EngineKey(**{f.name: getattr(KEY, f.name) for f in dataclasses.fields(KEY)})
    assert same.digest == KEY.digest
    assert KEY.profile() == ((1, 544, 960, 3), (4, 544, 960, 3), (4, 544, 960, 3))


def test_default_dir_follows_xdg_then_home(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "peoplesemseg_ros" / "engines"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "peoplesemseg_ros" / "engines"


def test_build_once_then_hit(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    build = FakeBuilder()
    first = cache.get_or_build(KEY, build, stem="shuffleseg")
    assert first.built and build.calls == 1 and first.engine == build.payload
    second = cache.get_or_build(KEY, build, stem="shuffleseg")
    assert not second.built and build.calls == 1 and second.reason == "cache hit"
    assert second.engine == build.payload and second.path == first.path
    meta = json.loads(first.path.with_suffix(".json").read_text())
    assert meta["engine_sha256"] == sha256_file(first.path)
    assert meta["key"]["gpu_name"] == "NVIDIA Orin" and meta["key_digest"] == KEY.digest
    # only the engine and its sidecar: no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [first.path.name, first.path.with_suffix(".json").name])


def test_other_key_does_not_reuse_the_engine(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    build = FakeBuilder()
    cache.get_or_build(KEY, build)
    cache.get_or_build(dataclasses.replace(KEY, trt_version="10.14.1.48"), build)
    assert build.calls == 2


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def _drop_sidecar(path: Path) -> None:
    path.with_suffix(".json").unlink()


def _garble_sidecar(path: Path) -> None:
    path.with_suffix(".json").write_text("{not json")


@pytest.mark.parametrize("damage,expected", [
    (_tamper, "sha256 does not match"),
    (_truncate, "truncated"),
    (_drop_sidecar, "no sidecar"),
    (_garble_sidecar, "unreadable"),
])
def test_damaged_entry_is_rebuilt_not_loaded(tmp_path: Path, damage: object,
                                             expected: str) -> None:
    cache = EngineCache(tmp_path)
    build = FakeBuilder()
    path = cache.get_or_build(KEY, build).path
    assert callable(damage)
    damage(path)
    data, why = cache.check(KEY)
    assert data is None and expected in why
    rebuilt = cache.get_or_build(KEY, build)
    assert rebuilt.built and build.calls == 2 and expected in rebuilt.reason
    assert path.read_bytes() == build.payload
    assert cache.get_or_build(KEY, build).built is False


def test_sidecar_of_another_key_is_rejected(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    build = FakeBuilder()
    path = cache.get_or_build(KEY, build).path
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["key_digest"] = "0" * 64
    sidecar.write_text(json.dumps(meta))
    assert cache.load(KEY) is None
    assert cache.get_or_build(KEY, build).built


def test_failed_build_leaves_no_entry(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)

    def broken() -> bytes:
        raise RuntimeError("builder failed")

    with pytest.raises(RuntimeError, match="builder failed"):
        cache.get_or_build(KEY, broken)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="empty"):
        cache.get_or_build(KEY, lambda: b"")


def test_atomic_write_keeps_old_file_when_replace_fails(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.engine"
    atomic_write_bytes(target, b"old")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.engine"]


def test_stem_is_sanitized(tmp_path: Path) -> None:
    engine_path, sidecar = EngineCache(tmp_path).paths(KEY, stem="../evil name")
    assert engine_path.parent == tmp_path and "/" not in engine_path.name
    assert engine_path.name.startswith("evil_name-fp16-")
    assert sidecar.suffix == ".json"


def test_unwritable_cache_still_returns_the_engine(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache folder should be")
    cache = EngineCache(blocker / "engines")
    build = FakeBuilder()
    result = cache.get_or_build(KEY, build)
    assert result.built and result.engine == build.payload and "not cached" in result.reason
    assert cache.get_or_build(KEY, build).built and build.calls == 2
