"""Person occupancy on a flat floor (ROS-free).

:mod:`~peoplesemseg_ros.occupancy.camera_model` (intrinsics, distortion, pose),
:mod:`~peoplesemseg_ros.occupancy.mapper` (mask -> foot points -> grid and scan),
:mod:`~peoplesemseg_ros.occupancy.msgs` (OccupancyGrid / LaserScan filling),
:mod:`~peoplesemseg_ros.occupancy.stage` (the one stage the node and bag processing use)
and :mod:`~peoplesemseg_ros.occupancy.scene` (synthetic scenes for tests and figures).
Nothing here imports rclpy.
"""

__all__: list[str] = []
