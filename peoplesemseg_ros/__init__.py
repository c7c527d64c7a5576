"""People semantic segmentation for ROS 2 robots (see README.md for the layout).

Subpackages by role: ``core`` (ROS-free data path), ``occupancy`` (flat-floor
person occupancy), ``ros`` (the node's rclpy glue), ``bag`` (rosbag2 tools),
``cli`` (the ``peoplesemseg`` command), ``bench``, ``testing``, ``training``;
``params`` is the one parameter schema.
"""

__all__: list[str] = []
