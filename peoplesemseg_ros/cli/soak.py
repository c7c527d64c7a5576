"""``peoplesemseg soak``: drive the live node with good and bad frames, report what happened.

The run is :func:`peoplesemseg_ros.testing.soak.soak` (see there for what is measured
and the exit status); it needs psutil (the ``[qa]`` extra), imported only when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=1.0, help="run at most this long")
    parser.add_argument("--frames", type=int, default=0,
                        help="stop after this many frames (0: only --minutes bounds the run)")
    parser.add_argument("--bad-ratio", type=float, default=0.1,
                        help="fraction of frames that are bad (cycling through the reasons)")
    parser.add_argument("--width", type=int, default=160, help="good frame width [px]")
    parser.add_argument("--height", type=int, default=120, help="good frame height [px]")
    parser.add_argument("--model", type=Path, default=None,
                        help="model_path for the node (default: the embedded model)")
    parser.add_argument("--verify", choices=("none", "red"), default="none",
                        help="red: check every mask against the 'red pixels are people' rule "
                        "of the tiny test models")
    parser.add_argument("--stall-s", type=float, default=2.0,
                        help="a wait for a mask longer than this is reported as a stall")
    parser.add_argument("--timeout-s", type=float, default=15.0,
                        help="a good frame whose mask does not come within this is lost")
    parser.add_argument("--rss-every", type=float, default=1.0, help="RSS sample period [s]")
    parser.add_argument("--warmup-frames", type=int, default=200,
                        help="RSS growth is measured from the first sample after these frames")
    parser.add_argument("--seed", type=int, default=0, help="which frames are bad")
    parser.add_argument("--namespace", default="", help="node namespace (default: per pid)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")


def run(args: argparse.Namespace) -> int:
    from peoplesemseg_ros.testing.soak import soak  # needs psutil (the [qa] extra)

    report = soak(args)
    text = json.dumps(report, indent=2, sort_keys=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    summary = report["summary"]
    print(f"soak: {summary}", file=sys.stderr)
    if args.out is None:
        print(text)
    return 0 if report["ok"] else 1
