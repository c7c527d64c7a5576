"""`peoplesemseg bench`: every subcommand on tiny settings, JSON schema and sane numbers.

No timing assertions (speed goals live in the benchmark's own report): only that
each command runs, writes the JSON it prints, and that its figures are positive
and finite. Model / pipeline / node use the tiny "red pixels are people" model;
the baseline needs the embedded ShuffleSeg graph (it cuts it to a float-input,
logits-output network).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from tiny_models import make_model

from peoplesemseg_ros.bench import stats
from peoplesemseg_ros.bench.frames import parse_input
from peoplesemseg_ros.bench.machine import machine_info
from peoplesemseg_ros.cli import main
from peoplesemseg_ros.core.pipeline import EMBEDDED_MODEL_NAME

REPO = Path(__file__).resolve().parents[2]
EMBEDDED = REPO / "peoplesemseg_ros" / "models" / EMBEDDED_MODEL_NAME


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("bench") / "tiny.onnx", height=32, width=48)


def _bench(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    out = tmp_path / "bench.json"
    assert main(["bench", *argv, "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    written: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert printed == written
    m = written["machine"]
    assert m["cpu_model"] and m["cpu_cores"] >= 1 and len(m["load_average"]) == 3
    assert isinstance(written["targets"], dict)
    return written


def _positive(summary: dict[str, Any]) -> None:
    for key in ("p50_ms", "p95_ms", "mean_ms", "min_ms", "max_ms"):
        assert math.isfinite(summary[key]) and summary[key] >= 0, (key, summary)
    assert summary["p95_ms"] >= summary["p50_ms"] >= summary["min_ms"]


def test_stats_and_machine() -> None:
    s = stats.summarize([0.001, 0.002, 0.003], items_per_sample=2)
    assert s["n"] == 3 and s["p50_ms"] == pytest.approx(2.0)
    assert s["throughput_fps"] == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="no samples"):
        stats.summarize_ms([])
    assert machine_info()["cpu_cores"] >= 1


def test_parse_input_rejects_bad_names() -> None:
    assert parse_input("1920x1080_jpeg").compressed
    for bad in ("960x544", "960_rgb8", "0x544_rgb8", "960x544_yuv"):
        with pytest.raises(ValueError, match="must look like"):
            parse_input(bad)


def test_bench_model(tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: Path) -> None:
    report = _bench(tmp_path, capsys, "model", "--model", str(tiny), "--int8-model", str(tiny),
                    "--batch", "1,2", "--thread-list", "1", "--iters", "2", "--warmup", "1")
    results = report["model"]["results"]
    assert {(r["precision"], r["batch"]) for r in results} == {
        ("fp32", 1), ("fp32", 2), ("int8", 1), ("int8", 2)}
    for r in results:
        _positive(r)
        assert r["backend"] == "onnxruntime" and r["intra_op_threads"] == 1
        assert r["throughput_fps"] > 0 and r["execution_mode"] == "sequential"


def test_bench_model_int8_missing_is_a_clear_error(tiny: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from peoplesemseg_ros.bench import model

    # as on an install without the shipped INT8 file
    monkeypatch.setattr(model, "default_int8_model", lambda: None)
    with pytest.raises(SystemExit, match="needs an INT8 model"):
        main(["bench", "model", "--model", str(tiny), "--precision", "int8", "--iters", "1"])


def test_bench_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: Path) -> None:
    inputs = "96x64_rgb8,128x72_bgr8,160x90_jpeg"
    report = _bench(tmp_path, capsys, "pipeline", "--model", str(tiny), "--inputs", inputs,
                    "--iters", "2", "--warmup", "1")
    got = report["pipeline"]["inputs"]
    assert [r["input"] for r in got] == inputs.split(",")
    for r in got:
        assert set(r["stages"]) == {"decode", "preprocess", "inference", "postprocess",
                                    "overlay", "occupancy", "serialize"}
        for summary in (*r["stages"].values(), r["overhead"], r["overhead_no_overlay"]):
            _positive(summary)
            assert summary["n"] == 2
    assert "pipeline_overhead_p50_ms_960x544_rgb8" not in report["targets"]


def test_bench_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not EMBEDDED.is_file():
        pytest.skip(f"embedded model {EMBEDDED.name} not in this checkout")
    report = _bench(tmp_path, capsys, "baseline", "--inputs", "96x64_bgr8,160x90_jpeg",
                    "--iters", "1", "--warmup", "0")
    for r in report["baseline"]["inputs"]:
        for side in ("ours", "baseline"):
            for part in ("total", "inference", "overhead"):
                _positive(r[side][part])
        assert r["speedup_total_p50"] > 0 and math.isfinite(r["speedup_total_p50"])
        assert r["same_message_size"]


def test_bench_node(tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: Path) -> None:
    report = _bench(tmp_path, capsys, "node", "--model", str(tiny),
                    "--node-inputs", "96x64_rgb8,96x64_jpeg", "--frames", "6",
                    "--latency-frames", "4", "--node-warmup", "2", "--iters", "2",
                    "--timeout", "60")
    node = report["node"]
    assert [r["input"] for r in node["inputs"]] == ["96x64_rgb8", "96x64_jpeg"]
    for r in node["inputs"]:
        for run in ("echo", "latency", "sustained", "overload"):
            res = r[run]
            assert res["frames_published"] == (6 if run in ("sustained", "overload") else 4)
            assert 0 < res["masks_received"] <= res["frames_published"], (r["input"], run, res)
            _positive(res["e2e"])
            assert res["node"]["rss_mb_end"] > 0 and res["node"]["cpu_percent"] >= 0
        for key in ("overhead_p50_ms", "overhead_paced_p50_ms",
                    "overhead_vs_node_inference_p50_ms"):
            assert math.isfinite(r[key]), key
        _positive(r["model_only_paced"])
        assert r["throughput_ratio_vs_model"] > 0
        assert r["overload"]["dropped_frames"] >= 0
    mc = node["multicam"]
    assert mc["memory_ratio_one_over_two"] > 0
    assert mc["one_node_two_cameras"]["masks_received"] > 0
    assert mc["two_nodes"]["masks_received"] > 0
    assert {"node_overhead_p50_ms_960x544_rgb8"}.isdisjoint(report["targets"])


def test_perf_table_renders(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            tiny: Path) -> None:
    report = _bench(tmp_path, capsys, "pipeline", "--model", str(tiny), "--inputs",
                    "960x544_rgb8", "--iters", "1", "--warmup", "0")
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import perf_table
    finally:
        sys.path.pop(0)
    text = perf_table.render(report)
    assert "| 960x544_rgb8 |" in text and report["machine"]["cpu_model"] in text
    assert "in-process overhead p50, 960x544 rgb8" in text


def test_bench_model_named_backend_that_is_not_usable_fails_clearly() -> None:
    """`--backend tensorrt` without TensorRT says why instead of silently benching nothing."""
    from peoplesemseg_ros.core.backends.tensorrt import tensorrt_available

    if tensorrt_available()[0]:
        pytest.skip("TensorRT is usable here")
    with pytest.raises(SystemExit, match="backend 'tensorrt' is not usable here"):
        main(["bench", "model", "--backend", "tensorrt", "--batch", "1"])
