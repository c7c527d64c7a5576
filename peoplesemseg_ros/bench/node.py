"""``bench node``: the live node over real DDS, publisher -> node -> subscriber processes.

Per input (in one run, one node process per transport):

``echo``      the do-nothing echo node at the slow rate: the DDS floor
``latency``   the node at the slow rate (half the model's throughput): e2e p50/p95
``sustained`` the camera at 1.2x the model's throughput: sustained throughput, node
              CPU and RSS (growth over the run, after warm-up)
``overload``  the camera at 2.5x: latency must not grow (first vs second half;
              newest frame wins), frames dropped (node's /diagnostics) and not received

plus model-only latency in the same process run (``overhead = e2e p50 - model p50 -
echo p50``) and, with ``multicam``, one node with ``cameras: [cam0, cam1]``
(batched) against two single-camera nodes: throughput and memory ratios.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from peoplesemseg_ros.bench.dds import DdsSession
from peoplesemseg_ros.bench.frames import InputSpec
from peoplesemseg_ros.bench.machine import load_average
from peoplesemseg_ros.bench.model import input_batch, time_backend
from peoplesemseg_ros.bench.stats import summarize, summarize_ms
from peoplesemseg_ros.core.backends import BackendOptions, create_backend
from peoplesemseg_ros.core.pipeline import embedded_model_path

__all__ = ["NodeBenchConfig", "bench_node", "run_latency"]


@dataclass(frozen=True)
class NodeBenchConfig:
    inputs: tuple[InputSpec, ...]
    frames: int = 100  # measured frames of the sustained run (RSS growth is over these)
    latency_frames: int = 40  # measured frames of each slow (latency / echo) run
    warmup: int = 10
    threads: int = 1
    model_path: Path | None = None
    multicam: bool = True
    batch_window_ms: float = 10.0
    timeout_s: float = 60.0
    max_camera_hz: float = 60.0  # cap on the publish rate (a tiny test model runs at kHz)
    slow_factor: float = 0.5  # latency / echo runs: camera at this x model throughput
    sustained_factor: float = 1.2  # throughput run: a camera just faster than the model
    overload_factor: float = 2.5  # newest-frame-wins run: a camera much faster
    multicam_threads: int = 0  # inference threads of the one multi-camera node (0: threads)
    max_side_frames: int = 200  # cap on the overload and control runs when frames is large

    @property
    def side_frames(self) -> int:
        return min(self.frames, self.max_side_frames)

    def rate(self, factor: float, model_fps: float) -> float:
        """Camera rate for ``factor`` x the model's throughput, capped at max_camera_hz."""
        return min(factor * model_fps, self.max_camera_hz)


def _node_args(name: str, namespace: str, cfg: NodeBenchConfig, compressed: bool,
               cameras: Sequence[str] = (), max_batch: int = 1) -> list[str]:
    args = ["-m", "peoplesemseg_ros.ros.node", "--ros-args", "-r", f"__node:={name}",
            "-r", f"__ns:={namespace}", "-p", f"num_threads:={cfg.threads}",
            "-p", f"max_batch:={max_batch}", "-p", f"batch_window_ms:={cfg.batch_window_ms}",
            "-p", "backend:=onnxruntime"]
    if cfg.model_path is not None:
        args += ["-p", f"model_path:={cfg.model_path}"]
    if compressed:
        args += ["-p", "input_transport:=compressed"]
    if cameras:
        args += ["-p", f"cameras:=[{','.join(cameras)}]"]
    return args


class _Watch:
    """CPU time and RSS of node processes between the publisher's start and done marks."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.rss_peak = 0
        self.start: tuple[float, float, int] | None = None
        self.end: tuple[float, float, int] | None = None

    def _sample(self) -> tuple[float, float, int]:
        cpu = sum(p.cpu_times().user + p.cpu_times().system for p in self.procs)
        rss = sum(p.memory_info().rss for p in self.procs)
        return time.monotonic(), cpu, rss

    def poll(self) -> None:
        self.rss_peak = max(self.rss_peak, self._sample()[2])

    def mark_start(self) -> None:
        self.start = self._sample()

    def mark_end(self) -> None:
        self.end = self._sample()

    def result(self) -> dict[str, Any]:
        if self.start is None or self.end is None:
            raise RuntimeError("node watch was not started and ended")
        wall = self.end[0] - self.start[0]
        return {"cpu_percent": 100.0 * (self.end[1] - self.start[1]) / wall if wall > 0 else 0.0,
                "rss_mb_start": self.start[2] / 2**20, "rss_mb_end": self.end[2] / 2**20,
                "rss_mb_peak": max(self.rss_peak, self.end[2]) / 2**20,
                "rss_growth_percent": 100.0 * (self.end[2] - self.start[2]) / self.start[2]}


def _run(session: DdsSession, prefixes: Sequence[str], spec: InputSpec, rate_hz: float,
         warmup: int, frames: int, nodes: Sequence[subprocess.Popen[bytes]], diag_name: str,
         timeout_s: float, on_start: Callable[[], None] | None = None,
         keep_samples: bool = False) -> dict[str, Any]:
    """One publisher -> node(s) -> subscriber run; the node processes are already up."""
    files = {k: session.path(k) for k in ("ready", "flowing", "started", "done", "pub", "sub")}
    common = {"prefixes": list(prefixes), "input": spec.name, "warmup": warmup,
              "frames": frames, "timeout_s": timeout_s,
              "publish_s": (warmup + frames) / rate_hz, **{k: files[k] for k in
                                                           ("ready", "flowing", "started",
                                                            "done")}}
    model_period = 1.0 / rate_hz
    sub = session.start_actor("sub", {**common, "result": files["sub"], "diag_name": diag_name,
                                      # waits only while masks are missing; 5 s floor for
                                      # a node starved by a busy 2-core box
                                      "drain_s": max(5.0, 10 * model_period)}, "sub")
    pub = session.start_actor("pub", {**common, "result": files["pub"], "rate_hz": rate_hz},
                              "pub")
    watch = _Watch([p.pid for p in nodes])
    everyone = [sub, pub, *nodes]
    session.wait_file(files["started"], 2 * timeout_s, everyone,
                      "the publisher to start (masks flowing)")
    watch.mark_start()
    if on_start is not None:
        on_start()
    session.wait_file(files["done"], timeout_s + (warmup + frames) / rate_hz, everyone,
                      "the publisher to finish", on_poll=watch.poll)
    watch.mark_end()
    session.wait_exit(pub, timeout_s)
    session.wait_exit(sub, timeout_s)
    pres = json.loads(Path(files["pub"]).read_text(encoding="utf-8"))
    sres = json.loads(Path(files["sub"]).read_text(encoding="utf-8"))
    arrivals = sres["arrivals"]
    expected = frames * len(prefixes)
    out: dict[str, Any] = {"rate_hz": rate_hz, "frames_published": expected,
                           "masks_received": len(arrivals),
                           "not_received": expected - len(arrivals),
                           "publish_call_ms_mean": pres["publish_call_ms_mean"]}
    lat = [a[2] / 1e9 for a in arrivals]
    if keep_samples:
        out["e2e_samples_s"] = lat
    if lat:
        # one mask is a latency sample too: a starved node on a loaded box may
        # answer only one of a short run's frames, and the overheads need it
        out["e2e"] = summarize_ms(lat)
    if len(lat) >= 2:
        t = sorted(a[3] for a in arrivals)
        half = len(lat) // 2
        out["e2e_first_half_p50_ms"] = float(np.percentile(lat[:half], 50)) * 1000
        out["e2e_second_half_p50_ms"] = float(np.percentile(lat[half:], 50)) * 1000
        out["throughput_fps"] = (len(t) - 1) / (t[-1] - t[0]) if t[-1] > t[0] else 0.0
    start, end = sres["diag_start"], sres["diag_end"]
    if end:
        out["dropped_frames"] = int(end.get("dropped_frames", 0)) - int(
            start.get("dropped_frames", 0))
        out["diagnostics_latency_ms"] = {k[len("latency_ms."):]: float(v)
                                         for k, v in end.items() if k.startswith("latency_ms.")}
    out["node"] = watch.result()
    return out


def run_latency(session: DdsSession, prefix: str, spec: InputSpec, rate_hz: float, warmup: int,
                frames: int, node: subprocess.Popen[bytes], diag_name: str,
                timeout_s: float) -> list[float]:
    """End-to-end seconds of each mask received in one run through ``node``."""
    run = _run(session, [prefix], spec, rate_hz, warmup, frames, [node], diag_name, timeout_s,
               keep_samples=True)
    samples: list[float] = run["e2e_samples_s"]
    return samples


def _model_only(cfg: NodeBenchConfig, batch: int, iters: int,
                period_s: float = 0.0) -> dict[str, Any]:
    backend = create_backend("onnxruntime", cfg.model_path or embedded_model_path(),
                             BackendOptions(num_threads=cfg.threads, max_batch=batch))
    try:
        return time_backend(backend, batch, warmup=3, iters=iters, period_s=period_s)
    finally:
        backend.close()


def _model_during(cfg: NodeBenchConfig, started: threading.Event,
                  stop: threading.Event) -> dict[str, Any]:
    """Model-only, back to back, timed between ``started`` and ``stop`` (another run's window)."""
    backend = create_backend("onnxruntime", cfg.model_path or embedded_model_path(),
                             BackendOptions(num_threads=cfg.threads, max_batch=1))
    try:
        data = input_batch(backend, 1)
        times: list[float] = []
        while not stop.is_set():
            t0 = time.perf_counter()
            backend.infer(data)
            if started.is_set():
                times.append(time.perf_counter() - t0)
    finally:
        backend.close()
    if not times:
        raise RuntimeError("the echo run ended before one model-only inference was timed")
    return summarize(times)


def _echo_with_model(session: DdsSession, cfg: NodeBenchConfig, spec: InputSpec,
                     echo: subprocess.Popen[bytes], rate_hz: float) -> dict[str, Any]:
    """The echo node at ``rate_hz`` while the model runs back to back in this process.

    The control for the sustained run: what the model alone achieves while the same
    camera stream goes through DDS on this box (publisher, subscriber, echo node).
    """
    started, stop = threading.Event(), threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_model_during, cfg, started, stop)
        try:
            run = _run(session, ["/bench_echo"], spec, rate_hz, cfg.warmup, cfg.side_frames, [echo],
                       "", cfg.timeout_s, on_start=started.set)
        finally:
            stop.set()
        model = future.result()
    return {"echo": run, "model_only": model}


def _per_input(session: DdsSession, cfg: NodeBenchConfig, spec: InputSpec,
               node: subprocess.Popen[bytes], echo: subprocess.Popen[bytes],
               model_fps: float) -> dict[str, Any]:
    slow = cfg.rate(cfg.slow_factor, model_fps)
    t = cfg.timeout_s
    echo_run = _run(session, ["/bench_echo"], spec, slow, cfg.warmup, cfg.latency_frames,
                    [echo], "", t)
    # Model-only right before the node's latency run (the same load on the box): back to
    # back, and paced at the latency run's camera rate.
    model = _model_only(cfg, 1, 20)
    paced = _model_only(cfg, 1, min(cfg.latency_frames, 20), period_s=1.0 / slow)
    lat_run = _run(session, ["/bench_node"], spec, slow, cfg.warmup, cfg.latency_frames,
                   [node], "bench_node", t)
    sustained_hz = cfg.rate(cfg.sustained_factor, model_fps)
    control = _echo_with_model(session, cfg, spec, echo, sustained_hz)
    sustained = _run(session, ["/bench_node"], spec, sustained_hz, cfg.warmup, cfg.frames,
                     [node], "bench_node", t)
    over_run = _run(session, ["/bench_node"], spec, cfg.rate(cfg.overload_factor, model_fps),
                    cfg.warmup, cfg.side_frames, [node], "bench_node", t)
    return {"input": spec.name, "model_only": model, "model_only_paced": paced,
            "echo": echo_run, "latency": lat_run, "sustained": sustained, "overload": over_run,
            "model_only_during_echo_stream": control["model_only"],
            "echo_sustained": control["echo"]}


def _multicam(session: DdsSession, cfg: NodeBenchConfig, spec: InputSpec,
              model_fps: float) -> dict[str, Any]:
    fast = cfg.rate(cfg.sustained_factor, model_fps)
    # Default: the same threads per node (on a 2-core box a second ORT thread is slower, see
    # bench model); multicam_threads gives the one node another budget.
    multi_cfg = replace(cfg, threads=cfg.multicam_threads or cfg.threads)
    args = _node_args("bench_multi", "/bench_multi", multi_cfg, spec.compressed, ("cam0", "cam1"),
                      2)
    multi = session.start(args, "multi")
    one = _run(session, ["/bench_multi/cam0", "/bench_multi/cam1"], spec, fast, cfg.warmup,
               cfg.side_frames, [multi], "bench_multi", cfg.timeout_s)
    session.stop(multi)
    singles = [session.start(_node_args(f"bench_single{i}", f"/bench_single{i}", cfg,
                                        spec.compressed), f"single{i}") for i in (0, 1)]
    two = _run(session, ["/bench_single0", "/bench_single1"], spec, fast, cfg.warmup,
               cfg.side_frames, singles, "bench_single", cfg.timeout_s)
    for proc in singles:
        session.stop(proc)
    ratio: dict[str, Any] = {
        "memory_ratio_one_over_two": one["node"]["rss_mb_end"] / two["node"]["rss_mb_end"]}
    if "throughput_fps" in one and "throughput_fps" in two and two["throughput_fps"] > 0:
        ratio["throughput_ratio_one_over_two"] = one["throughput_fps"] / two["throughput_fps"]
    return {"input": spec.name, "batch_window_ms": cfg.batch_window_ms,
            "threads_one_node": multi_cfg.threads, "threads_per_node_two_nodes": cfg.threads,
            "one_node_two_cameras": one, "two_nodes": two, **ratio}


def _derive(r: dict[str, Any]) -> None:
    """Overheads, throughput ratio and the overload latency check of one input.

    ``overhead_p50_ms`` = e2e p50 - model-only p50 - echo p50 (issue 8), with the
    model timed back to back; ``overhead_paced_p50_ms`` times the model at the
    latency run's camera rate instead (idle gaps like the node's);
    ``overhead_vs_node_inference_p50_ms`` subtracts the node's own inference p50
    (its /diagnostics, the same frames). Under background load the three differ
    by how much slower inference runs in the node than in a tight loop.
    """
    e2e, floor = r["latency"].get("e2e"), r["echo"].get("e2e")
    if e2e is not None and floor is not None:
        base = float(e2e["p50_ms"]) - float(floor["p50_ms"])
        r["overhead_p50_ms"] = base - float(r["model_only"]["p50_ms"])
        r["overhead_paced_p50_ms"] = base - float(r["model_only_paced"]["p50_ms"])
        node_inf = r["latency"].get("diagnostics_latency_ms", {}).get("inference.p50")
        if node_inf is not None:
            r["overhead_vs_node_inference_p50_ms"] = base - float(node_inf)
    sus = r["sustained"]
    if "throughput_fps" in sus:
        r["throughput_ratio_vs_model"] = sus["throughput_fps"] / float(
            r["model_only"]["throughput_fps"])
        r["throughput_ratio_vs_model_during_stream"] = sus["throughput_fps"] / float(
            r["model_only_during_echo_stream"]["throughput_fps"])
    over = r["overload"]
    if "e2e" in over and e2e is not None:
        r["overload_latency_p50_over_latency_p50"] = (float(over["e2e"]["p50_ms"])
                                                      / float(e2e["p50_ms"]))


def bench_node(cfg: NodeBenchConfig) -> dict[str, Any]:
    model1 = _model_only(cfg, 1, 20)
    model_fps = float(model1["throughput_fps"])
    results: list[dict[str, Any]] = []
    out: dict[str, Any] = {"threads": cfg.threads, "model_only": {"batch1": model1},
                           "inputs": results, "load_average_start": load_average()}
    with DdsSession() as session:
        out["ros_domain_id"] = session.domain_id
        echo = session.start_actor("echo", {"name": "bench_echo", "namespace": "/bench_echo"},
                                   "echo")
        for compressed in (False, True):
            specs = [s for s in cfg.inputs if s.compressed == compressed]
            if not specs:
                continue
            node = session.start(_node_args("bench_node", "/bench_node", cfg, compressed),
                                 "node_compressed" if compressed else "node_raw")
            for spec in specs:
                results.append(_per_input(session, cfg, spec, node, echo, model_fps))
            session.stop(node)
        session.stop(echo)
        if cfg.multicam:
            out["model_only"]["batch2"] = _model_only(cfg, 2, 10)
            out["multicam"] = _multicam(session, cfg, cfg.inputs[0], model_fps)
    for r in results:
        _derive(r)
    out["load_average_end"] = load_average()
    return out
