"""rosbag2 reading and writing helpers shared by the bag tools (rosbags, no rclpy).

Errors a user can cause (missing bag, bag still being written, truncated file,
unknown topic, existing output) are raised as :class:`BagError` with a message
that says what is wrong and what to do; callers print it and exit non-zero.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rosbags.interfaces import Connection, ConnectionExtRosbag2, Qos
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

__all__ = [
    "CAMERA_INFO_TYPE",
    "COMPRESSED_TYPE",
    "IMAGE_TYPE",
    "IMAGE_TYPES",
    "OUTPUT_IMAGE_NAMES",
    "STORAGES",
    "BagError",
    "ImageTopic",
    "camera_namespace",
    "connection_qos",
    "copy_connection",
    "create_writer",
    "header_stamp_ns",
    "image_topics",
    "join_topic",
    "open_reader",
    "typestore",
]

IMAGE_TYPE: Final = "sensor_msgs/msg/Image"
COMPRESSED_TYPE: Final = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES: Final = (IMAGE_TYPE, COMPRESSED_TYPE)
CAMERA_INFO_TYPE: Final = "sensor_msgs/msg/CameraInfo"
OUTPUT_IMAGE_NAMES: Final = ("mask", "overlay")
STORAGES: Final = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
WRITER_VERSION: Final = 9

_TYPESTORE: Typestore | None = None


class BagError(RuntimeError):
    """A bag that cannot be used as asked; the message says why and what to do."""


def typestore() -> Typestore:
    """The newest ROS 2 typestore this rosbags version ships (Kilted, else its LATEST alias)."""
    global _TYPESTORE
    if _TYPESTORE is None:
        store = getattr(Stores, "ROS2_KILTED", Stores.LATEST)
        _TYPESTORE = get_typestore(store)
    return _TYPESTORE


@contextmanager
def open_reader(path: Path) -> Iterator[Reader]:
    """Open a rosbag2 directory (or a bare .mcap / .db3 file) with a clear error on failure."""
    if not path.exists():
        raise BagError(f"bag not found: {path}")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        raise BagError(
            f"{path} has no metadata.yaml: the bag is still being written, or its recorder was "
            "killed before closing it. Wait for the recorder to stop; for a crashed recording "
            "run `ros2 bag reindex` on it (or read its .mcap file directly if it has a footer).")
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, OSError, KeyError, ValueError, sqlite3.DatabaseError) as err:
        raise BagError(
            f"cannot open bag {path}: {err} (is it still being written, truncated or not a "
            "rosbag2?)") from err
    try:
        yield reader
    finally:
        reader.close()


@dataclass(frozen=True)
class ImageTopic:
    """An image topic of a bag and the camera namespace its outputs go to."""

    connection: Connection
    namespace: str

    @property
    def topic(self) -> str:
        return self.connection.topic

    @property
    def compressed(self) -> bool:
        return self.connection.msgtype == COMPRESSED_TYPE


def camera_namespace(topic: str, msgtype: str) -> str:
    """Namespace a camera's outputs go to: the image topic's parent.

    ``/front/image`` -> ``/front``; ``/front/image/compressed`` (CompressedImage, the
    image_transport suffix is dropped first) -> ``/front``; ``/image`` -> ``""`` (root).
    """
    parts = [p for p in topic.split("/") if p]
    if msgtype == COMPRESSED_TYPE and len(parts) > 1 and parts[-1] == "compressed":
        parts = parts[:-1]
    return "/" + "/".join(parts[:-1]) if len(parts) > 1 else ""


def join_topic(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else f"/{name}"


def image_topics(connections: Sequence[Connection], wanted: Sequence[str]) -> list[ImageTopic]:
    """The image topics to process: ``wanted`` (checked) or, when empty, every image topic
    except ``*/mask`` and ``*/overlay`` (outputs of an earlier run)."""
    by_topic: dict[str, Connection] = {}
    for conn in connections:
        by_topic.setdefault(conn.topic, conn)
    if wanted:
        chosen: list[Connection] = []
        for name in wanted:
            found = by_topic.get(name)
            if found is None:
                raise BagError(f"topic {name} is not in the bag; it has: "
                               f"{', '.join(sorted(by_topic)) or '(no topics)'}")
            if found.msgtype not in IMAGE_TYPES:
                raise BagError(f"topic {name} has type {found.msgtype}; only "
                               f"{' and '.join(IMAGE_TYPES)} can be segmented")
            chosen.append(found)
    else:
        # Our own outputs (<ns>/mask, <ns>/overlay) are images too, never inputs.
        chosen = [c for c in by_topic.values() if c.msgtype in IMAGE_TYPES
                  and c.topic.rsplit("/", 1)[-1] not in OUTPUT_IMAGE_NAMES]
        if not chosen:
            raise BagError("the bag has no sensor_msgs/Image or CompressedImage topic; its topics: "
                           + ", ".join(f"{t} ({c.msgtype})" for t, c in sorted(by_topic.items())))
    result = [ImageTopic(c, camera_namespace(c.topic, c.msgtype)) for c in chosen]
    namespaces = [t.namespace for t in result]
    for t in result:
        if namespaces.count(t.namespace) > 1:
            raise BagError(f"two image topics share the output namespace {t.namespace or '/'!r} "
                           f"({', '.join(x.topic for x in result if x.namespace == t.namespace)});"
                           " choose one with --image-topic")
    return sorted(result, key=lambda t: t.topic)


def connection_qos(conn: Connection) -> list[Qos]:
    return list(conn.ext.offered_qos_profiles) if isinstance(conn.ext, ConnectionExtRosbag2) else []


def copy_connection(writer: Writer, conn: Connection, store: Typestore) -> Connection:
    """Add ``conn`` (topic, type, definition, hash, QoS) to ``writer`` for raw CDR copies.

    The message definition comes from the input bag, so types this package does not
    know (custom messages) pass through unchanged.
    """
    msgdef, digest = conn.msgdef.data, conn.digest
    if not (msgdef and digest):
        if conn.msgtype not in store.types:
            raise BagError(f"topic {conn.topic}: type {conn.msgtype} has no message definition "
                           "or hash in the bag and is unknown here; exclude it")
        msgdef = store.generate_msgdef(conn.msgtype, ros_version=2)[0]
        digest = store.hash_rihs01(conn.msgtype)
    fmt = conn.ext.serialization_format if isinstance(conn.ext, ConnectionExtRosbag2) else "cdr"
    return writer.add_connection(conn.topic, conn.msgtype, msgdef=msgdef, rihs01=digest,
                                 serialization_format=fmt,
                                 offered_qos_profiles=connection_qos(conn))


def create_writer(path: Path, storage: str) -> Writer:
    """An opened rosbag2 writer; refuses to touch an existing path."""
    if path.exists():
        raise BagError(f"output {path} exists already; not overwriting (remove it or pick "
                       "another name)")
    if storage not in STORAGES:
        raise BagError(f"unknown storage {storage!r}; use one of {', '.join(STORAGES)}")
    if not path.parent.is_dir():
        raise BagError(f"output folder {path.parent} does not exist")
    try:
        writer = Writer(path, version=WRITER_VERSION, storage_plugin=STORAGES[storage])
        writer.open()
    except (WriterError, OSError) as err:
        raise BagError(f"cannot create bag {path}: {err}") from err
    return writer


def header_stamp_ns(msg: Any) -> int:
    """``msg.header.stamp`` of a deserialized message, in nanoseconds."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
