"""The ordered read | batch | write pipeline of bag processing, with real threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from peoplesemseg_ros.bag.stream import run_ordered


def _items(n: int, fail_at: int | None = None) -> Iterator[dict[str, int]]:
    for i in range(n):
        if i == fail_at:
            raise OSError(f"unreadable at {i}")
        yield {"i": i, "infer": i % 3 != 0}  # every third item needs no inference


def test_order_kept_and_batches_formed_by_count_only() -> None:
    batches: list[list[int]] = []
    seen: list[int] = []
    threads: set[str] = set()

    def infer(batch: list[dict[str, int]]) -> None:
        threads.add(threading.current_thread().name)
        batches.append([x["i"] for x in batch])
        for x in batch:
            x["out"] = 10 * x["i"]

    def sink(x: dict[str, int]) -> None:
        seen.append(x["i"])
        assert ("out" in x) == bool(x["infer"])

    run_ordered(_items(20), lambda x: bool(x["infer"]), infer, sink, max_batch=4, depth=1)
    assert seen == list(range(20))
    wanted = [i for i in range(20) if i % 3]
    assert batches == [wanted[k:k + 4] for k in range(0, len(wanted), 4)]
    assert threads == {"bag-infer"}


def test_reader_error_after_everything_before_it_is_written() -> None:
    seen: list[int] = []

    def infer(batch: list[dict[str, int]]) -> None:
        return None

    with pytest.raises(OSError, match="unreadable at 7"):
        run_ordered(_items(20, fail_at=7), lambda x: True, infer,
                    lambda x: seen.append(x["i"]), max_batch=3)
    assert seen == list(range(7))


def test_sink_error_stops_the_threads_and_propagates() -> None:
    def sink(x: dict[str, int]) -> None:
        if x["i"] == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ordered(_items(10_000), lambda x: True, lambda b: None, sink, max_batch=2)
    assert not [t for t in threading.enumerate() if t.name in ("bag-read", "bag-infer")]


def test_inference_error_propagates() -> None:
    def infer(batch: list[dict[str, int]]) -> None:
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        run_ordered(_items(10), lambda x: True, infer, lambda x: None, max_batch=2)
    with pytest.raises(ValueError, match="max_batch"):
        run_ordered(_items(1), lambda x: True, infer, lambda x: None, max_batch=0)
