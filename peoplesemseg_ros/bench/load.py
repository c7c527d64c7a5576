"""``bench node --load N``: the node on a busy CPU, against ONNX Runtime's defaults.

Starts N busy processes itself (each spins one core at 100 % in pure Python, like a
driver or planner that never sleeps), then measures in alternating rounds, all in one
run and under the same load:

``model_ort_defaults``  the bare model, ONNX Runtime's defaults (runtime's thread count,
                        spin-waiting on), paced at the camera rate
``model_node_defaults`` the bare model with the node's defaults (spin-waiting off)
``node_ort_defaults``   the node end to end over DDS with ``intra_op_spinning: true``
``node_defaults``       the node end to end with its defaults
``echo``                the do-nothing echo node: the DDS floor

Each round runs every case once, the order reversed every other round (so drift of
the box's background load hits every case alike). Reported: per case the medians of
the per-round p50 / p90 and the p90 over all samples; the ratios the issue asks for
(``node_ort_defaults / node_defaults`` at p50 and p90, ``model_ort_defaults /
node_defaults`` at p50), per round and as the median over rounds.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from peoplesemseg_ros.bench.dds import DdsSession
from peoplesemseg_ros.bench.frames import InputSpec
from peoplesemseg_ros.bench.machine import load_average
from peoplesemseg_ros.bench.model import input_batch
from peoplesemseg_ros.bench.stats import tail_ms
from peoplesemseg_ros.bench.timing import time_infer
from peoplesemseg_ros.core.backends import BackendOptions, create_backend
from peoplesemseg_ros.core.pipeline import embedded_model_path

__all__ = ["CASES", "LoadBenchConfig", "bench_node_load", "busy_processes"]

CASES: Final = ("model_ort_defaults", "model_node_defaults", "node_ort_defaults",
                "node_defaults", "echo")
_BUSY: Final = "while True:\n    pass\n"


@dataclass(frozen=True)
class LoadBenchConfig:
    spec: InputSpec
    load: int = 1  # busy processes
    rounds: int = 6
    frames: int = 20  # measured frames per case and round
    warmup: int = 5
    rate_hz: float = 0.0  # camera rate; 0: half the model's throughput under the load
    model_path: Path | None = None
    timeout_s: float = 90.0


@contextmanager
def busy_processes(n: int) -> Iterator[list[int]]:
    """``n`` processes that each keep one core busy until the block ends."""
    procs = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(n)]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def _node_args(name: str, spinning: bool, model: Path | None) -> list[str]:
    """The node with its defaults, but for ``intra_op_spinning``."""
    args = ["-m", "peoplesemseg_ros.ros.node", "--ros-args", "-r", f"__node:={name}",
            "-r", f"__ns:=/{name}", "-p", "backend:=onnxruntime",
            "-p", f"intra_op_spinning:={'true' if spinning else 'false'}"]
    return args + (["-p", f"model_path:={model}"] if model is not None else [])


def _model(cfg: LoadBenchConfig, spinning: bool, iters: int, period_s: float) -> list[float]:
    backend = create_backend("onnxruntime", cfg.model_path or embedded_model_path(),
                             BackendOptions(num_threads=0, spinning=spinning))
    try:
        times = time_infer(backend, input_batch(backend, 1), 2, iters, period_s)
    finally:
        backend.close()
    return [float(t) for t in times]


def bench_node_load(cfg: LoadBenchConfig) -> dict[str, Any]:
    from peoplesemseg_ros.bench.node import run_latency

    out: dict[str, Any] = {"load_processes": cfg.load, "input": cfg.spec.name,
                           "rounds": cfg.rounds, "load_average_start": load_average()}
    with busy_processes(cfg.load), DdsSession() as session:
        probe = _model(cfg, False, 10, 0.0)
        rate = cfg.rate_hz or min(30.0, 0.5 / statistics.median(probe))
        out.update(rate_hz=rate, ros_domain_id=session.domain_id)
        procs = {"node_ort_defaults": session.start(
                     _node_args("load_ortdef", True, cfg.model_path), "node_ortdef"),
                 "node_defaults": session.start(
                     _node_args("load_tuned", False, cfg.model_path), "node_tuned"),
                 "echo": session.start_actor("echo", {"name": "load_echo",
                                                      "namespace": "/load_echo"}, "echo")}
        prefixes = {"node_ort_defaults": "/load_ortdef", "node_defaults": "/load_tuned",
                    "echo": "/load_echo"}
        samples: dict[str, list[list[float]]] = {c: [] for c in CASES}
        # An untimed run through each process first: discovery done, sessions warm.
        for case, proc in procs.items():
            diag = "" if case == "echo" else prefixes[case].strip("/")
            run_latency(session, prefixes[case], cfg.spec, rate, cfg.warmup, 2, proc, diag,
                        cfg.timeout_s)
        t0 = time.monotonic()
        for r in range(cfg.rounds):
            for case in (CASES if r % 2 == 0 else CASES[::-1]):
                if case.startswith("model_"):
                    samples[case].append(_model(cfg, case == "model_ort_defaults",
                                                cfg.frames, 1.0 / rate))
                else:
                    diag = "" if case == "echo" else prefixes[case].strip("/")
                    samples[case].append(run_latency(
                        session, prefixes[case], cfg.spec, rate, cfg.warmup, cfg.frames,
                        procs[case], diag, cfg.timeout_s))
        out["measure_s"] = time.monotonic() - t0
        for proc in procs.values():
            session.stop(proc)
    # A round where no mask came back (best-effort frames lost on a starved box) has no
    # figures: it is counted in "rounds_without_samples" and left out of the medians.
    out["cases"] = {c: {"per_round": [tail_ms(s) for s in rounds],
                        "rounds_without_samples": sum(not s for s in rounds),
                        "all": tail_ms([x for s in rounds for x in s])}
                    for c, rounds in samples.items()}
    for res in out["cases"].values():
        for k in ("p50_ms", "p90_ms"):
            res[f"median_round_{k}"] = statistics.median(
                x[k] for x in res["per_round"] if x["n"])
    out["ratios"] = _ratios(out["cases"])
    out["load_average_end"] = load_average()
    return out


def _ratios(cases: dict[str, Any]) -> dict[str, Any]:
    def per_round(num: str, den: str, key: str) -> list[float]:
        return [a[key] / b[key] for a, b in zip(cases[num]["per_round"],
                                                cases[den]["per_round"], strict=True)
                if a["n"] and b["n"]]

    result: dict[str, Any] = {}
    for name, num, key in (("node_ort_defaults_over_node_defaults_p50", "node_ort_defaults",
                            "p50_ms"),
                           ("node_ort_defaults_over_node_defaults_p90", "node_ort_defaults",
                            "p90_ms"),
                           ("model_ort_defaults_over_node_defaults_p50", "model_ort_defaults",
                            "p50_ms")):
        rounds = per_round(num, "node_defaults", key)
        result[name] = {"median_of_rounds": statistics.median(rounds) if rounds else None,
                        "per_round": rounds,
                        "of_pooled": cases[num]["all"][key] / cases["node_defaults"]["all"][key]}
    result["targets"] = {
        "node_vs_ort_defaults_p50_ge_1.25":
            (result["node_ort_defaults_over_node_defaults_p50"]["median_of_rounds"] or 0) >= 1.25,
        "node_vs_ort_defaults_p90_ge_1.25":
            (result["node_ort_defaults_over_node_defaults_p90"]["median_of_rounds"] or 0) >= 1.25,
        "node_vs_bare_model_p50_ge_1.1":
            (result["model_ort_defaults_over_node_defaults_p50"]["median_of_rounds"] or 0) >= 1.1}
    return result
