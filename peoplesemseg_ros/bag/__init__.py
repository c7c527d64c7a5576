"""rosbag2 tools behind ``peoplesemseg bag``: offline processing, play, record, eval.

``io``, ``process`` and ``evaluate`` use rosbags only (no DDS, no rclpy);
``play`` and ``record`` use rclpy with raw CDR publishers and subscriptions.
"""

__all__: list[str] = []
