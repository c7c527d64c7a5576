"""Many bags, one command: ``peoplesemseg bag process IN... --out-dir DIR``.

Inputs are bags (a rosbag2 folder, or a bare ``.mcap`` / ``.db3`` file), folders of
bags (their direct subfolders / files that are bags) and globs (expanded here, so
they work quoted too). Input ``.../NAME`` (``NAME.mcap`` for a bare file) gives
``DIR/NAME``. Two inputs with the same name are refused before anything runs.

Resumable: a bag is written under ``DIR/.partial/NAME`` and renamed to ``DIR/NAME``
only once it is complete, with its summary next to it (``DIR/NAME.summary.json``,
written first). A rerun skips every ``DIR/NAME`` that exists and redoes the rest;
an interrupted or failed bag never looks complete. A bag that fails (missing,
truncated, unreadable, no image topics, ...) is reported with its reason and the
others go on; what it wrote before failing stays in ``DIR/.partial/NAME`` (its
metadata says why) until the next run redoes it.

This module plans the jobs and runs one job (:func:`run_job`); where the jobs run
(this process, ``--workers`` processes, Ray) is :mod:`~peoplesemseg_ros.bag.runners`.
"""

from __future__ import annotations

import glob
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from peoplesemseg_ros.bag.io import BagError
from peoplesemseg_ros.bag.process import ProcessOptions, process_bag
from peoplesemseg_ros.bag.settings import Settings
from peoplesemseg_ros.core.pipeline import Pipeline

__all__ = [
    "PARTIAL_DIR",
    "BagJob",
    "FleetOptions",
    "exit_code",
    "fleet_summary",
    "plan_jobs",
    "run_job",
    "with_threads",
]

LOG = logging.getLogger("peoplesemseg.bag")
PARTIAL_DIR: Final = ".partial"
_BAG_FILES: Final = (".mcap", ".db3")
_GLOB_CHARS: Final = frozenset("*?[")

FrameCallback = Callable[[int], None]


@dataclass(frozen=True)
class FleetOptions:
    """What every bag of the job shares (picklable: it travels to worker processes)."""

    settings: Settings
    process: ProcessOptions
    occupancy: bool = True


@dataclass(frozen=True)
class BagJob:
    input: Path
    name: str
    out_dir: Path

    @property
    def output(self) -> Path:
        return self.out_dir / self.name

    @property
    def staging(self) -> Path:
        return self.out_dir / PARTIAL_DIR / self.name

    @property
    def summary_path(self) -> Path:
        return self.out_dir / f"{self.name}.summary.json"

    @property
    def complete(self) -> bool:
        return self.output.exists()


def _is_bag(path: Path) -> bool:
    if path.is_file():
        return path.suffix in _BAG_FILES
    return path.is_dir() and ((path / "metadata.yaml").is_file() or
                              any(p.suffix in _BAG_FILES for p in path.iterdir()))


def _expand(item: str) -> list[Path]:
    """One command-line input -> bag paths (a missing path stays, to be reported as bad)."""
    if _GLOB_CHARS & set(item):  # a pattern selects the bags among its matches
        bags = [m for m in sorted(Path(p) for p in glob.glob(item)) if _is_bag(m)]
        if not bags:
            raise BagError(f"the pattern {item!r} matches no bag")
        return bags
    path = Path(item)
    if path.is_dir() and not _is_bag(path):
        children = sorted(p for p in path.iterdir() if not p.name.startswith(".") and _is_bag(p))
        if not children:
            raise BagError(f"{path} is neither a bag nor a folder of bags (no metadata.yaml, "
                           ".mcap or .db3 in it or in its subfolders)")
        return children
    return [path]


def plan_jobs(inputs: Sequence[str], out_dir: Path) -> list[BagJob]:
    """The bags of ``inputs`` in command-line order (duplicates of one path once)."""
    if not inputs:
        raise BagError("no input bags given")
    if out_dir.exists() and not out_dir.is_dir():
        raise BagError(f"--out-dir {out_dir} exists and is not a folder")
    seen: dict[Path, None] = {}
    for item in inputs:
        for path in _expand(item):
            seen.setdefault(path.absolute(), None)
    jobs: list[BagJob] = []
    names: dict[str, Path] = {}
    for path in seen:
        name = path.stem if path.suffix in _BAG_FILES and not path.is_dir() else path.name
        if name in names:
            raise BagError(f"two inputs would both write {out_dir / name}: {names[name]} and "
                           f"{path}; process them into different --out-dir folders")
        if name.startswith(".") or name in (PARTIAL_DIR, ""):
            raise BagError(f"cannot name an output after {path}")
        names[name] = path
        jobs.append(BagJob(path, name, out_dir))
    return jobs


def _discard(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def run_job(pipeline: Pipeline, job: BagJob, options: FleetOptions,
            on_frame: FrameCallback | None = None) -> dict[str, Any]:
    """Process one bag into ``job.output`` via the staging folder; never raises for a bad
    bag (its summary says ``status: failed`` and why). KeyboardInterrupt propagates."""
    t0 = time.perf_counter()
    base = {"input": str(job.input), "output": str(job.output)}
    if job.complete:
        previous: dict[str, Any] = {}
        if job.summary_path.is_file():
            previous = json.loads(job.summary_path.read_text(encoding="utf-8"))
        return {**previous, **base, "status": "skipped", "reason": "output already complete"}
    staging = job.staging
    try:
        staging.parent.mkdir(parents=True, exist_ok=True)
        _discard(staging)  # what an earlier, interrupted run left
        extra = options.settings.occupancy_factory(job.input) if options.occupancy else None
        summary = process_bag(job.input, staging, pipeline, options.process, extra, on_frame)
    except Exception as err:  # a bad bag (BagError) or anything else: this bag only
        reason = str(err) if isinstance(err, BagError) else f"{type(err).__name__}: {err}"
        LOG.error("%s: %s", job.input, reason)
        result = {**base, "status": "failed", "reason": reason,
                  "seconds": round(time.perf_counter() - t0, 3)}
        if staging.exists():
            result["partial_output"] = str(staging)
        return result
    result = {**summary.as_json(), **base}
    result.pop("command", None)
    result["status"] = "bad_frames" if options.process.strict and summary.bad_frames else "ok"
    job.summary_path.write_text(json.dumps(result) + "\n", encoding="utf-8")
    staging.rename(job.output)  # the one step that makes the output complete
    return result


def fleet_summary(results: Sequence[dict[str, Any]], seconds: float,
                  extra: dict[str, Any]) -> dict[str, Any]:
    """The job's summary: totals and one entry per bag, in input order."""
    counts = {s: sum(r["status"] == s for r in results)
              for s in ("ok", "skipped", "failed", "bad_frames")}
    masks = sum(int(r.get("masks", 0)) for r in results if r["status"] != "skipped")
    return {"command": "bag process", "bags": len(results), **counts,
            "frames": sum(int(r.get("frames", 0)) for r in results if r["status"] != "skipped"),
            "masks": masks, "seconds": round(seconds, 3),
            "fps": round(masks / seconds, 2) if seconds > 0 else 0.0, **extra,
            "results": list(results)}


def exit_code(summary: dict[str, Any]) -> int:
    """0: every bag ok or skipped; 1: a bag failed (or had bad frames with --strict)."""
    return 1 if summary["failed"] or summary["bad_frames"] else 0


def with_threads(options: FleetOptions, threads: int) -> FleetOptions:
    """``options`` with the model's intra-op thread count set (a worker's budget)."""
    pipeline = replace(options.settings.pipeline, num_threads=threads)
    return replace(options, settings=replace(options.settings, pipeline=pipeline))
