"""The standard qos_overrides.* parameters change the node's QoS, seen over real DDS.

Started with ``qos_overrides./qos/image.subscription.reliability:=reliable`` (the
default is best effort) and ``qos_overrides./qos/mask.publisher.reliability:=
best_effort`` (the default is reliable), the endpoints that discovery reports for
those topics carry the overridden policies, while topics without an override keep
the defaults. Before the node passed ``QoSOverridingOptions`` the override had no
effect (the subscription stayed BEST_EFFORT).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rclpy.qos import ReliabilityPolicy
from ros_helpers import Client, node_process, wait_for

pytestmark = pytest.mark.timeout(120)

REMAPS = ("image:=/qos/image", "camera_info:=/qos/camera_info", "mask:=/qos/mask",
          "overlay:=/qos/overlay", "people_cloud:=/qos/people_cloud")


def _endpoint(client: Client, topic: str, kind: str) -> Any:
    node = client.node
    infos = (node.get_subscriptions_info_by_topic(topic) if kind == "subscription"
             else node.get_publishers_info_by_topic(topic))
    mine = [i for i in infos if i.node_name == "seg_qos"]
    return mine[0] if mine else None


def test_qos_overrides_reach_the_dds_endpoints(tmp_path: Path) -> None:
    client = Client("qos_test_client")
    try:
        with node_process(tmp_path, "qos_overrides./qos/image.subscription.reliability:=reliable",
                          "qos_overrides./qos/mask.publisher.reliability:=best_effort",
                          "qos_overrides./qos/people_cloud.publisher.depth:=5",
                          name="seg_qos", remaps=REMAPS) as proc:
            wanted = [("/qos/image", "subscription"), ("/qos/camera_info", "subscription"),
                      ("/qos/mask", "publisher"), ("/qos/overlay", "publisher"),
                      ("/qos/people_cloud", "publisher")]
            wait_for(lambda: all(_endpoint(client, t, k) for t, k in wanted), 60,
                     "the node's endpoints in discovery")
            got = {t: _endpoint(client, t, k).qos_profile.reliability for t, k in wanted}
            assert got == {
                "/qos/image": ReliabilityPolicy.RELIABLE,  # overridden (default best effort)
                "/qos/camera_info": ReliabilityPolicy.BEST_EFFORT,  # default
                "/qos/mask": ReliabilityPolicy.BEST_EFFORT,  # overridden (default reliable)
                "/qos/overlay": ReliabilityPolicy.RELIABLE,  # default
                "/qos/people_cloud": ReliabilityPolicy.RELIABLE,
            }
            assert proc.poll() is None
        log = proc.log_path.read_text()  # type: ignore[attr-defined]
        assert proc.returncode == 0, log
        assert "Traceback" not in log
    finally:
        client.close()
