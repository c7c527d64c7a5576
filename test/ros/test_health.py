"""The node's health verdicts: level and message from its counters, worst first."""

from __future__ import annotations

from typing import Any

from peoplesemseg_ros.ros.diagnostics import Snapshot
from peoplesemseg_ros.ros.health import ERROR, OK, WARN, evaluate


def _snap(fps_in: float = 10.0, fps_out: float = 10.0, dropped: int = 0,
          rejected: dict[str, int] | None = None) -> Snapshot:
    return Snapshot(frames_in=100, frames_out=100, input_fps=fps_in, output_fps=fps_out,
                    dropped=dropped, rate_limited=0, rejected=rejected or {}, errors={},
                    latency_ms={}, cameras={})


def _verdict(**kw: Any) -> tuple[int, str]:
    args: dict[str, Any] = {
        "state": "active", "last_error": "", "failures": 0, "failure_message": "",
        "snap": _snap(), "last_rx": {"": 99.5}, "now": 100.0, "input_timeout": 2.0,
        "min_output_ratio": 0.5, "max_consecutive_failures": 3, "max_rate_hz": 0.0}
    args.update(kw)
    h = evaluate(**args)
    return h.level, h.message


def test_ok_with_the_counts() -> None:
    level, message = _verdict(snap=_snap(dropped=4, rejected={"bad_step": 2, "zero_size": 1}))
    assert level == OK
    assert message == "10.0 fps out, 4 dropped, 3 rejected"


def test_configure_failure_is_an_error_before_anything_else() -> None:
    level, message = _verdict(last_error="ModelLoadError: nope", state="unconfigured")
    assert (level, message) == (ERROR, "configure failed: ModelLoadError: nope")


def test_not_active_is_a_warning() -> None:
    assert _verdict(state="inactive") == (WARN, "not active (inactive)")


def test_repeated_inference_failures_are_an_error_and_name_the_failure() -> None:
    level, message = _verdict(failures=3, failure_message="InferenceError: boom")
    assert level == ERROR
    assert message.startswith("inference failed 3 times in a row (frames dropped): "
                              "InferenceError: boom")
    assert _verdict(failures=2, failure_message="x")[0] == OK  # below the threshold


def test_a_silent_camera_is_a_warning_naming_it() -> None:
    level, message = _verdict(last_rx={"front": 99.9, "rear": 90.0})
    assert level == WARN
    assert "no image on camera rear for 10.0 s (input_timeout 2 s)" in message
    assert "front" not in message
    assert _verdict(last_rx={"rear": 90.0}, input_timeout=0.0)[0] == OK  # check switched off


def test_low_output_rate_is_a_warning_capped_by_max_rate_hz() -> None:
    level, message = _verdict(snap=_snap(fps_in=30.0, fps_out=5.0))
    assert level == WARN and "output 5.0 fps is below 0.5 x input 30.0 fps" in message
    # 5 Hz asked for: 5 fps out of 30 in is what the rate limit makes, not a problem
    assert _verdict(snap=_snap(fps_in=30.0, fps_out=5.0), max_rate_hz=5.0)[0] == OK
    # under 2 fps in, one frame more or less would flap the level: no verdict
    assert _verdict(snap=_snap(fps_in=1.5, fps_out=0.0))[0] == OK


def test_errors_come_before_warnings_in_the_message() -> None:
    level, message = _verdict(failures=5, failure_message="E", last_rx={"": 0.0})
    assert level == ERROR
    assert message.index("inference failed") < message.index("no image on camera")
    assert message.endswith("10.0 fps out, 0 dropped, 0 rejected")
