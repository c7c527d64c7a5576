"""A bounded, ordered three-stage pipeline: read + decode | batch inference | write.

:func:`run_ordered` runs ``source`` in a reader thread, the batch step in an
inference thread and ``sink`` in the calling thread, joined by bounded queues (so
memory stays flat however long the bag is). Order is kept end to end: ``sink``
sees every item in source order. Batches are formed by count only (the next
``max_batch`` items that want inference, never "whatever has arrived"), so the
batches, and with them the outputs, do not depend on timing.

ONNX Runtime, OpenCV's JPEG/PNG decoder and file writes release the GIL, so the
three stages overlap on a multi-core machine.

Errors: an exception in the reader ends the stream *after* everything read before
it has gone through inference and been written (nothing produced is lost), then
re-raises in the caller; an exception in the batch step or in ``sink`` stops all
three and re-raises. Ctrl-C in the caller stops the threads and propagates.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Final, Generic, TypeVar

__all__ = ["DEFAULT_DEPTH", "run_ordered"]

T = TypeVar("T")
DEFAULT_DEPTH: Final = 4  # items in flight per queue, on top of one batch
_POLL_S: Final = 0.1


class _End:
    """End of stream; ``error`` is the reader's exception, if it stopped on one."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class _Channel(Generic[T]):
    """A bounded queue whose blocking calls give up when ``stop`` is set."""

    def __init__(self, depth: int, stop: threading.Event) -> None:
        self._q: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
        self._stop = stop

    def put(self, item: T | _End) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> T | _End:
        while not self._stop.is_set():
            try:
                return self._q.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        return _End()


def run_ordered(source: Iterable[T], wants_batch: Callable[[T], bool],
                infer: Callable[[list[T]], None], sink: Callable[[T], None],
                max_batch: int, depth: int = DEFAULT_DEPTH) -> None:
    """Feed ``source`` through ``infer`` (in batches of up to ``max_batch`` items for which
    ``wants_batch`` is true; it fills them in place) into ``sink``, in order.

    ``source`` is iterated in a reader thread and ``infer`` runs in an inference thread;
    ``sink`` runs in the calling thread (a SQLite bag writer must stay in the thread
    that opened it; a SQLite reader must be opened by the iteration itself)."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    stop = threading.Event()
    decoded: _Channel[T] = _Channel(depth + max_batch, stop)
    done: _Channel[T] = _Channel(depth + max_batch, stop)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for item in source:
                if not decoded.put(item):
                    return
        except BaseException as err:
            decoded.put(_End(err))
            return
        decoded.put(_End())

    def batch_step() -> None:
        try:
            pending: list[T] = []
            batch: list[T] = []
            while not isinstance(item := decoded.get(), _End):
                pending.append(item)
                if wants_batch(item):
                    batch.append(item)
                if len(batch) == max_batch:
                    _flush(infer, batch, pending, done)
                    batch, pending = [], []
            if not stop.is_set():
                _flush(infer, batch, pending, done)
            done.put(item)  # the reader's end, with its error if any
        except BaseException as err:
            errors.append(err)
            stop.set()

    threads = [threading.Thread(target=read, name="bag-read", daemon=True),
               threading.Thread(target=batch_step, name="bag-infer", daemon=True)]
    for t in threads:
        t.start()
    end: _End | None = None
    try:
        while not isinstance(got := done.get(), _End):
            sink(got)
        end = got
    finally:
        stop.set()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    if end.error is not None:
        raise end.error


def _flush(infer: Callable[[list[T]], None], batch: list[T], pending: list[T],
           done: _Channel[T]) -> None:
    if batch:
        infer(batch)
    for item in pending:
        if not done.put(item):
            return
