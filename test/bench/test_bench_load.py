"""`bench bag` and `bench node --load N` on tiny settings: they run and report what they say.

No timing assertions: only the JSON's shape, that every case was measured in every
round, and that the busy processes really ran and are gone afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil
import pytest
from tiny_models import make_model

from peoplesemseg_ros.bench.load import CASES, busy_processes
from peoplesemseg_ros.cli import main
from peoplesemseg_ros.core.pipeline import Pipeline, PipelineConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("load") / "tiny.onnx", height=32, width=48)


def _bench(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    out = tmp_path / "bench.json"
    assert main(["bench", *argv, "--out", str(out)]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report == json.loads(out.read_text(encoding="utf-8"))
    return report


def test_busy_processes_burn_a_core_each_and_are_stopped() -> None:
    with busy_processes(2) as pids:
        procs = [psutil.Process(p) for p in pids]
        for p in procs:
            p.cpu_percent(None)
        cpu = [p.cpu_times().user for p in procs]
        while min(p.cpu_times().user - c for p, c in zip(procs, cpu, strict=True)) < 0.05:
            assert all(p.is_running() for p in procs)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                   for p in pids)


def test_spinning_parameter_reaches_the_onnxruntime_session(tiny: Path) -> None:
    for spinning, value in ((False, "0"), (True, "1")):
        with Pipeline(PipelineConfig(model_path=tiny, backend="onnxruntime",
                                     spinning=spinning)) as pipe:
            so = pipe.backend._session.get_session_options()  # type: ignore[attr-defined]
            assert so.get_session_config_entry("session.intra_op.allow_spinning") == value


def test_bench_bag_reports_both_throughputs_from_one_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: Path) -> None:
    report = _bench(tmp_path, capsys, "bag", "--model", str(tiny), "--input", "96x64_rgb8",
                    "--frames", "8", "--max-batch", "2", "--rounds", "2")
    bag = report["bag"]
    assert len(bag["rounds"]) == 2
    for row in bag["rounds"]:
        assert row["model_fps"] > 0 and row["bag_fps"] > 0
        assert row["bag_over_model"] == pytest.approx(row["bag_fps"] / row["model_fps"])
    assert bag["target"] == 0.85 and isinstance(bag["meets_target"], bool)
    assert set(bag["last_bag_stage_ms_per_frame"]) >= {"decode", "inference", "serialize"}


def test_bench_node_under_load_alternating_rounds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: Path) -> None:
    report = _bench(tmp_path, capsys, "node", "--model", str(tiny), "--load", "1",
                    "--rounds", "2", "--node-inputs", "96x64_rgb8", "--latency-frames", "4",
                    "--node-warmup", "2", "--timeout", "60")
    node = report["node"]
    assert node["load_processes"] == 1 and node["rounds"] == 2
    assert set(node["cases"]) == set(CASES)
    for case in CASES:
        res = node["cases"][case]
        assert len(res["per_round"]) == 2, case  # measured in every round
        assert res["rounds_without_samples"] < 2, case  # samples in at least one of them
        assert res["median_round_p90_ms"] >= res["median_round_p50_ms"] > 0
    ratios = node["ratios"]
    assert 1 <= len(ratios["node_ort_defaults_over_node_defaults_p50"]["per_round"]) <= 2
    assert set(ratios["targets"]) == {"node_vs_ort_defaults_p50_ge_1.25",
                                      "node_vs_ort_defaults_p90_ge_1.25",
                                      "node_vs_bare_model_p50_ge_1.1"}
