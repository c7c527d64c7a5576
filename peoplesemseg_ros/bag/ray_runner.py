"""``bag process --ray``: one Ray task per bag on a cluster (optional extra ``[fleet]``).

The cluster is the one at ``RAY_ADDRESS`` (``ray start --head`` on one machine,
``ray start --address=HEAD:6379`` on the others), or a local instance started here
when it is unset. Each task runs :func:`~peoplesemseg_ros.bag.fleet.run_job`, the code
of the local run, so the outputs are byte-identical; the model is loaded once per
Ray worker process (Ray reuses a worker for the tasks of one function) and kept in
that process. A task reserves ``threads`` CPUs (``num_threads``, else 2) and its ONNX
Runtime uses that many intra-op threads, so the tasks Ray places on a node never
oversubscribe its cores. ``--workers N`` caps the tasks in flight (default: all bags
submitted, Ray queues them until CPUs are free).
Paths are passed as they are: every node must see the inputs and ``--out-dir`` at
the same path (shared storage, see docs/bags.md). Failures are per bag: a task that
raises or whose worker dies gives that bag ``status: failed`` with the reason.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from typing import Any

from peoplesemseg_ros.bag.fleet import BagJob, FleetOptions, run_job, with_threads
from peoplesemseg_ros.bag.io import BagError
from peoplesemseg_ros.bag.runners import Progress, available_cores

__all__ = ["DEFAULT_TASK_THREADS", "run_ray"]

LOG = logging.getLogger("peoplesemseg.bag")
_CACHE: dict[str, Any] = {}
DEFAULT_TASK_THREADS = 2  # intra-op threads (= Ray CPUs) per task unless num_threads says


def _process_remote(job: BagJob, options: FleetOptions) -> dict[str, Any]:
    """Runs inside a Ray worker: the model is loaded on the first task of the process."""
    from peoplesemseg_ros.core.pipeline import Pipeline

    key = repr(options.settings.pipeline)
    loaded = False
    if _CACHE.get("key") != key:
        old = _CACHE.pop("pipeline", None)
        if old is not None:
            old.close()
        _CACHE["pipeline"] = Pipeline(options.settings.pipeline)
        _CACHE["key"] = key
        loaded = True
    result = run_job(_CACHE["pipeline"], job, options)
    result["worker"] = {"pid": os.getpid(), "loaded_model": loaded}
    return result


def run_ray(jobs: Sequence[BagJob], options: FleetOptions, workers: int,
            progress: Progress) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Results in input order, and where they ran (address, CPUs, threads, tasks)."""
    try:
        ray: Any = importlib.import_module("ray")  # untyped; an optional extra
    except ImportError as err:
        raise BagError(f"--ray needs Ray: pip install 'peoplesemseg_ros[fleet]' ({err})") \
            from err
    address = os.environ.get("RAY_ADDRESS") or None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, num_cpus=None if address else available_cores(),
                     include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=True)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise BagError(f"cannot reach the Ray cluster at {address}: {err}") from err
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        smallest = min((int(n["Resources"].get("CPU", 1)) for n in ray.nodes()
                        if n.get("Alive")), default=cpus)
        # Ray places a task only where `threads` CPUs are free: no node is oversubscribed.
        requested = options.settings.pipeline.num_threads
        threads = max(1, min(requested if requested > 0 else DEFAULT_TASK_THREADS, smallest))
        concurrent = min(workers if workers > 0 else len(jobs), len(jobs))
        opts = with_threads(options, threads)
        remote = ray.remote(num_cpus=threads)(_process_remote)
        results: dict[int, dict[str, Any]] = {}
        queued = list(enumerate(jobs))
        running: dict[Any, int] = {}
        while queued or running:
            while queued and len(running) < concurrent:
                i, job = queued.pop(0)
                running[remote.remote(job, opts)] = i
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                i = running.pop(ref)
                results[i] = _get(ray, ref, jobs[i])
                progress.frame(int(results[i].get("frames", 0)))
                progress.bag(results[i])
        info = {"ray_address": address or "local", "cluster_cpus": cpus,
                "workers": concurrent, "threads": threads}
        return [results[i] for i in range(len(jobs))], info
    finally:
        if started_here:
            ray.shutdown()


def _get(ray: Any, ref: Any, job: BagJob) -> dict[str, Any]:
    try:
        result: dict[str, Any] = ray.get(ref)
        return result
    except Exception as err:  # RayTaskError, WorkerCrashedError, ...: per bag
        cause = getattr(err, "cause", None) or err
        reason = f"{type(cause).__name__}: {cause}".splitlines()[0]
        LOG.error("%s: %s", job.input, reason)
        return {"input": str(job.input), "output": str(job.output), "status": "failed",
                "reason": reason}
