"""Fast DDS shared-memory files in /dev/shm: list them and remove the ones a run left.

Fast DDS creates segment and lock files under /dev/shm for every participant and
normally removes them on a clean exit; a killed process leaves them behind.
:func:`remove_stale` deletes those created since a snapshot that no live process
still maps or holds open, so it is safe beside other ROS processes.
"""

from __future__ import annotations

import contextlib
import os
from typing import Final

__all__ = ["SHM_DIR", "fastdds_files", "in_use", "remove_stale"]

SHM_DIR: Final = "/dev/shm"
_PREFIXES: Final = ("fastrtps", "fastdds", "sem.fastrtps", "sem.fastdds", "fast_datasharing")


def fastdds_files() -> set[str]:
    """Names of the Fast DDS files in /dev/shm now (empty where there is no /dev/shm)."""
    try:
        return {p for p in os.listdir(SHM_DIR) if p.startswith(_PREFIXES)}
    except OSError:
        return set()


def in_use() -> set[str]:
    """/dev/shm names some live process maps or holds open."""
    used: set[str] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/maps", encoding="utf-8") as fh:
            used.update(line.rsplit("/", 1)[-1].strip() for line in fh if f"{SHM_DIR}/" in line)
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith(f"{SHM_DIR}/"):
                        used.add(target[len(SHM_DIR) + 1:])
    return used


def remove_stale(before: set[str]) -> list[str]:
    """Remove Fast DDS files created since ``before`` that nothing uses; their names."""
    removed = []
    for name in sorted(fastdds_files() - before - in_use()):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(SHM_DIR, name))
            removed.append(name)
    return removed
