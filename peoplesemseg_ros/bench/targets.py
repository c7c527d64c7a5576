"""Issue 8's targets, checked against a bench report (whatever sections it has)."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["TARGETS", "evaluate_targets"]

# name -> (what, limit, comparison)
TARGETS: Final = {
    "pipeline_overhead_p50_ms_960x544_rgb8": ("in-process overhead p50, 960x544 rgb8", 2.0, "<="),
    "pipeline_overhead_p50_ms_1920x1080_bgr8": ("in-process overhead p50, 1920x1080 bgr8", 6.0,
                                                "<="),
    "node_overhead_p50_ms_960x544_rgb8": ("DDS overhead p50 (e2e - model - echo), 960x544 rgb8",
                                          3.0, "<="),
    "node_overhead_paced_p50_ms_960x544_rgb8": (
        "the same, model-only timed at the camera's rate (idle gaps like the node's)", 3.0, "<="),
    "node_overhead_vs_node_inference_p50_ms_960x544_rgb8": (
        "the same, model time = the node's own inference p50 on the same frames", 3.0, "<="),
    "node_overload_latency_growth_960x544_rgb8": (
        "camera 2.5x faster than the model: e2e p50 second half / first half", 1.25, "<="),
    "node_throughput_ratio_960x544_rgb8": ("sustained node throughput / model-only throughput",
                                           0.9, ">="),
    "node_throughput_ratio_during_stream_960x544_rgb8": (
        "the same, model-only timed while the camera stream flows through DDS to the echo node",
        0.9, ">="),
    "node_rss_growth_percent": ("node RSS growth after warm-up (sustained run, 960x544 rgb8)",
                                5.0, "<"),
}


def _find(items: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((i for i in items if i.get("input") == name), None)


def _measured(report: dict[str, Any]) -> dict[str, float]:
    got: dict[str, float] = {}
    for inp in report.get("pipeline", {}).get("inputs", []):
        got[f"pipeline_overhead_p50_ms_{inp['input']}"] = float(inp["overhead"]["p50_ms"])
    node = _find(report.get("node", {}).get("inputs", []), "960x544_rgb8")
    if node is not None:
        for key in ("overhead_p50_ms", "overhead_paced_p50_ms",
                    "overhead_vs_node_inference_p50_ms"):
            if key in node:
                got[f"node_{key}_960x544_rgb8"] = float(node[key])
        over = node["overload"]
        if "e2e_first_half_p50_ms" in over:
            got["node_overload_latency_growth_960x544_rgb8"] = (
                float(over["e2e_second_half_p50_ms"]) / float(over["e2e_first_half_p50_ms"]))
        if "throughput_ratio_vs_model" in node:
            got["node_throughput_ratio_960x544_rgb8"] = float(node["throughput_ratio_vs_model"])
            got["node_throughput_ratio_during_stream_960x544_rgb8"] = float(
                node["throughput_ratio_vs_model_during_stream"])
        got["node_rss_growth_percent"] = float(node["sustained"]["node"]["rss_growth_percent"])
    return got


def evaluate_targets(report: dict[str, Any]) -> dict[str, Any]:
    got = _measured(report)
    out: dict[str, Any] = {}
    for name, (what, limit, op) in TARGETS.items():
        if name not in got:
            continue
        value = got[name]
        holds = value <= limit if op == "<=" else value >= limit if op == ">=" else value < limit
        out[name] = {"what": what, "value": value, "target": f"{op} {limit}", "holds": holds}
    node = _find(report.get("node", {}).get("inputs", []), "960x544_rgb8")
    if node is not None and "node_rss_growth_percent" in out:
        frames = node["sustained"]["frames_published"]
        out["node_rss_growth_percent"]["frames"] = frames
        if frames < 5000:
            out["node_rss_growth_percent"]["note"] = (
                f"over {frames} frames; the issue's target is over 5000 (--frames 5000)")
    return out
