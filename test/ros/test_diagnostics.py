"""NodeStats: typed per-camera counters, rates between snapshots, latency percentiles."""

from __future__ import annotations

import threading

import pytest

from peoplesemseg_ros.ros.diagnostics import CameraCounters, NodeStats, to_status


def test_counters_per_camera_and_totals() -> None:
    stats = NodeStats()
    stats.add("front", received=5, processed=3, published=3, dropped=1, rate_limited=1)
    stats.add("rear", received=2, published=2)
    snap = stats.snapshot(now=10.0)
    assert snap.cameras == {"front": CameraCounters(5, 3, 3, 1, 1),
                            "rear": CameraCounters(2, 0, 2, 0, 0)}
    assert (snap.frames_in, snap.frames_out, snap.dropped, snap.rate_limited) == (7, 5, 1, 1)


def test_rates_are_since_the_previous_snapshot() -> None:
    stats = NodeStats()
    assert stats.snapshot(now=100.0).input_fps == 0.0  # no previous report yet
    stats.add("", received=30, published=15)
    snap = stats.snapshot(now=102.0)
    assert snap.input_fps == pytest.approx(15.0) and snap.output_fps == pytest.approx(7.5)
    assert stats.snapshot(now=103.0).input_fps == 0.0  # nothing new in the last second


def test_rejections_errors_and_latency_percentiles() -> None:
    stats = NodeStats()
    stats.reject("bad_step")
    stats.reject("bad_step")
    stats.error("InferenceError")
    for ms in range(1, 101):
        stats.add_latency("inference", ms / 1000.0)
    snap = stats.snapshot(now=1.0)
    assert snap.rejected == {"bad_step": 2} and snap.errors == {"InferenceError": 1}
    p50, p95 = snap.latency_ms["inference"]
    assert p50 == pytest.approx(50.5) and p95 == pytest.approx(95.05)


def test_the_latency_window_keeps_the_newest_samples() -> None:
    stats = NodeStats()
    for _ in range(1000):
        stats.add_latency("total", 1.0)
    for _ in range(300):
        stats.add_latency("total", 0.002)
    assert stats.snapshot(now=1.0).latency_ms["total"] == pytest.approx((2.0, 2.0))


def test_counting_from_many_threads_loses_nothing() -> None:
    stats = NodeStats()

    def bump() -> None:
        for _ in range(2000):
            stats.add("cam", received=1)
    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.snapshot(now=1.0).cameras["cam"].received == 8000


def test_to_status_has_one_key_per_figure() -> None:
    stats = NodeStats()
    stats.add("front", received=3, published=2, rate_limited=1)
    stats.reject("zero_size")
    stats.add_latency("inference", 0.004)
    status = to_status("seg: people segmentation", "/seg", stats.snapshot(now=1.0),
                       {"backend": "onnxruntime"}, 0, "ok")
    values = {kv.key: kv.value for kv in status.values}
    assert values["backend"] == "onnxruntime"
    assert values["frames_in"] == "3" and values["frames_out"] == "2"
    assert values["rate_limited_frames"] == "1" and values["dropped_frames"] == "0"
    assert values["rejected_frames"] == "1" and values["rejected.zero_size"] == "1"
    assert values["latency_ms.inference.p50"] == "4.00"
    assert values["front.rate_limited"] == "1" and values["front.received"] == "3"
    assert status.level == b"\x00" and status.message == "ok"
