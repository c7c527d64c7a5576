"""An isolated ROS 2 / Fast DDS session for ``bench node``: env, processes, cleanup.

Each session gets a unique ROS_DOMAIN_ID, discovery on localhost, the shipped
large-shared-memory Fast DDS profile and ``AMENT_PREFIX_PATH=sys.prefix``; the
processes it starts are stopped (SIGINT, then SIGKILL after a grace period) and
the /dev/shm files Fast DDS created for them are removed when it closes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from peoplesemseg_ros.testing import shm
from peoplesemseg_ros.testing.live import fastdds_profile, terminate

__all__ = ["DdsSession", "fastdds_profile"]

class DdsSession:
    """Environment + child processes of one benchmark over real DDS."""

    def __init__(self, domain_id: int | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="peoplesemseg_bench_")
        self.dir = Path(self._tmp.name)
        self.domain_id = domain_id if domain_id is not None else 201 + os.getpid() % 31
        self.env = dict(os.environ)
        self.env.update({
            "ROS_DOMAIN_ID": str(self.domain_id),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
            "FASTDDS_DEFAULT_PROFILES_FILE": str(fastdds_profile()),
            "AMENT_PREFIX_PATH": sys.prefix,
            "PYTHONUNBUFFERED": "1",
        })
        self.env.pop("RMW_IMPLEMENTATION", None)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._shm_before = shm.fastdds_files()
        self._count = 0
        self._labels: dict[int, str] = {}

    def path(self, stem: str) -> str:
        self._count += 1
        return str(self.dir / f"{self._count:03d}_{stem}")

    def start(self, args: Sequence[str], label: str) -> subprocess.Popen[bytes]:
        log = open(self.path(f"{label}.log"), "wb")  # noqa: SIM115 (lives as long as the child)
        proc = subprocess.Popen([sys.executable, *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)
        log.close()
        self._labels[proc.pid] = label  # shown in errors instead of the long command line
        self._procs.append(proc)
        return proc

    def start_actor(self, role: str, cfg: dict[str, Any], label: str) -> subprocess.Popen[bytes]:
        return self.start(["-m", "peoplesemseg_ros.bench.actors", role, json.dumps(cfg)],
                          label)

    def label(self, proc: subprocess.Popen[bytes]) -> str:
        return self._labels.get(proc.pid, str(proc.pid))

    def log_tail(self, label: str, chars: int = 2000) -> str:
        logs = sorted(self.dir.glob(f"*_{label}.log"))
        return logs[-1].read_text(errors="replace")[-chars:] if logs else ""

    def wait_file(self, path: str, timeout_s: float, watch: Sequence[subprocess.Popen[bytes]],
                  what: str, on_poll: Callable[[], None] | None = None) -> None:
        """Wait until ``path`` exists; fail early (with its log) if a watched child died."""
        deadline = time.monotonic() + timeout_s
        while not os.path.exists(path):
            for proc in watch:
                if proc.poll() is not None:
                    name = self.label(proc)
                    raise RuntimeError(f"{name} exited with {proc.returncode} while waiting "
                                       f"for {what}:\n{self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            if on_poll is not None:
                on_poll()
            time.sleep(0.005)

    def wait_exit(self, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            raise TimeoutError(f"{self.label(proc)} did not finish within {timeout_s:.0f} s:\n"
                               f"{self.log_tail(self.label(proc))}") from None
        if code != 0:
            raise RuntimeError(f"{self.label(proc)} failed with exit code {code}:\n"
                               f"{self.log_tail(self.label(proc))}")

    def stop(self, proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
        terminate(proc, signal.SIGINT, grace_s)

    def close(self) -> None:
        for proc in self._procs:
            self.stop(proc)
        self._procs.clear()
        shm.remove_stale(self._shm_before)
        self._tmp.cleanup()

    def __enter__(self) -> DdsSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
