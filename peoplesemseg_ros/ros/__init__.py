"""rclpy glue of the node: lifecycle node, cameras + mailboxes, parameters, diagnostics.

All the node's rclpy code lives here; the data path it drives is :mod:`peoplesemseg_ros.core`
and :mod:`peoplesemseg_ros.occupancy`.
"""

__all__: list[str] = []
