"""On-disk cache of serialized TensorRT engines, verified before every use.

A TensorRT engine is only valid for the exact model, TensorRT version, GPU,
precision and optimization profile it was built for, so the cache key hashes
all of them (:class:`EngineKey`). Each entry is two files in the cache folder:

``<stem>-<precision>-<key16>.engine``  the serialized engine
``<stem>-<precision>-<key16>.json``    sidecar: the full key, its digest, and the
                                        engine's byte size and sha256

Both are written atomically (temporary file in the same folder, fsync,
``os.replace``), engine first, sidecar last. :meth:`EngineCache.load` returns
the bytes only when the sidecar exists, names the same key, and the engine's
size and sha256 match it; a truncated, tampered or half-written entry is
reported as stale and :meth:`EngineCache.get_or_build` rebuilds it. Nothing is
handed to ``deserialize_cuda_engine`` unverified.

This module is pure Python (no TensorRT): the builder is a callback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from peoplesemseg_ros.core.hashing import sha256_bytes

__all__ = [
    "CacheResult",
    "EngineCache",
    "EngineKey",
    "atomic_write_bytes",
    "default_cache_dir",
]

_LOG = logging.getLogger(__name__)
_SIDECAR_VERSION = 1


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/peoplesemseg_ros/engines`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base else Path.home() / ".cache"
    return root / "peoplesemseg_ros" / "engines"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on."""

    onnx_sha256: str
    trt_version: str
    gpu_name: str
    precision: str  # fp32 | fp16 | int8 (the precision actually built)
    input_name: str
    input_shape: tuple[int, ...]  # per-sample dims, e.g. (544, 960, 3)
    min_batch: int
    opt_batch: int
    max_batch: int
    calibration: str = ""  # INT8 implicit calibration: digest of the image set

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return sha256_bytes(canonical.encode())

    def profile(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) full input shapes of the optimization profile."""
        rest = self.input_shape
        return (self.min_batch, *rest), (self.opt_batch, *rest), (self.max_batch, *rest)


@dataclass(frozen=True)
class CacheResult:
    engine: bytes
    path: Path
    built: bool  # False: loaded from the cache
    reason: str  # why it was (re)built, or "cache hit"


class EngineCache:
    """A folder of verified engines; ``directory=None`` uses :func:`default_cache_dir`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def paths(self, key: EngineKey, stem: str = "model") -> tuple[Path, Path]:
        base = f"{_safe(stem)}-{_safe(key.precision)}-{key.digest[:16]}"
        return self.directory / f"{base}.engine", self.directory / f"{base}.json"

    def check(self, key: EngineKey, stem: str = "model") -> tuple[bytes | None, str]:
        """(engine bytes, "cache hit") when the entry is valid, else (None, why not)."""
        engine_path, sidecar_path = self.paths(key, stem)
        if not engine_path.is_file():
            return None, f"no cached engine at {engine_path}"
        if not sidecar_path.is_file():
            return None, f"cached engine {engine_path} has no sidecar {sidecar_path.name}"
        try:
            meta = json.loads(sidecar_path.read_text())
        except (OSError, ValueError) as exc:
            return None, f"sidecar {sidecar_path} unreadable ({exc})"
        if not isinstance(meta, dict) or meta.get("key_digest") != key.digest:
            return None, f"sidecar {sidecar_path} is for another key"
        data = engine_path.read_bytes()
        if len(data) != meta.get("engine_bytes"):
            return None, (f"cached engine {engine_path} is {len(data)} bytes, sidecar says "
                          f"{meta.get('engine_bytes')} (truncated or replaced)")
        if sha256_bytes(data) != meta.get("engine_sha256"):
            return None, f"cached engine {engine_path} sha256 does not match its sidecar"
        return data, "cache hit"

    def load(self, key: EngineKey, stem: str = "model") -> bytes | None:
        data, why = self.check(key, stem)
        if data is None:
            _LOG.info("engine cache miss: %s", why)
        return data

    def store(self, key: EngineKey, engine: bytes, stem: str = "model") -> Path:
        if not engine:
            raise ValueError("refusing to cache an empty engine")
        engine_path, sidecar_path = self.paths(key, stem)
        atomic_write_bytes(engine_path, engine)
        meta = {
            "version": _SIDECAR_VERSION,
            "key": key.as_dict(),
            "key_digest": key.digest,
            "engine_bytes": len(engine),
            "engine_sha256": sha256_bytes(engine),
        }
        atomic_write_bytes(sidecar_path, (json.dumps(meta, indent=2, sort_keys=True) + "\n")
                           .encode())
        return engine_path

    def get_or_build(self, key: EngineKey, build: Callable[[], bytes],
                     stem: str = "model") -> CacheResult:
        """The verified cached engine, or ``build()``'s result (then stored)."""
        data, why = self.check(key, stem)
        engine_path, _ = self.paths(key, stem)
        if data is not None:
            return CacheResult(data, engine_path, built=False, reason=why)
        _LOG.info("building TensorRT engine: %s", why)
        engine = build()
        try:
            path = self.store(key, engine, stem)
        except OSError as exc:  # a read-only or full disk must not stop the robot
            _LOG.warning("engine built but not cached in %s (%s): the next start rebuilds it",
                         self.directory, exc)
            return CacheResult(engine, engine_path, built=True,
                               reason=f"{why}; not cached ({exc})")
        return CacheResult(engine, path, built=True, reason=why)


def _safe(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in text)
    return cleaned.strip("._") or "model"
