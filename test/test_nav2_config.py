"""config/nav2_people.yaml: every key is one Nav2 documents, every topic one this node publishes.

The key lists below are Nav2's, for **Nav2 Jazzy (1.3.x) and Kilted (1.4.x)**: the
configuration guide at docs.nav2.org (collision monitor node, obstacle layer), checked
against ros-navigation/navigation2 sources: nav2_collision_monitor/src/source.cpp,
pointcloud.cpp, scan.cpp, polygon.cpp, circle.cpp, collision_monitor_node.cpp and
nav2_costmap_2d/plugins/obstacle_layer.cpp. Only keys both releases accept are listed (no
Humble-only ``max_points``, no Kilted-only ``transport_type``). A key Nav2 does not declare
is silently ignored by Nav2, which is why this test exists.

The topics are checked over real DDS: the node started in the launch default namespace
``/camera`` must publish each named topic with the message type the consuming source reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ros_helpers import Client, wait_for
from tiny_models import make_model

from peoplesemseg_ros.occupancy.cloud import CloudConfig, column_points
from peoplesemseg_ros.params import SPECS
from peoplesemseg_ros.testing.live import NodeProcess

NAV2_VERSION = "Nav2 Jazzy 1.3 / Kilted 1.4 (docs.nav2.org configuration guide)"

COLLISION_MONITOR_KEYS = frozenset({
    "base_frame_id", "odom_frame_id", "cmd_vel_in_topic", "cmd_vel_out_topic", "state_topic",
    "transform_tolerance", "source_timeout", "base_shift_correction", "stop_pub_timeout",
    "enable_stamped_cmd_vel", "use_realtime_priority", "polygons", "observation_sources",
})
POLYGON_KEYS = frozenset({
    "type", "points", "radius", "action_type", "min_points", "slowdown_ratio", "linear_limit",
    "angular_limit", "footprint_topic", "time_before_collision", "simulation_time_step",
    "visualize", "polygon_pub_topic", "polygon_sub_topic", "enabled",
    "polygon_subscribe_transient_local", "sources_names",
})
POLYGON_TYPES = frozenset({"polygon", "circle"})
ACTION_TYPES = frozenset({"stop", "slowdown", "limit", "approach", "none"})
CM_SOURCE_KEYS = {
    "scan": frozenset({"type", "topic", "enabled", "source_timeout"}),
    "pointcloud": frozenset({"type", "topic", "enabled", "source_timeout", "min_height",
                             "max_height", "use_global_height"}),
}
OBSTACLE_LAYER_KEYS = frozenset({
    "plugin", "enabled", "footprint_clearing_enabled", "min_obstacle_height",
    "max_obstacle_height", "combination_method", "observation_sources",
})
OBSTACLE_SOURCE_KEYS = frozenset({
    "topic", "sensor_frame", "observation_persistence", "expected_update_rate", "data_type",
    "min_obstacle_height", "max_obstacle_height", "inf_is_valid", "marking", "clearing",
    "obstacle_max_range", "obstacle_min_range", "raytrace_max_range", "raytrace_min_range",
})
OBSTACLE_PLUGIN = "nav2_costmap_2d::ObstacleLayer"
# What each consumer subscribes to, as the ROS type name discovery reports.
CM_SOURCE_MSG = {"scan": "sensor_msgs/msg/LaserScan", "pointcloud": "sensor_msgs/msg/PointCloud2"}
DATA_TYPE_MSG = {"LaserScan": "sensor_msgs/msg/LaserScan",
                 "PointCloud2": "sensor_msgs/msg/PointCloud2"}

CONFIG = Path(__file__).resolve().parents[1] / "config" / "nav2_people.yaml"
NAMESPACE = "/camera"  # launch/peoplesemseg.launch.py's default camera


def _load() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert set(doc) == {"collision_monitor", "local_costmap", "global_costmap"}, set(doc)
    return doc


def _collision_monitor(doc: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = doc["collision_monitor"]["ros__parameters"]
    return params


def _layers(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for costmap in ("local_costmap", "global_costmap"):
        params = doc[costmap][costmap]["ros__parameters"]
        for name, layer in params.items():
            assert isinstance(layer, dict) and layer.get("plugin") == OBSTACLE_PLUGIN, \
                f"{costmap}.{name}: only {OBSTACLE_PLUGIN} layers are shipped"
            out.append((f"{costmap}.{name}", layer))
    return out


def _topics(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(where, topic, ROS message type the consumer expects) for every source."""
    out = []
    cm = _collision_monitor(doc)
    for name in cm["observation_sources"]:
        src = cm[name]
        out.append((f"collision_monitor.{name}", src["topic"], CM_SOURCE_MSG[src["type"]]))
    for where, layer in _layers(doc):
        for name in layer["observation_sources"].split():
            src = layer[name]
            out.append((f"{where}.{name}", src["topic"], DATA_TYPE_MSG[src["data_type"]]))
    return out


def test_collision_monitor_keys_are_nav2s() -> None:
    cm = _collision_monitor(_load())
    polygons, sources = list(cm["polygons"]), list(cm["observation_sources"])
    assert polygons and sources
    unknown = set(cm) - COLLISION_MONITOR_KEYS - set(polygons) - set(sources)
    assert not unknown, f"not {NAV2_VERSION} collision_monitor keys: {sorted(unknown)}"
    for name in polygons:
        poly = cm[name]
        assert set(poly) <= POLYGON_KEYS, (name, sorted(set(poly) - POLYGON_KEYS))
        assert poly["type"] in POLYGON_TYPES and poly["action_type"] in ACTION_TYPES, name
        assert ("radius" in poly) == (poly["type"] == "circle"), name
    for name in sources:
        src = cm[name]
        allowed = CM_SOURCE_KEYS[src["type"]]
        assert set(src) <= allowed, (name, sorted(set(src) - allowed))
    assert {cm[s]["type"] for s in sources} == {"scan", "pointcloud"}


def test_costmap_layer_keys_are_nav2s() -> None:
    layers = _layers(_load())
    assert {w.split(".")[0] for w, _ in layers} == {"local_costmap", "global_costmap"}
    for where, layer in layers:
        names = layer["observation_sources"].split()  # Nav2 wants one space-separated string
        assert names, where
        unknown = set(layer) - OBSTACLE_LAYER_KEYS - set(names)
        assert not unknown, f"{where}: not {NAV2_VERSION} obstacle layer keys: {sorted(unknown)}"
        for name in names:
            src = layer[name]
            assert set(src) <= OBSTACLE_SOURCE_KEYS, (where, name,
                                                      sorted(set(src) - OBSTACLE_SOURCE_KEYS))
            assert src["data_type"] in DATA_TYPE_MSG, (where, name)
            for key in ("marking", "clearing", "expected_update_rate", "observation_persistence"):
                assert key in src, f"{where}.{name}: set {key} explicitly"


def test_scan_sources_clear_with_inf_and_do_not_mark_it() -> None:
    """inf beams (nobody) turn into range_max - 0.1 mm with inf_is_valid: they must clear
    (raytrace reaches them) but not mark (obstacle_max_range stops short of range_max)."""
    range_max = SPECS["scan.range_max"].default
    scans = [(w, layer[n]) for w, layer in _layers(_load())
             for n in layer["observation_sources"].split() if layer[n]["data_type"] == "LaserScan"]
    assert scans
    for where, src in scans:
        assert src["inf_is_valid"] is True and src["clearing"] is True, where
        assert src["obstacle_max_range"] < range_max <= src["raytrace_max_range"], where


def test_height_filters_keep_a_column_of_the_cloud() -> None:
    """One person's column, built by the node's own code, passes every height filter."""
    doc = _load()
    cfg = CloudConfig(min_height=SPECS["cloud.min_height"].default,
                      max_height=SPECS["cloud.max_height"].default,
                      spacing=SPECS["cloud.spacing"].default)
    z = column_points(np.array([[2.0, 0.0]]), cfg)[:, 2].astype(np.float64)
    cm = _collision_monitor(doc)
    for name in cm["observation_sources"]:
        src = cm[name]
        if src["type"] != "pointcloud":
            continue
        kept = int(((z >= src["min_height"]) & (z <= src["max_height"])).sum())
        need = max(cm[p]["min_points"] for p in cm["polygons"])
        assert kept >= need, f"{name}: one person leaves {kept} points, polygons need {need}"
    for where, layer in _layers(doc):
        for name in layer["observation_sources"].split():
            src = layer[name]
            if src["data_type"] != "PointCloud2":
                continue
            lo = max(src["min_obstacle_height"], layer["min_obstacle_height"])
            hi = min(src["max_obstacle_height"], layer["max_obstacle_height"])
            assert ((z >= lo) & (z <= hi)).any(), f"{where}.{name} drops the whole column"


@pytest.mark.timeout(120)
def test_every_topic_is_published_by_the_node_with_that_type(tmp_path: Path) -> None:
    topics = _topics(_load())
    assert {t for _, t, _ in topics} == {f"{NAMESPACE}/people_scan", f"{NAMESPACE}/people_cloud"}
    model = make_model(tmp_path / "m.onnx", height=48, width=64)
    client = Client("nav2_config_client")
    try:
        with NodeProcess(NAMESPACE, {"model_path": str(model)}) as node:
            def ours(topic: str) -> list[Any]:
                return [i for i in client.node.get_publishers_info_by_topic(topic)
                        if (i.node_namespace, i.node_name) == (NAMESPACE, "peoplesemseg")]

            wait_for(lambda: all(ours(t) for _, t, _ in topics), 60,
                     "the node's people_scan and people_cloud publishers in discovery")
            for where, topic, msg in topics:
                got = {i.topic_type for i in ours(topic)}
                assert got == {msg}, f"{where}: {topic} is published as {got}, Nav2 reads {msg}"
            assert node.alive(), node.output()[-2000:]
    finally:
        client.close()
