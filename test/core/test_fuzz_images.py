"""Fuzzing the conversion path with hypothesis: sensor_msgs Image fields and compressed payloads.

Whatever a camera driver (or an attacker) puts in a message, image_to_rgb /
compressed_to_rgb return an ``HxWx3`` uint8 image within the pixel cap or raise
ImageConversionError with a known reason -- nothing else, and never a decode of
a size the cap refuses. Runs derandomized with a bounded number of examples and
no example database, so CI is reproducible; the rejects seen are printed by
reason (``pytest -s``) for the reliability report.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image

from peoplesemseg_ros.core.images import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    check_compressed,
    check_image,
    compressed_to_rgb,
    fill_image,
    image_to_rgb,
)
from peoplesemseg_ros.testing import faults

REASONS = {"unknown_encoding", "zero_size", "bad_step", "bad_length", "too_large",
           "unsupported_format", "corrupt"}
CAP = 64 * 64  # a small cap so the fuzzer reaches it often
FUZZ = settings(max_examples=int(os.environ.get("PEOPLESEMSEG_FUZZ_EXAMPLES", "400")),
                deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

SEEN: dict[str, Counter[str]] = {"image": Counter(), "compressed": Counter()}  # + node_*

_BPP = {"rgb8": 3, "bgr8": 3, "8UC3": 3, "rgba8": 4, "bgra8": 4, "mono16": 2, "16UC1": 2,
        "yuv422": 2, "uyvy": 2, "yuv422_yuy2": 2, "yuyv": 2, "bayer_rggb16": 2,
        "bayer_bggr16": 2, "bayer_gbrg16": 2, "bayer_grbg16": 2}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    for path, counts in SEEN.items():
        total = sum(counts.values())
        print(f"\nfuzz {path}: {total} examples, " + ", ".join(
            f"{k}={v}" for k, v in sorted(counts.items())))


def _check(path: str, convert: Callable[[], np.ndarray], declared: tuple[int, int] | None) -> str:
    """Run one conversion; returns "ok" or the reject reason (and records it)."""
    try:
        out = convert()
    except ImageConversionError as exc:
        assert exc.reason in REASONS, f"unknown reason {exc.reason!r}"
        assert str(exc).startswith(exc.reason)
        SEEN[path][exc.reason] += 1
        return exc.reason
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert out.ndim == 3 and out.shape[2] == 3 and out.flags.c_contiguous
    assert out.shape[0] * out.shape[1] <= CAP
    if declared is not None:
        assert out.shape[:2] == declared
    SEEN[path]["ok"] += 1
    return "ok"


# --- sensor_msgs/Image -------------------------------------------------------------------------

_U32 = st.one_of(st.integers(0, 80), st.integers(0, 2**32 - 1))


@st.composite
def _images(draw: st.DrawFn) -> Image:
    m = Image()
    consistent = draw(st.booleans())
    if consistent:  # mostly-valid messages: reach the pixel paths, then perturb one field
        m.encoding = draw(st.sampled_from(SUPPORTED_ENCODINGS))
        m.width = draw(st.integers(1, 80))
        m.height = draw(st.integers(1, 80))
        row = m.width * _BPP.get(m.encoding, 1)
        m.step = row + draw(st.sampled_from([0, 0, 0, 1, 3, -1]) if row > 1 else st.just(0))
        n = m.step * m.height + draw(st.sampled_from([0, 0, 0, 0, 1, -1, -m.step]))
        m.data = draw(st.binary(min_size=max(n, 0), max_size=max(n, 0)))
    else:
        m.encoding = draw(st.one_of(st.sampled_from(SUPPORTED_ENCODINGS), st.text(max_size=12)))
        m.width = draw(_U32)
        m.height = draw(_U32)
        m.step = draw(_U32)
        m.data = draw(st.binary(max_size=4096))
    m.is_bigendian = draw(st.integers(0, 255))
    return m


@FUZZ
@given(_images())
def test_fuzz_image_fields(msg: Image) -> None:
    declared = (int(msg.height), int(msg.width))
    reason = _check("image", lambda: image_to_rgb(msg, max_pixels=CAP), declared)
    if msg.encoding not in SUPPORTED_ENCODINGS:
        assert reason == "unknown_encoding"
    elif msg.width * msg.height > CAP:
        assert reason == "too_large"
    elif reason == "ok":
        assert len(msg.data) == msg.step * msg.height
    # the node's O(1) callback-side check agrees with the full conversion
    try:
        check_image(msg, max_pixels=CAP)
        quick = "ok"
    except ImageConversionError as exc:
        quick = exc.reason
    assert quick == reason


# --- sensor_msgs/CompressedImage ---------------------------------------------------------------

_SMALL = faults.good_rgb(24, 16, 3)
_JPEG = faults.jpeg_bytes(_SMALL)
_PNG = faults.png_bytes(_SMALL)


@st.composite
def _payloads(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["random", "jpeg_cut", "png_cut", "jpeg_flip", "png_flip",
                                 "png_header", "jpeg_header", "good"]))
    fmt = draw(st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed bgr8", "", "tiff",
                                "16UC1; compressedDepth"]))
    if kind == "random":
        return fmt, draw(st.binary(max_size=2048))
    if kind in ("jpeg_cut", "png_cut"):
        src = _JPEG if kind == "jpeg_cut" else _PNG
        return fmt, src[:draw(st.integers(0, len(src)))]
    if kind in ("jpeg_flip", "png_flip"):
        flipped = bytearray(_JPEG if kind == "jpeg_flip" else _PNG)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(flipped) - 1))
            flipped[i] = draw(st.integers(0, 255))
        return fmt, bytes(flipped)
    if kind == "png_header":
        w, h = draw(st.integers(0, 200_000)), draw(st.integers(0, 200_000))
        return fmt, faults.png_declaring(w, h, draw(st.binary(max_size=64)))
    if kind == "jpeg_header":
        return fmt, faults.jpeg_declaring(draw(st.integers(0, 65535)),
                                          draw(st.integers(0, 65535)))
    return fmt, draw(st.sampled_from([_JPEG, _PNG]))


@FUZZ
@given(_payloads())
def test_fuzz_compressed_payloads(payload: tuple[str, bytes]) -> None:
    fmt, data = payload
    m = CompressedImage()
    m.format = fmt
    m.data = data
    reason = _check("compressed", lambda: compressed_to_rgb(m, max_pixels=CAP), None)
    if "compresseddepth" in fmt.lower() or fmt == "tiff":
        assert reason == "unsupported_format"
    elif not data:
        assert reason == "zero_size"
    try:
        check_compressed(m, max_pixels=CAP)
        quick = "ok"
    except ImageConversionError as exc:
        quick = exc.reason
    assert quick == reason or (quick == "ok" and reason in ("ok", "corrupt", "too_large"))


@pytest.mark.parametrize(("make", "size"), [
    (faults.png_declaring, (100_000, 100_000)), (faults.png_declaring, (5000, 4000)),
    (faults.jpeg_declaring, (65_000, 65_000)), (faults.jpeg_declaring, (5000, 4000)),
])
def test_huge_declared_size_is_too_large(make: Callable[[int, int], bytes],
                                         size: tuple[int, int]) -> None:
    m = CompressedImage(format="png" if make is faults.png_declaring else "jpeg")
    m.data = make(*size)
    with pytest.raises(ImageConversionError) as info:
        compressed_to_rgb(m, max_pixels=4096 * 4096 if size[0] < 10_000 else 1 << 30)
    assert info.value.reason == "too_large", info.value
    assert f"{size[0]}x{size[1]}" in str(info.value)


def test_png_bomb_is_refused_before_decoding() -> None:
    """A valid 8000x8000 PNG (a few hundred KiB, 192 MB decoded) under a 64 MiB address-space
    headroom: it must be refused from its header, never decoded (a decode would fail to
    allocate and come back as corrupt, or kill the child)."""
    code = textwrap.dedent("""
        import resource, sys
        from sensor_msgs.msg import CompressedImage
        from peoplesemseg_ros.testing import faults
        from peoplesemseg_ros.core.images import ImageConversionError, compressed_to_rgb
        m = CompressedImage(format="png")
        m.data = faults.png_bomb(8000, 8000)
        with open("/proc/self/statm") as fh:
            vm = int(fh.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (vm + (64 << 20), resource.RLIM_INFINITY))
        try:
            compressed_to_rgb(m)
        except ImageConversionError as exc:
            print("REASON", exc.reason)
            sys.exit(0)
        print("DECODED")
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REASON too_large" in proc.stdout, proc.stdout + proc.stderr[-2000:]


@pytest.mark.parametrize("reason", faults.BAD_RAW_REASONS)
def test_fault_frames_hit_their_reason(reason: str) -> None:
    msg = fill_image(Image(), faults.bad_raw(reason))
    with pytest.raises(ImageConversionError) as info:
        image_to_rgb(msg)
    assert info.value.reason == reason


def test_good_frame_round_trips() -> None:
    frame = faults.good_raw(40, 30, 5)
    out = image_to_rgb(fill_image(Image(), frame))
    np.testing.assert_array_equal(out, faults.good_rgb(40, 30, 5))
    assert 0 < faults.red_truth(out).sum() < 40 * 30


# --- the same fuzz through the live node --------------------------------------------------------

NODE_EXAMPLES = int(os.environ.get("PEOPLESEMSEG_NODE_FUZZ_EXAMPLES", "150"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_fuzzed_messages_never_take_the_node_down(tmp_path: Path, transport: str) -> None:
    """Every fuzzed message is received and ends up exactly once as rejected (by reason),
    published, or dropped (overwritten by the next one); no processing error, node alive."""
    from tiny_models import make_model

    from peoplesemseg_ros.testing.live import DiagnosticsWatcher, NodeProcess, Peer, qos, wait_until

    model = make_model(tmp_path / "m.onnx", height=32, width=48)
    ns = f"/fuzz_{transport}_{os.getpid()}"
    with NodeProcess(ns, {"model_path": str(model), "qos.reliability": "reliable",
                          "qos.depth": 100, "input_transport": transport,
                          "max_image_pixels": CAP, "input_timeout": 0.0,
                          "min_output_ratio": 0.0}) as node, Peer(f"fuzz_{os.getpid()}") as peer:
        diag = DiagnosticsWatcher(peer, node.fqn)
        msg_type = Image if transport == "raw" else CompressedImage
        topic = f"{ns}/image" if transport == "raw" else f"{ns}/image/compressed"
        pub = peer.node.create_publisher(msg_type, topic, qos(True, 100))
        diag.wait_for(lambda s: s.values.get("state") == "active", 30)
        assert wait_until(lambda: pub.get_subscription_count() > 0, 30)
        sent: list[int] = [0]
        strategy = _images() if transport == "raw" else _payloads()

        @settings(FUZZ, max_examples=NODE_EXAMPLES)
        @given(strategy)
        def publish(example: Image | tuple[str, bytes]) -> None:
            if isinstance(example, tuple):
                m = CompressedImage(format=example[0])
                m.data = example[1]
                pub.publish(m)
            else:
                pub.publish(example)
            sent[0] += 1

        publish()
        n = sent[0]
        st = diag.wait_for(lambda s: s.get_int("frames_in") >= n and
                           sum(s.prefixed("rejected.").values()) + s.get_int("frames_out") +
                           s.get_int("dropped_frames") >= n, 30)
        rejected = st.prefixed("rejected.")
        assert st.get_int("frames_in") == n
        assert sum(rejected.values()) + st.get_int("frames_out") + \
            st.get_int("dropped_frames") == n
        assert set(rejected) <= REASONS and st.prefixed("errors.") == {}
        SEEN[f"node_{transport}"] = Counter({**rejected, "ok": st.get_int("frames_out"),
                                             "dropped": st.get_int("dropped_frames")})
        assert node.alive()
        assert node.stop() == 0
        assert "Traceback" not in node.output()
