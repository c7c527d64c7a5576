"""Where the bags of a fleet job run: this process, ``--workers N`` processes, or Ray.

Every runner calls the same :func:`~peoplesemseg_ros.bag.fleet.run_job` with the same
options, so the outputs are byte-identical whichever runs them; only the model's
intra-op thread count differs, and it does not change the masks.

Threads budget: N worker processes x T ONNX Runtime threads never exceed the cores
this process may use (``os.sched_getaffinity``): T = max(1, cores // N), or the
``num_threads`` parameter when that is smaller.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from queue import Empty
from typing import Any

from tqdm import tqdm

from peoplesemseg_ros.bag.fleet import BagJob, FleetOptions, run_job, with_threads
from peoplesemseg_ros.core.pipeline import Pipeline

__all__ = ["Progress", "available_cores", "run_local", "run_workers", "thread_budget"]

LOG = logging.getLogger("peoplesemseg.bag")


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_budget(workers: int, requested: int, cores: int | None = None) -> int:
    """Intra-op threads per worker so that ``workers`` x threads <= cores."""
    per = max(1, (cores or available_cores()) // max(1, workers))
    if requested > 0 and requested < per:
        return requested
    if requested > per:
        LOG.info("num_threads %d x %d workers would oversubscribe %d cores: using %d threads "
                 "per worker", requested, workers, cores or available_cores(), per)
    return per


class Progress:
    """Two bars on a terminal (bags, frames); nothing when stderr is not a terminal."""

    def __init__(self, jobs: Sequence[BagJob], enabled: bool) -> None:
        on = enabled and sys.stderr.isatty()
        self.bags = tqdm(total=len(jobs), unit="bag", desc="bags", disable=not on,
                         dynamic_ncols=True, position=0)
        self.frames = tqdm(unit="frame", desc="frames", disable=not on, dynamic_ncols=True,
                           position=1)

    def frame(self, n: int) -> None:
        self.frames.update(n)

    def bag(self, result: dict[str, Any]) -> None:
        self.bags.update(1)
        self.bags.set_postfix_str(f"{result['status']}: {os.path.basename(result['input'])}")

    def close(self) -> None:
        self.frames.close()
        self.bags.close()


def run_local(jobs: Sequence[BagJob], options: FleetOptions,
              progress: Progress) -> list[dict[str, Any]]:
    """Every bag in this process, one after the other, with one model load."""
    opts = with_threads(options, thread_budget(1, options.settings.pipeline.num_threads))
    results = []
    with Pipeline(opts.settings.pipeline) as pipeline:
        LOG.info("model %s, backend %s", pipeline.model_id, pipeline.backend_name)
        for job in jobs:
            results.append(run_job(pipeline, job, opts, progress.frame))
            progress.bag(results[-1])
    return results


_WORKER: dict[str, Any] = {}


def _init_worker(options: FleetOptions, frames: Any) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="[%(levelname)s] %(name)s: %(message)s")
    _WORKER["pipeline"] = Pipeline(options.settings.pipeline)  # once per worker
    _WORKER["options"] = options
    _WORKER["frames"] = frames


def _work(job: BagJob) -> dict[str, Any]:
    frames = _WORKER["frames"]
    return run_job(_WORKER["pipeline"], job, _WORKER["options"], frames.put)


def run_workers(jobs: Sequence[BagJob], options: FleetOptions, workers: int,
                progress: Progress) -> list[dict[str, Any]]:
    """Bags in ``workers`` processes (spawned: no forked ONNX Runtime thread pools), each
    loading the model once; results in input order."""
    threads = thread_budget(workers, options.settings.pipeline.num_threads)
    opts = with_threads(options, threads)
    LOG.info("%d workers x %d threads on %d cores", workers, threads, available_cores())
    ctx = mp.get_context("spawn")
    frames = ctx.Queue()
    results: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(opts, frames)) as pool:
        futures: dict[Future[dict[str, Any]], int] = {
            pool.submit(_work, job): i for i, job in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.2)
                _drain(frames, progress)
                for fut in finished:
                    i = futures[fut]
                    results[i] = _result(jobs[i], fut)
                    progress.bag(results[i])
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        _drain(frames, progress)
    return [results[i] for i in range(len(jobs))]


def _drain(frames: Any, progress: Progress) -> None:
    try:
        while True:
            progress.frame(frames.get_nowait())
    except Empty:
        pass


def _result(job: BagJob, fut: Future[dict[str, Any]]) -> dict[str, Any]:
    try:
        return fut.result()
    except BrokenProcessPool as err:  # a worker died (killed, out of memory, crashed)
        reason = f"a worker process died: {err}"
    except Exception as err:
        reason = f"{type(err).__name__}: {err}"
    LOG.error("%s: %s", job.input, reason)
    return {"input": str(job.input), "output": str(job.output), "status": "failed",
            "reason": reason}
