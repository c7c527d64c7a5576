#!/usr/bin/env python3
"""`peoplesemseg bench ... --out bench.json` -> the markdown performance tables.

Usage: python tools/perf_table.py bench.json [--out docs/perf_table.md]

Only the sections present in the JSON are rendered. Pure standard library.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "render"]


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def _machine(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    load = m.get("load_average", [])
    end = report.get("load_average_end", [])
    return [f"Machine: **{m['cpu_model']}**, {m['cpu_cores']} cores; ONNX Runtime "
            f"{m.get('versions', {}).get('onnxruntime', '?')}, numpy "
            f"{m.get('versions', {}).get('numpy', '?')}; load average at start "
            f"{_f(load[0] if load else None, 2)}, at end {_f(end[0] if end else None, 2)} "
            f"(1 min); measured {m.get('time_utc', '?')} in {_f(report.get('duration_s'), 0)} s.",
            "", f"Command: `{report.get('command', 'peoplesemseg bench all')}`", ""]


def _model(sec: dict[str, Any]) -> list[str]:
    rows = [[r["backend"], r["precision"], str(r["batch"]), str(r.get("intra_op_threads", "-")),
             _f(r["p50_ms"]), _f(r["p95_ms"]), _f(r["per_frame_p50_ms"]),
             _f(r["throughput_fps"])] for r in sec["results"]]
    lines = ["### Model only (`bench model`)", ""]
    lines += _table(["backend", "precision", "batch", "intra-op threads", "p50 ms / batch",
                     "p95 ms", "p50 ms / frame", "frames/s"], rows)
    if sec.get("backends_skipped"):
        lines += ["Not measured: " + "; ".join(f"{k} ({v})" for k, v in
                                               sec["backends_skipped"].items()), ""]
    return lines


_STAGES = ("decode", "preprocess", "inference", "postprocess", "overlay", "occupancy",
           "serialize")


def _pipeline(sec: dict[str, Any]) -> list[str]:
    rows = []
    for r in sec["inputs"]:
        st = r["stages"]
        rows.append([r["input"], *(_f(st[s]["p50_ms"], 2) for s in _STAGES),
                     f"**{_f(r['overhead']['p50_ms'], 2)}** / {_f(r['overhead']['p95_ms'], 2)}",
                     _f(r["overhead_no_overlay"]["p50_ms"], 2),
                     f"{_f(r['overhead_replay']['wall']['p50_ms'], 2)} / "
                     f"{_f(r['overhead_replay']['cpu']['p50_ms'], 2)}"])
    lines = [f"### In-process pipeline (`bench pipeline`, p50 ms; {sec['backend']} "
             f"{sec['precision']}, {sec['threads']} thread(s))", ""]
    lines += _table(["input", *_STAGES, "overhead p50 / p95", "overhead w/o overlay",
                     "replay wall / CPU p50"], rows)
    return [*lines, "Overhead = every stage but inference, per frame. Replay: the same stages "
            "back to back on a fixed class map (warm caches), wall and thread CPU time; CPU "
            "time excludes what the scheduler gave to other processes.", ""]


def _baseline(sec: dict[str, Any]) -> list[str]:
    rows = [[r["input"], _f(r["ours"]["total"]["p50_ms"]), _f(r["baseline"]["total"]["p50_ms"]),
             f"**{_f(r['speedup_total_p50'], 2)}x**", _f(r["ours"]["overhead"]["p50_ms"], 2),
             _f(r["baseline"]["overhead"]["p50_ms"], 2), f"{_f(r['speedup_overhead_p50'], 0)}x"]
            for r in sec["inputs"]]
    lines = ["### Against a tutorial-style pipeline (`bench baseline`, same frames, same run)",
             ""]
    return lines + _table(["input", "ours p50 ms", "tutorial p50 ms", "speed-up",
                           "ours overhead p50", "tutorial overhead p50", "overhead ratio"], rows)


def _node(sec: dict[str, Any]) -> list[str]:
    rows, over_rows = [], []
    for r in sec["inputs"]:
        lat, sus, over = r["latency"], r["sustained"], r["overload"]
        e2e = lat.get("e2e", {})
        rows.append([
            r["input"], f"{_f(r['model_only']['p50_ms'])} / {_f(r['model_only_paced']['p50_ms'])}",
            _f(r["echo"].get("e2e", {}).get("p50_ms")),
            f"{_f(e2e.get('p50_ms'))} / {_f(e2e.get('p95_ms'))}",
            f"**{_f(r.get('overhead_p50_ms'))}**", f"**{_f(r.get('overhead_paced_p50_ms'))}**",
            _f(r.get("overhead_vs_node_inference_p50_ms")),
            _f(sus.get("throughput_fps")),
            f"{_f(r['model_only']['throughput_fps'])} / "
            f"{_f(r['model_only_during_echo_stream']['throughput_fps'])}",
            f"**{_f(r.get('throughput_ratio_vs_model'), 2)}** / "
            f"**{_f(r.get('throughput_ratio_vs_model_during_stream'), 2)}**",
            _f(sus["node"]["cpu_percent"], 0), _f(sus["node"]["rss_mb_end"], 0),
            _f(sus["node"]["rss_growth_percent"], 2)])
        over_rows.append([
            r["input"], _f(over["rate_hz"]), _f(over.get("e2e", {}).get("p50_ms")),
            f"{_f(over.get('e2e_first_half_p50_ms'))} / {_f(over.get('e2e_second_half_p50_ms'))}",
            f"{over.get('dropped_frames', '-')} / {over['not_received']} of "
            f"{over['frames_published']}", _f(over.get("throughput_fps"))])
    lines = [f"### Live node over DDS (`bench node`, {sec['threads']} inference thread(s))", "",
             "Overhead = e2e p50 - model-only p50 - echo-node p50; model-only timed back to "
             "back / paced at the camera's rate; the last overhead column subtracts the "
             "node's own inference p50 (its /diagnostics) instead. Throughput with the camera "
             "at 1.2x the model's rate, against the model alone and against the model timed "
             "while the same camera stream flows through DDS to the echo node.", ""]
    lines += _table(["input", "model p50 ms (tight / paced)", "echo p50 ms", "e2e p50 / p95 ms",
                     "overhead p50 ms", "overhead (paced model)", "overhead vs node's inference",
                     "node fps", "model fps (alone / during stream)", "ratio", "node CPU %",
                     "RSS MB",
                     "RSS growth %"], rows)
    lines += ["Camera 2.5x faster than the model (newest frame wins):", ""]
    lines += _table(["input", "camera Hz", "e2e p50 ms", "e2e p50 first / second half",
                     "dropped (diagnostics) / not received", "masks/s"], over_rows)
    mc = sec.get("multicam")
    if mc:
        one, two = mc["one_node_two_cameras"], mc["two_nodes"]
        lines += [f"Multi-camera ({mc['input']}, each camera at 1.2x the model's rate, batch "
                  f"window {_f(mc['batch_window_ms'], 0)} ms; "
                  f"{mc.get('threads_one_node', '?')} inference thread(s) in the one node, "
                  f"{mc.get('threads_per_node_two_nodes', '?')} in each of the two):", ""]
        lines += _table(["setup", "masks/s (both cameras)", "e2e p50 ms", "RSS MB (sum)"], [
            ["one node, cameras [cam0, cam1], max_batch 2", _f(one.get("throughput_fps")),
             _f(one.get("e2e", {}).get("p50_ms")), _f(one["node"]["rss_mb_end"], 0)],
            ["two single-camera nodes", _f(two.get("throughput_fps")),
             _f(two.get("e2e", {}).get("p50_ms")), _f(two["node"]["rss_mb_end"], 0)],
            ["ratio one / two", _f(mc.get("throughput_ratio_one_over_two"), 2), "-",
             _f(mc["memory_ratio_one_over_two"], 2)]])
    return lines


def _targets(sec: dict[str, Any]) -> list[str]:
    rows = [[t["what"], _f(t["value"], 2), t["target"], _f(t["holds"]), t.get("note", "")]
            for t in sec.values()]
    return ["### Targets (issue 8)", "", *_table(["target", "measured", "goal", "holds", "note"],
                                                  rows)]


def render(report: dict[str, Any]) -> str:
    lines = _machine(report)
    for key, fn in (("targets", _targets), ("model", _model), ("pipeline", _pipeline),
                    ("baseline", _baseline), ("node", _node)):
        if report.get(key):
            lines += fn(report[key])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="output of peoplesemseg bench --out")
    parser.add_argument("--out", type=Path, help="write the markdown here (default stdout)")
    args = parser.parse_args(argv)
    text = render(json.loads(args.json.read_text(encoding="utf-8")))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
